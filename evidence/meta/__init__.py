"""Meta-analysis engine whose numbers equal R's metafor.

Modules follow metafor's split between computing effect sizes, fitting and presenting:
`effect_sizes` (escalc), `tau2` (estimators), `fit` (rma, rma.mh), `rare_events` (rma.peto,
rma.glmm), `heterogeneity` (confint for tau^2), `influence` (influence, baujat), `subgroup`,
`regression`, `bias` (regtest, Peters' and Harbord's tests), `ranktest`, `trimfill`,
`sensitivity` (leave1out, cumul), and `results` (the typed result objects). No I/O happens here.
"""

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
from evidence.meta.effect_sizes import MEASURES, ExtremeValueError, cmicalc, escalc, ipft_hm
from evidence.meta.fit import METHODS, PI_TYPES, TESTS, rma, rma_mh
from evidence.meta.heterogeneity import Tau2Interval, confint_tau2
from evidence.meta.influence import BaujatPoints, InfluenceResult, baujat, influence
from evidence.meta.ranktest import RanktestResult, ranktest
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
from evidence.meta.trimfill import TrimFillResult, trimfill

__all__ = [
    "MEASURES",
    "METHODS",
    "PI_TYPES",
    "RATIO_MEASURES",
    "TESTS",
    "BaujatPoints",
    "Coefficient",
    "ConvergenceError",
    "EffectSizes",
    "EggerResult",
    "ExtremeValueError",
    "GlmmResult",
    "HarbordResult",
    "InfluenceResult",
    "MetaRegressionResult",
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
    "ranktest",
    "regtest",
    "reml_loglik",
    "reml_score",
    "rma",
    "rma_glmm",
    "rma_mh",
    "rma_peto",
    "subgroup_analysis",
    "trimfill",
]
