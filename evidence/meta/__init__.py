"""Meta-analysis engine whose numbers equal R's metafor.

Modules follow metafor's split: `effect_sizes` (escalc), `tau2` (estimators), `fit` (rma,
rma.mh), `subgroup`, `regression`, `bias` (regtest), `sensitivity` (leave1out, cumul),
`multivariate` (rma.mv) with `covariance` (its sampling covariance blocks), and `results` (the
typed result objects). No I/O happens here.
"""

from evidence.meta.bias import egger_test
from evidence.meta.covariance import BlockCovariance, shared_control_covariance
from evidence.meta.effect_sizes import MEASURES, cmicalc, escalc
from evidence.meta.fit import METHODS, TESTS, rma, rma_mh
from evidence.meta.multivariate import MultivariateResult, rma_mv
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
    "BlockCovariance",
    "Coefficient",
    "ConvergenceError",
    "EffectSizes",
    "EggerResult",
    "MetaRegressionResult",
    "MultivariateResult",
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
    "rma_mh",
    "rma_mv",
    "shared_control_covariance",
    "subgroup_analysis",
]
