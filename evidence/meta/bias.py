"""Regression tests for funnel-plot asymmetry: metafor's regtest, and Harbord's modified test.

`regtest` regresses the effects on a measure of study size or precision (metafor's
predictors: "sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv") in one of two models, as metafor:
- model="rma" (metafor's default): a mixed-effects meta-regression with tau^2 by `method`; the
  test is the predictor's z (or t under Knapp-Hartung).
- model="lm": a weighted least-squares regression with weights 1/vi and an estimated residual
  scale; t with k - 2 df. With predictor "sei" this is the classical Egger test; with predictor
  "ninv" it is the test of Peters et al. (2006) in metafor's form (see `peters_test`).
For the predictors that vanish as precision grows (sei, vi, ninv, sqrtninv) the intercept is
the "limit estimate": the effect of a hypothetical infinitely precise study.

`egger_test` is regtest with predictor "sei", kept with its own result type for its callers.

`harbord_test` is Harbord, Egger & Sterne's (2006) modified test for 2x2 tables, which metafor
lacks: it regresses the efficient score over its standard error on the square root of the
score's variance, so that effect and precision are not computed from the same cells.

Fewer studies than `min_k` (Cochrane Handbook: 10) give too little power for the tests to mean
anything: they raise `NotAssessed` instead of returning a number. Data the regression cannot
be fitted to (a constant predictor, a zero or non-finite variance, a tau^2 that does not
converge, a non-finite statistic) raise `NotComputable`. Both carry a `reason` short enough for
a table cell; metafor's regtest fails on the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from evidence.meta._util import ArrayLike, FloatArray, as_vector, check_level, same_length
from evidence.meta.fit import rma_uni
from evidence.meta.results import EffectSizes, EggerResult
from evidence.meta.tau2 import ConvergenceError, Tau2Control

if TYPE_CHECKING:
    import pandas as pd

MIN_K = 10
# Standard errors that differ by less than this (relative) leave the regression on the SE
# without a slope to estimate; R's qr(), which metafor uses to find redundant predictors, uses
# the same tolerance.
SAME_SE_RTOL = 1e-7

PREDICTORS = ("sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv")
MODELS = ("rma", "lm")
# Predictors that tend to 0 for an infinitely precise study: only then is the intercept a
# "limit estimate" (metafor reports none for ni and sqrtni).
LIMIT_PREDICTORS = frozenset({"sei", "vi", "ninv", "sqrtninv"})
_SIZE_PREDICTORS = frozenset({"ni", "ninv", "sqrtni", "sqrtninv"})
_PREDICTOR_NAMES = {
    "sei": "standard error",
    "vi": "sampling variance",
    "ni": "sample size",
    "ninv": "inverse sample size",
    "sqrtni": "square root of the sample size",
    "sqrtninv": "inverse square root of the sample size",
}


class NotComputable(ValueError):
    """The test cannot be computed from these data; `reason` says why, for a table cell."""

    outcome = "not computable"

    def __init__(self, reason: str, test: str = "Egger's test") -> None:
        super().__init__(f"{test} is {self.outcome}: {reason}")
        self.reason = reason
        self.test = test


class NotAssessed(NotComputable):
    """Too few studies for the test to mean anything: it is not run, and `reason` says so."""

    outcome = "not assessed"


def check_min_k(k: int, min_k: int, test: str) -> None:
    """Refuse to run a small-study test on fewer than `min_k` studies (a NotAssessed)."""
    if min_k < 0:
        raise ValueError(f"min_k must be >= 0, got {min_k}")
    if k < min_k:
        raise NotAssessed(f"k = {k} < {min_k} studies, too few for {test}", test)


@dataclass(frozen=True)
class RegtestResult:
    """One regression test for funnel-plot asymmetry (metafor's regtest).

    `stat`/`pval` test the predictor's coefficient `slope` (t with `df` for model "lm" and for
    Knapp-Hartung, z otherwise). `limit_*` are None for predictors ni and sqrtni, whose
    intercept is not an effect at infinite precision. `tau2` is the residual heterogeneity of
    model "rma" (None for "lm").
    """

    model: str
    predictor: str
    method: str | None
    test: str
    level: float
    k: int
    slope: float
    slope_se: float
    stat: float
    pval: float
    df: float | None
    limit_estimate: float | None
    limit_ci_low: float | None
    limit_ci_high: float | None
    tau2: float | None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([self.to_dict()])


@dataclass(frozen=True)
class HarbordResult:
    """Harbord's modified regression test: the intercept of Z/sqrt(V) on sqrt(V).

    `k` tables were given, `k_used` entered the regression; `excluded` names those with V = 0.
    `slope` estimates the log odds ratio (a Peto-type estimate); the test is on `intercept`,
    t with `df` = k_used - 2.
    """

    k: int
    k_used: int
    excluded: tuple[str, ...]
    level: float
    intercept: float
    intercept_se: float
    stat: float
    pval: float
    df: float
    ci_low: float
    ci_high: float
    slope: float
    slope_se: float
    test: str = "t"
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["excluded"] = list(self.excluded)
        out["notes"] = list(self.notes)
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([self.to_dict()])


def _check_data(y: FloatArray, v: FloatArray, test: str) -> None:
    """Refuse effects or variances the regression cannot use, naming how many studies."""
    k = len(y)
    for name, arr in (("effect", y), ("sampling variance", v)):
        bad = np.flatnonzero(~np.isfinite(arr))
        if bad.size:
            raise NotComputable(f"non-finite {name} in {bad.size} of {k} studies", test)
    zero = np.flatnonzero(v <= 0)
    if zero.size:
        raise NotComputable(
            f"zero or negative sampling variance in {zero.size} of {k} studies", test
        )


def _check_varies(x: FloatArray, what: str, test: str) -> None:
    """A (numerically) constant predictor leaves no slope to estimate."""
    scale = float(np.max(np.abs(x)))
    if float(np.ptp(x)) <= SAME_SE_RTOL * scale:
        raise NotComputable(
            f"all {len(x)} studies have the same {what}, so the regression on it is rank-deficient",
            test,
        )


def _sizes(ni: ArrayLike | None, k: int, test: str) -> FloatArray:
    if ni is None:
        raise ValueError(f"{test} needs each study's total sample size (ni)")
    n = as_vector(ni, "ni")
    same_length(yi=np.empty(k), ni=n)
    bad = np.flatnonzero(~np.isfinite(n) | (n <= 0))
    if bad.size:
        raise ValueError(f"ni must be finite and > 0 (positions {bad.tolist()})")
    return n


def _predictor(predictor: str, v: FloatArray, n: FloatArray | None) -> FloatArray:
    if predictor == "sei":
        return np.sqrt(v)
    if predictor == "vi":
        return v
    assert n is not None
    return {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]


def _effects(yi: ArrayLike | EffectSizes, vi: ArrayLike | None) -> tuple[FloatArray, FloatArray]:
    if isinstance(yi, EffectSizes):
        return np.asarray(yi.yi, dtype=float), np.asarray(yi.vi, dtype=float)
    if vi is None:
        raise ValueError("vi is required unless yi is an EffectSizes")
    y = as_vector(yi, "yi")
    v = as_vector(vi, "vi")
    same_length(yi=y, vi=v)
    return y, v


def _all_finite(*values: float | None) -> bool:
    return all(x is None or bool(np.isfinite(x)) for x in values)


def regtest(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    ni: ArrayLike | None = None,
    predictor: str = "sei",
    model: str = "rma",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    min_k: int = MIN_K,
    control: Tau2Control | None = None,
) -> RegtestResult:
    """Regression test of the effects on `predictor`, equal to metafor's regtest.

    `ni` (each study's total sample size) is needed by the predictors ni, ninv, sqrtni and
    sqrtninv. `method`, `test` and `control` apply to model "rma" only. Raises `NotAssessed`
    below `min_k` studies, `NotComputable` for data the test cannot be fitted to, `ValueError`
    for bad arguments.
    """
    if predictor not in PREDICTORS:
        raise ValueError(f"predictor must be one of {PREDICTORS}, got {predictor!r}")
    if model not in MODELS:
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    check_level(level)
    label = "Egger's test" if predictor == "sei" else f"the regression test on {predictor}"
    y, v = _effects(yi, vi)
    k = len(y)
    n = _sizes(ni, k, label) if predictor in _SIZE_PREDICTORS else None
    if k < 3:
        raise ValueError(f"{label} needs at least 3 studies, got {k}")
    check_min_k(k, min_k, label)
    _check_data(y, v, label)
    xcol = _predictor(predictor, v, n)
    _check_varies(xcol, _PREDICTOR_NAMES[predictor], label)
    x = np.column_stack([np.ones(k), xcol])
    limit = predictor in LIMIT_PREDICTORS
    if model == "lm":
        from scipy import stats  # imported here: a plain pool never needs scipy.stats
        from statsmodels.regression.linear_model import WLS

        res = WLS(y, x, weights=1 / v).fit()
        df = float(res.df_resid)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
        b0, se0 = float(res.params[0]), float(res.bse[0])
        result = RegtestResult(
            model="lm",
            predictor=predictor,
            method=None,
            test="t",
            level=level,
            k=k,
            slope=float(res.params[1]),
            slope_se=float(res.bse[1]),
            stat=float(res.tvalues[1]),
            pval=float(res.pvalues[1]),
            df=df,
            limit_estimate=b0 if limit else None,
            limit_ci_low=b0 - crit * se0 if limit else None,
            limit_ci_high=b0 + crit * se0 if limit else None,
            tau2=None,
        )
    else:
        try:
            fit = rma_uni(y, v, x, method=method, test=test, level=level, control=control, btt=(1,))
        except ConvergenceError as exc:
            raise NotComputable(f"tau^2 did not converge ({exc})", label) from None
        result = RegtestResult(
            model="rma",
            predictor=predictor,
            method=fit.method,
            test=fit.test,
            level=level,
            k=k,
            slope=float(fit.beta[1]),
            slope_se=float(fit.se[1]),
            stat=float(fit.stat[1]),
            pval=float(fit.pval[1]),
            df=fit.df,
            limit_estimate=float(fit.beta[0]) if limit else None,
            limit_ci_low=float(fit.ci_low[0]) if limit else None,
            limit_ci_high=float(fit.ci_high[0]) if limit else None,
            tau2=fit.tau2,
        )
    if not _all_finite(
        result.slope,
        result.slope_se,
        result.stat,
        result.pval,
        result.limit_estimate,
        result.limit_ci_low,
        result.limit_ci_high,
    ):
        raise NotComputable("the regression gave a non-finite statistic", label)
    return result


def peters_test(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    ni: ArrayLike,
    level: float = 0.95,
    min_k: int = MIN_K,
) -> RegtestResult:
    """Peters et al.'s (2006) test as metafor runs it: regtest(model="lm", predictor="ninv").

    The effects are regressed on 1/n (n = each study's total sample size) with weights 1/vi.
    Peters et al. weighted by the events and non-events of the log odds ratio's approximate
    variance; metafor (and this function) weight by the studies' own inverse variances.
    """
    return regtest(yi, vi, ni=ni, predictor="ninv", model="lm", level=level, min_k=min_k)


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
    """Regression test of yi on sqrt(vi) (regtest with predictor "sei").

    Below 10 studies it raises ValueError unless `allow_small_k`. Raises `NotComputable` for
    data the test cannot be fitted to, `ValueError` for bad arguments.
    """
    y, v = _effects(yi, vi)
    k = len(y)
    if model not in MODELS:
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    if k < 3:
        raise ValueError(f"Egger's test needs at least 3 studies, got {k}")
    if k < MIN_K and not allow_small_k:
        raise ValueError(
            f"Egger's test with k = {k} < {MIN_K} studies is unreliable; "
            "pass allow_small_k=True to run it anyway"
        )
    res = regtest(
        y, v, model=model, method=method, test=test, level=level, min_k=0, control=control
    )
    assert res.limit_estimate is not None
    assert res.limit_ci_low is not None and res.limit_ci_high is not None
    return EggerResult(
        model=res.model,
        predictor="sei",
        method=res.method,
        test=res.test,
        k=k,
        stat=res.stat,
        pval=res.pval,
        df=res.df,
        limit_estimate=res.limit_estimate,
        limit_ci_low=res.limit_ci_low,
        limit_ci_high=res.limit_ci_high,
    )


HARBORD = "Harbord's test"


def harbord_test(
    tables: EffectSizes | Sequence[Sequence[float]],
    *,
    studies: Sequence[str] | None = None,
    level: float = 0.95,
    min_k: int = MIN_K,
) -> HarbordResult:
    """Harbord, Egger & Sterne's (2006) modified test for small-study effects in 2x2 tables.

    Reference: Harbord RM, Egger M, Sterne JAC. A modified test for small-study effects in
    meta-analyses of controlled trials with binary endpoints. Stat Med 2006;25:3443-57.

    Per table (a, b, c, d) = (treated events, treated non-events, control events, control
    non-events): Z = a - E(a) is the efficient score of the log odds ratio at 0 and V its
    hypergeometric variance. Z/sqrt(V) is regressed on sqrt(V) by ordinary least squares; the
    intercept measures small-study effects (t with k - 2 df). Unlike Egger's test on log odds
    ratios, Z and V are not functions of the estimated effect, so there is no built-in
    correlation between effect and precision. Tables with single zero cells enter as they are
    (no continuity correction is needed); tables with V = 0 (no events, or only events, in
    both arms together) carry no information and are left out, named in `excluded`. `min_k`
    counts the tables that enter.
    """
    if isinstance(tables, EffectSizes):
        if tables.tables is None:
            raise ValueError(
                f"{HARBORD} needs 2x2 tables; effect sizes of measure {tables.measure} have none"
            )
        rows = np.asarray(tables.tables, dtype=float)
        labels = tables.studies
    else:
        rows = np.asarray(tables, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != 4:
            raise ValueError(f"{HARBORD} needs one (a, b, c, d) row per study")
        labels = (
            tuple(studies) if studies is not None else tuple(str(i + 1) for i in range(len(rows)))
        )
    check_level(level)
    k = len(rows)
    if len(labels) != k:
        raise ValueError(f"studies has {len(labels)} labels for {k} tables")
    if not np.isfinite(rows).all() or (rows < 0).any():
        raise ValueError(f"{HARBORD}: 2x2 cells must be finite counts >= 0")
    a, b, c, d = rows.T
    n1, n2, m1, m0 = a + b, c + d, a + c, b + d
    total = n1 + n2
    if (n1 <= 0).any() or (n2 <= 0).any():
        raise ValueError(f"{HARBORD}: every arm needs at least one participant")
    expected = n1 * m1 / total
    var = n1 * n2 * m1 * m0 / (total**2 * (total - 1))
    keep = var > 0
    excluded = tuple(s for s, kp in zip(labels, keep, strict=True) if not kp)
    notes: tuple[str, ...] = ()
    if excluded:
        notes = (
            f"{len(excluded)} table(s) with no events or no non-events in both arms have "
            f"V = 0 and cannot enter: {', '.join(excluded)}",
        )
    k_used = int(keep.sum())
    check_min_k(k_used, min_k, HARBORD)
    if k_used < 3:
        raise NotComputable(f"only {k_used} tables with V > 0; at least 3 are needed", HARBORD)
    z = (a - expected)[keep]
    sv = np.sqrt(var[keep])
    _check_varies(sv, "score variance", HARBORD)
    from scipy import stats  # imported here: a plain pool never needs scipy.stats
    from statsmodels.regression.linear_model import OLS

    res = OLS(z / sv, np.column_stack([np.ones(k_used), sv])).fit()
    df = float(res.df_resid)
    crit = float(stats.t.ppf(0.5 + level / 2, df))
    b0, se0 = float(res.params[0]), float(res.bse[0])
    result = HarbordResult(
        k=k,
        k_used=k_used,
        excluded=excluded,
        level=level,
        intercept=b0,
        intercept_se=se0,
        stat=float(res.tvalues[0]),
        pval=float(res.pvalues[0]),
        df=df,
        ci_low=b0 - crit * se0,
        ci_high=b0 + crit * se0,
        slope=float(res.params[1]),
        slope_se=float(res.bse[1]),
        notes=notes,
    )
    if not _all_finite(result.stat, result.pval, result.intercept_se, result.slope_se):
        raise NotComputable("the regression gave a non-finite statistic", HARBORD)
    return result
