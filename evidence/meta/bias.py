"""Egger's regression test for funnel-plot asymmetry (metafor's regtest with predictor "sei").

Two variants, as in metafor:
- model="rma" (metafor's default): a mixed-effects meta-regression of yi on the standard
  error, tau^2 by `method`; the test is the slope's z (or t under Knapp-Hartung).
- model="lm": the classical Egger test, a weighted least-squares regression of yi on the
  standard error with weights 1/vi and an estimated residual scale; t with k - 2 df.
The intercept is the "limit estimate" (the effect of a hypothetical study with SE 0).
Below 10 studies the test has too little power to mean anything, so it is refused unless the
caller insists.

Data on which the regression cannot be fitted (every study with the same standard error, a zero
or non-finite variance, a tau^2 that does not converge, a non-finite statistic) raise
`NotComputable`, whose `reason` is short enough for a table cell; metafor's regtest fails on
the same data, so callers report the reason instead of a number.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.regression.linear_model import WLS

from evidence.meta._util import ArrayLike, FloatArray, as_vector, same_length
from evidence.meta.fit import rma_uni
from evidence.meta.results import EffectSizes, EggerResult
from evidence.meta.tau2 import ConvergenceError, Tau2Control

MIN_K = 10
# Standard errors that differ by less than this (relative) leave the regression on the SE
# without a slope to estimate; R's qr(), which metafor uses to find redundant predictors, uses
# the same tolerance.
SAME_SE_RTOL = 1e-7


class NotComputable(ValueError):
    """The test cannot be computed from these data; `reason` says why, for a table cell."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"Egger's test is not computable: {reason}")
        self.reason = reason


def _check_computable(y: FloatArray, v: FloatArray) -> None:
    """Refuse data the regression on the standard error cannot be fitted to, naming why."""
    k = len(y)
    for name, arr in (("effect", y), ("sampling variance", v)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise NotComputable(f"non-finite {name} in {bad.size} of {k} studies")
    zero = np.flatnonzero(v <= 0)
    if zero.size:
        raise NotComputable(f"zero or negative sampling variance in {zero.size} of {k} studies")
    se = np.sqrt(v)
    if float(np.ptp(se)) <= SAME_SE_RTOL * float(se.max()):
        raise NotComputable(
            f"all {k} studies have the same standard error, so the regression on it "
            "is rank-deficient"
        )


def _finite(result: EggerResult) -> EggerResult:
    if not all(np.isfinite([result.stat, result.pval, result.limit_estimate])):
        raise NotComputable("the regression gave a non-finite statistic")
    return result


def egger_test(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    model: str = "rma",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    allow_small_k: bool = False,
    control: Tau2Control | None = None,
) -> EggerResult:
    """Regression test of yi on sqrt(vi); see the module docstring for the two models.

    Raises `NotComputable` for data the test cannot be fitted to, `ValueError` for bad arguments.
    """
    if isinstance(yi, EffectSizes):
        y = np.asarray(yi.yi, dtype=float)
        v = np.asarray(yi.vi, dtype=float)
    else:
        if vi is None:
            raise ValueError("vi is required unless yi is an EffectSizes")
        y = as_vector(yi, "yi")
        v = as_vector(vi, "vi")
    k = same_length(yi=y, vi=v)
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    if k < 3:
        raise ValueError(f"Egger's test needs at least 3 studies, got {k}")
    if k < MIN_K and not allow_small_k:
        raise ValueError(
            f"Egger's test with k = {k} < {MIN_K} studies is unreliable; "
            "pass allow_small_k=True to run it anyway"
        )
    _check_computable(y, v)
    x = np.column_stack([np.ones(k), np.sqrt(v)])
    if model == "lm":
        res = WLS(y, x, weights=1 / v).fit()
        df = float(res.df_resid)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        b0, se0 = float(res.params[0]), float(res.bse[0])
        return _finite(
            EggerResult(
                model="lm",
                predictor="sei",
                method=None,
                test="t",
                k=k,
                stat=float(res.tvalues[1]),
                pval=float(res.pvalues[1]),
                df=df,
                limit_estimate=b0,
                limit_ci_low=b0 - crit * se0,
                limit_ci_high=b0 + crit * se0,
            )
        )
    try:
        fit = rma_uni(y, v, x, method=method, test=test, level=level, control=control, btt=(1,))
    except ConvergenceError as exc:
        raise NotComputable(f"tau^2 did not converge ({exc})") from None
    return _finite(
        EggerResult(
            model="rma",
            predictor="sei",
            method=fit.method,
            test=fit.test,
            k=k,
            stat=float(fit.stat[1]),
            pval=float(fit.pval[1]),
            df=fit.df,
            limit_estimate=float(fit.beta[0]),
            limit_ci_low=float(fit.ci_low[0]),
            limit_ci_high=float(fit.ci_high[0]),
        )
    )
