"""Egger's regression test for funnel-plot asymmetry (metafor's regtest with predictor "sei").

Two variants, as in metafor:
- model="rma" (metafor's default): a mixed-effects meta-regression of yi on the standard
  error, tau^2 by `method`; the test is the slope's z (or t under Knapp-Hartung).
- model="lm": the classical Egger test, a weighted least-squares regression of yi on the
  standard error with weights 1/vi and an estimated residual scale; t with k - 2 df.
The intercept is the "limit estimate" (the effect of a hypothetical study with SE 0).
Below 10 studies the test has too little power to mean anything, so it is refused unless the
caller insists.
"""

from __future__ import annotations

import numpy as np
from scipy import stats
from statsmodels.regression.linear_model import WLS

from evidence.meta._util import ArrayLike, as_vector, require_finite, same_length
from evidence.meta.fit import rma_uni
from evidence.meta.results import EffectSizes, EggerResult
from evidence.meta.tau2 import Tau2Control

MIN_K = 10


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
    """Regression test of yi on sqrt(vi); see the module docstring for the two models."""
    if isinstance(yi, EffectSizes):
        y = np.asarray(yi.yi, dtype=float)
        v = np.asarray(yi.vi, dtype=float)
    else:
        if vi is None:
            raise ValueError("vi is required unless yi is an EffectSizes")
        y = as_vector(yi, "yi")
        v = as_vector(vi, "vi")
    k = same_length(yi=y, vi=v)
    require_finite("yi", y)
    require_finite("vi", v)
    if model not in ("rma", "lm"):
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    if k < 3:
        raise ValueError(f"Egger's test needs at least 3 studies, got {k}")
    if k < MIN_K and not allow_small_k:
        raise ValueError(
            f"Egger's test with k = {k} < {MIN_K} studies is unreliable; "
            "pass allow_small_k=True to run it anyway"
        )
    if (v <= 0).any():
        raise ValueError("sampling variances must be positive")
    x = np.column_stack([np.ones(k), np.sqrt(v)])
    if model == "lm":
        res = WLS(y, x, weights=1 / v).fit()
        df = float(res.df_resid)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        b0, se0 = float(res.params[0]), float(res.bse[0])
        return EggerResult(
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
    fit = rma_uni(y, v, x, method=method, test=test, level=level, control=control, btt=(1,))
    return EggerResult(
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
