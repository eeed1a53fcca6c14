"""Meta-analysis engine whose numbers equal R's metafor.

Modules follow metafor's split: `effect_sizes` (escalc), `tau2` (estimators), `fit` (rma,
rma.mh), `subgroup`, `regression`, `bias` (regtest), `sensitivity` (leave1out, cumul), `batch`
(many pools at once) and `results` (the typed result objects). No I/O happens here.

Names are imported on first use (PEP 562), so `from evidence.meta import rma` loads the pooling
code only, not the regression and bias modules that need statsmodels.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evidence.meta.batch import BatchResult, pool_many
    from evidence.meta.bias import egger_test
    from evidence.meta.effect_sizes import MEASURES, cmicalc, escalc
    from evidence.meta.fit import METHODS, TESTS, rma, rma_mh
    from evidence.meta.regression import meta_regression
    from evidence.meta.results import (
        RATIO_MEASURES,
        Coefficient,
        EffectSizes,
        EggerResult,
        MetaRegressionResult,
        PooledResult,
        SequentialResult,
        SubgroupResult,
    )
    from evidence.meta.sensitivity import cumulative, leave_one_out
    from evidence.meta.subgroup import subgroup_analysis
    from evidence.meta.tau2 import (
        ConvergenceError,
        Tau2Control,
        Tau2Estimate,
        estimate_tau2,
        reml_loglik,
        reml_score,
    )

# public name -> module that defines it; one line each, sorted by name.
_SOURCES: dict[str, str] = {
    "BatchResult": "batch",
    "Coefficient": "results",
    "ConvergenceError": "tau2",
    "EffectSizes": "results",
    "EggerResult": "results",
    "MEASURES": "effect_sizes",
    "METHODS": "fit",
    "MetaRegressionResult": "results",
    "PooledResult": "results",
    "RATIO_MEASURES": "results",
    "SequentialResult": "results",
    "SubgroupResult": "results",
    "TESTS": "fit",
    "Tau2Control": "tau2",
    "Tau2Estimate": "tau2",
    "cmicalc": "effect_sizes",
    "cumulative": "sensitivity",
    "egger_test": "bias",
    "escalc": "effect_sizes",
    "estimate_tau2": "tau2",
    "leave_one_out": "sensitivity",
    "meta_regression": "regression",
    "pool_many": "batch",
    "reml_loglik": "tau2",
    "reml_score": "tau2",
    "rma": "fit",
    "rma_mh": "fit",
    "subgroup_analysis": "subgroup",
}

__all__ = [
    "MEASURES",
    "METHODS",
    "RATIO_MEASURES",
    "TESTS",
    "BatchResult",
    "Coefficient",
    "ConvergenceError",
    "EffectSizes",
    "EggerResult",
    "MetaRegressionResult",
    "PooledResult",
    "SequentialResult",
    "SubgroupResult",
    "Tau2Control",
    "Tau2Estimate",
    "cmicalc",
    "cumulative",
    "egger_test",
    "escalc",
    "estimate_tau2",
    "leave_one_out",
    "meta_regression",
    "pool_many",
    "reml_loglik",
    "reml_score",
    "rma",
    "rma_mh",
    "subgroup_analysis",
]


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:  # a submodule, e.g. evidence.meta.fit, is loaded on first access too
        try:
            return import_module(f"evidence.meta.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"evidence.meta.{name}":
                raise
            raise AttributeError(f"module 'evidence.meta' has no attribute {name!r}") from None
    value = getattr(import_module(f"evidence.meta.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_SOURCES))
