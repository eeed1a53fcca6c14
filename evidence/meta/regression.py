"""Meta-regression on one numeric moderator (metafor's rma(yi, vi, mods = ~ x)).

The residual tau^2 is estimated in the model with the moderator (REML by default, as in
metafor); coefficients come from WLS with weights 1/(v + tau^2) in `rma_uni`.
"""

from __future__ import annotations

import numpy as np

from evidence.meta._util import ArrayLike, FloatArray, as_vector, require_finite, same_length
from evidence.meta.fit import UniFit, rma_uni
from evidence.meta.results import Coefficient, EffectSizes, MetaRegressionResult
from evidence.meta.tau2 import Tau2Control


def coefficients(fit: UniFit, names: tuple[str, ...]) -> tuple[Coefficient, ...]:
    """Pair a fit's coefficient arrays with their names."""
    return tuple(
        Coefficient(
            name=name,
            estimate=float(fit.beta[j]),
            se=float(fit.se[j]),
            stat=float(fit.stat[j]),
            pval=float(fit.pval[j]),
            ci_low=float(fit.ci_low[j]),
            ci_high=float(fit.ci_high[j]),
        )
        for j, name in enumerate(names)
    )


def model_result(
    fit: UniFit,
    design: FloatArray,
    names: tuple[str, ...],
    y: FloatArray,
    v: FloatArray,
    control: Tau2Control | None,
) -> MetaRegressionResult:
    """Wrap a moderator model; R^2 compares its tau^2 with the intercept-only model's."""
    r2: float | None = None
    tau2: float | None = fit.tau2
    i2: float | None = fit.i2
    h2: float | None = fit.h2
    if fit.method == "FE":
        # metafor: for fixed-effect models R^2 is the adjusted R^2 of the weighted regression.
        from statsmodels.regression.linear_model import WLS

        adj = float(WLS(y, design, weights=1 / v).fit().rsquared_adj)
        r2 = max(0.0, 100 * adj)
    else:
        null = rma_uni(
            y, v, np.ones((len(y), 1)), method=fit.method, test=fit.test, control=control
        )
        r2 = 0.0 if null.tau2 == 0 else max(0.0, 100 * (null.tau2 - fit.tau2) / null.tau2)
    if fit.qm is None or fit.qm_pval is None:
        raise ValueError("the moderator test is undefined (singular covariance)")
    return MetaRegressionResult(
        method=fit.method,
        test=fit.test,
        level=fit.level,
        k=fit.k,
        p=fit.p,
        coefficients=coefficients(fit, names),
        df=fit.df,
        qm=fit.qm,
        qm_df=fit.qm_df,
        qm_pval=fit.qm_pval,
        qm_dist="chi2" if fit.df is None else "F",
        qe=fit.qe,
        qe_df=fit.qe_df,
        qe_pval=fit.qe_pval,
        tau2=tau2,
        i2=i2,
        h2=h2,
        r2=r2,
        tau2_algorithm=fit.tau2_algorithm,
    )


def meta_regression(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    moderator: ArrayLike | None = None,
    *,
    name: str = "moderator",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: Tau2Control | None = None,
) -> MetaRegressionResult:
    """Mixed-effects meta-regression yi ~ 1 + moderator.

    Returns the intercept and slope (z, or t with k-2 df under Knapp-Hartung), the QM test
    of the slope, the QE test of residual heterogeneity, residual tau^2, I^2, H^2 and R^2.
    """
    if isinstance(yi, EffectSizes):
        y = np.asarray(yi.yi, dtype=float)
        v = np.asarray(yi.vi, dtype=float)
    else:
        if vi is None:
            raise ValueError("vi is required unless yi is an EffectSizes")
        y = as_vector(yi, "yi")
        v = as_vector(vi, "vi")
    if moderator is None:
        raise ValueError("moderator is required")
    x1 = as_vector(moderator, name)
    k = same_length(yi=y, vi=v, moderator=x1)
    for label, arr in (("yi", y), ("vi", v), (name, x1)):
        require_finite(label, arr)
    if k < 3:
        raise ValueError(f"meta-regression needs at least 3 studies, got {k}")
    x = np.column_stack([np.ones(k), x1])
    fit = rma_uni(y, v, x, method=method, test=test, level=level, control=control)
    return model_result(fit, x, ("intercept", name), y, v, control)
