"""Meta-analysis engine whose numbers equal R's metafor.

Modules follow metafor's split between computing effect sizes, fitting and presenting:
`effect_sizes` (escalc), `tau2` (estimators), `fit` (rma, rma.mh), `rare_events` (rma.peto,
rma.glmm), `batch` (many pools at once), `heterogeneity` (confint for tau^2), `diagnostics`
(influence, baujat), `subgroup`, `regression`, `bias` (regtest, Peters' and Harbord's tests),
`rank_correlation` (ranktest), `trim_and_fill` (trimfill), `sensitivity` (leave1out, cumul),
`multivariate` (rma.mv) with `covariance` (shared-control covariance of multi-arm trials), and
`results` (the typed result objects). No I/O happens here.

Names are imported on first use (PEP 562), so `from evidence.meta import rma` loads the pooling
code only, not the regression and bias modules that need statsmodels.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from evidence.meta.batch import BatchResult, pool_many
    from evidence.meta.bias import (
        HarbordResult,
        NotAssessed,
        NotComputable,
        RegtestResult,
        egger_test,
        harbord_test,
        peters_test,
        regtest,
    )
    from evidence.meta.covariance import BlockCovariance, shared_control_covariance
    from evidence.meta.diagnostics import BaujatPoints, InfluenceResult, baujat, influence
    from evidence.meta.effect_sizes import MEASURES, ExtremeValueError, cmicalc, escalc, ipft_hm
    from evidence.meta.fit import METHODS, PI_TYPES, TESTS, rma, rma_mh
    from evidence.meta.heterogeneity import Tau2Interval, confint_tau2
    from evidence.meta.multivariate import MultivariateResult, rma_mv
    from evidence.meta.rank_correlation import RanktestResult, ranktest
    from evidence.meta.rare_events import GlmmResult, rma_glmm, rma_peto
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
    from evidence.meta.trim_and_fill import TrimFillResult, trimfill

# public name -> module that defines it; one line each, sorted by name.
_SOURCES: dict[str, str] = {
    "BatchResult": "batch",
    "BaujatPoints": "diagnostics",
    "BlockCovariance": "covariance",
    "Coefficient": "results",
    "ConvergenceError": "tau2",
    "EffectSizes": "results",
    "EggerResult": "results",
    "ExtremeValueError": "effect_sizes",
    "GlmmResult": "rare_events",
    "HarbordResult": "bias",
    "InfluenceResult": "diagnostics",
    "MEASURES": "effect_sizes",
    "METHODS": "fit",
    "MetaRegressionResult": "results",
    "MultivariateResult": "multivariate",
    "NotAssessed": "bias",
    "NotComputable": "bias",
    "PI_TYPES": "fit",
    "PooledResult": "results",
    "RATIO_MEASURES": "results",
    "RanktestResult": "rank_correlation",
    "RegtestResult": "bias",
    "SequentialResult": "results",
    "SubgroupResult": "results",
    "TESTS": "fit",
    "Tau2Control": "tau2",
    "Tau2Estimate": "tau2",
    "Tau2Interval": "heterogeneity",
    "TrimFillResult": "trim_and_fill",
    "baujat": "diagnostics",
    "cmicalc": "effect_sizes",
    "confint_tau2": "heterogeneity",
    "cumulative": "sensitivity",
    "egger_test": "bias",
    "escalc": "effect_sizes",
    "estimate_tau2": "tau2",
    "harbord_test": "bias",
    "influence": "diagnostics",
    "ipft_hm": "effect_sizes",
    "leave_one_out": "sensitivity",
    "meta_regression": "regression",
    "peters_test": "bias",
    "pool_many": "batch",
    "ranktest": "rank_correlation",
    "regtest": "bias",
    "reml_loglik": "tau2",
    "reml_score": "tau2",
    "rma": "fit",
    "rma_glmm": "rare_events",
    "rma_mh": "fit",
    "rma_mv": "multivariate",
    "rma_peto": "rare_events",
    "shared_control_covariance": "covariance",
    "subgroup_analysis": "subgroup",
    "trimfill": "trim_and_fill",
}

__all__ = [
    "MEASURES",
    "METHODS",
    "PI_TYPES",
    "RATIO_MEASURES",
    "TESTS",
    "BatchResult",
    "BaujatPoints",
    "BlockCovariance",
    "Coefficient",
    "ConvergenceError",
    "EffectSizes",
    "EggerResult",
    "ExtremeValueError",
    "GlmmResult",
    "HarbordResult",
    "InfluenceResult",
    "MetaRegressionResult",
    "MultivariateResult",
    "NotAssessed",
    "NotComputable",
    "PooledResult",
    "RanktestResult",
    "RegtestResult",
    "SequentialResult",
    "SubgroupResult",
    "Tau2Control",
    "Tau2Estimate",
    "Tau2Interval",
    "TrimFillResult",
    "baujat",
    "cmicalc",
    "confint_tau2",
    "cumulative",
    "egger_test",
    "escalc",
    "estimate_tau2",
    "harbord_test",
    "influence",
    "ipft_hm",
    "leave_one_out",
    "meta_regression",
    "peters_test",
    "pool_many",
    "ranktest",
    "regtest",
    "reml_loglik",
    "reml_score",
    "rma",
    "rma_glmm",
    "rma_mh",
    "rma_mv",
    "rma_peto",
    "shared_control_covariance",
    "subgroup_analysis",
    "trimfill",
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
