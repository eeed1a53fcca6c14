"""Meta-analysis engine whose numbers equal R's metafor.

Modules follow metafor's split: `effect_sizes` (escalc), `tau2` (estimators), `fit` (rma,
rma.mh), `subgroup`, `regression`, `bias` (regtest), `sensitivity` (leave1out, cumul),
`rare_events` (rma.peto, rma.glmm), and
`results` (the typed result objects). No I/O happens here.
"""

from evidence.meta.bias import egger_test
from evidence.meta.effect_sizes import MEASURES, cmicalc, escalc
from evidence.meta.fit import METHODS, TESTS, rma, rma_mh
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

__all__ = [
    "MEASURES",
    "METHODS",
    "RATIO_MEASURES",
    "TESTS",
    "Coefficient",
    "ConvergenceError",
    "EffectSizes",
    "EggerResult",
    "GlmmResult",
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
    "reml_loglik",
    "reml_score",
    "rma",
    "rma_glmm",
    "rma_mh",
    "rma_peto",
    "subgroup_analysis",
]
