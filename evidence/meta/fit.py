"""Pooling: metafor's rma (FE, DL, PM, REML; z or Knapp-Hartung tests) and rma.mh.

`rma_uni` is the general engine (any design matrix) that the subgroup, regression and bias
modules reuse; `rma` is the intercept-only pool with predict()'s prediction interval.
With moderators, coefficients come from statsmodels' WLS with weights 1/(v + tau^2) (its
"pinv" fit, reproduced in `_weighted_fit`): its unscaled covariance is (X'WX)^-1 (the z test)
and its residual scale is exactly Knapp-Hartung's factor. A single-column model (every plain
pool) takes the same quantities in closed form. Pooling needs neither statsmodels nor
scipy.stats; distributions come from scipy.special.
Nothing here forms a k x k matrix: memory is linear in the number of studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import chdtrc, fdtrc, ndtr, ndtri, stdtr, stdtrit

from evidence.meta._util import (
    ArrayLike,
    FloatArray,
    as_vector,
    check_level,
    require_finite,
    same_length,
    study_labels,
)
from evidence.meta.effect_sizes import check_magnitudes, escalc, table_cells
from evidence.meta.results import EffectSizes, PooledResult
from evidence.meta.tau2 import Projection, Tau2Control, estimate_tau2

METHODS = ("FE", "DL", "PM", "REML")
TESTS = ("z", "knha", "adhoc")
PI_TYPES = ("default", "riley", "t", "simple", "handbook")
_EPS = float(np.finfo(float).eps)


@dataclass(frozen=True)
class UniFit:
    """Everything rma.uni computes for one model (internal to the package)."""

    method: str
    test: str
    level: float
    k: int
    p: int
    beta: FloatArray
    vb: FloatArray
    se: FloatArray
    stat: FloatArray
    pval: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    crit: float
    df: float | None
    tau2: float
    tau2_algorithm: str
    tau2_iterations: int | None
    qe: float
    qe_df: int
    qe_pval: float
    i2: float
    h2: float
    qm: float | None
    qm_df: int
    qm_pval: float | None
    weights: FloatArray


def _check_method_test(method: str, test: str) -> tuple[str, str]:
    method, test = method.upper(), test.lower()
    if test == "hksj":
        test = "knha"
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    if test not in TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {TESTS}")
    return method, test


def two_sided_p(stat: FloatArray | float, df: float | None) -> FloatArray:
    """Two-sided p-value of a z (df None) or t statistic."""
    a = -np.abs(stat)
    return np.asarray(2 * (ndtr(a) if df is None else stdtr(df, a)), dtype=float)


def critical_value(level: float, df: float | None) -> float:
    """The (1 + level) / 2 quantile of the normal (df None) or t distribution."""
    q = 0.5 + level / 2
    return float(ndtri(q) if df is None else stdtrit(df, q))


def _weighted_fit(
    y: FloatArray, w: FloatArray, x: FloatArray
) -> tuple[FloatArray, FloatArray, float]:
    """Coefficients, their unscaled covariance (X'WX)^-1 and the weighted RSS.

    One column: the closed forms. More: statsmodels' WLS fit by its default "pinv" method,
    step for step (so the numbers are the same to the last bit) without importing statsmodels,
    which costs a second at every start.
    """
    if x.shape[1] == 1:
        col = x[:, 0]
        wx = w * col
        sxx = float(wx @ col)
        b = float(wx @ y) / sxx
        resid = y - b * col
        return np.array([b]), np.array([[1.0 / sxx]]), float(w @ (resid * resid))
    sw = np.sqrt(w)
    wexog = sw[:, None] * x
    wendog = y * sw
    # statsmodels.tools.tools.pinv_extended(wexog) with rcond=1e-15
    u, s, vt = np.linalg.svd(wexog, False)
    cutoff = 1e-15 * np.maximum.reduce(s)
    inv = np.array([1.0 / si if si > cutoff else 0.0 for si in s])
    pinv = np.dot(np.transpose(vt), np.multiply(inv[:, np.newaxis], np.transpose(u)))
    beta = np.dot(pinv, wendog)
    wresid = wendog - np.dot(wexog, beta)
    return beta, np.dot(pinv, np.transpose(pinv)), float(np.dot(wresid, wresid))


def rma_uni(
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: Tau2Control | None = None,
    btt: tuple[int, ...] | None = None,
) -> UniFit:
    """Fit y ~ X with sampling variances v as metafor's rma.uni does (k > p required).

    `btt` are the coefficient indices of the omnibus QM test (default: all but an intercept in
    column 0 when p > 1).
    """
    method, test = _check_method_test(method, test)
    level = check_level(level)
    k, p = x.shape
    if k <= p:
        raise ValueError(f"need more studies than coefficients (k = {k}, p = {p})")
    if (v <= 0).any():
        raise ValueError("sampling variances must be positive")
    if (not x.any()) if p == 1 else np.linalg.matrix_rank(x) < p:
        raise ValueError("design matrix is not of full rank")
    est = estimate_tau2(method, y, v, x, control)
    tau2 = est.value
    w = 1.0 / (v + tau2)
    beta, vb, rss = _weighted_fit(y, w, x)
    df: float | None = None
    if test in ("knha", "adhoc"):
        s2w = 0.0 if rss <= _EPS else rss / (k - p)
        if test == "adhoc":
            s2w = max(1.0, s2w)
        vb = vb * s2w
        df = float(k - p)
    se = np.sqrt(np.diag(vb))
    with np.errstate(divide="ignore", invalid="ignore"):
        stat = beta / se
    pval = two_sided_p(stat, df)
    crit = critical_value(level, df)

    if btt is None:
        btt = tuple(range(1, p)) if p > 1 else (0,)
    idx = list(btt)
    qm: float | None
    try:
        b = beta[idx]
        qm = float(b @ np.linalg.solve(vb[np.ix_(idx, idx)], b))
    except np.linalg.LinAlgError:
        qm = None
    m = len(idx)
    qm_pval: float | None = None
    if qm is not None:
        if df is None:
            qm_pval = float(chdtrc(m, qm))
        else:
            qm = qm / m
            qm_pval = float(fdtrc(m, df, qm))

    proj = Projection(v, x)
    qe = max(0.0, proj.quadratic(y))
    qe_df = k - p
    vt = (k - p) / proj.trace()
    if method == "FE":
        i2 = max(0.0, 100 * (qe - qe_df) / qe) if qe > 0 else 0.0
        h2 = qe / qe_df
    else:
        i2 = 100 * tau2 / (vt + tau2)
        h2 = tau2 / vt + 1
    return UniFit(
        method=method,
        test=test,
        level=level,
        k=k,
        p=p,
        beta=beta,
        vb=vb,
        se=se,
        stat=stat,
        pval=np.asarray(pval, dtype=float),
        ci_low=beta - crit * se,
        ci_high=beta + crit * se,
        crit=crit,
        df=df,
        tau2=tau2,
        tau2_algorithm=est.algorithm,
        tau2_iterations=est.iterations,
        qe=qe,
        qe_df=qe_df,
        qe_pval=float(chdtrc(qe_df, qe)),
        i2=float(i2),
        h2=float(h2),
        qm=qm,
        qm_df=m,
        qm_pval=qm_pval,
        weights=100 * w / w.sum(),
    )


def _single_study(
    y: float, v: float, measure: str, method: str, test: str, level: float, label: str
) -> PooledResult:
    """k = 1 as metafor reports it: the study is the estimate (z test), Q = 0 on 0 df (p = 1),
    tau^2 = 0, I^2 = 0, H^2 = 1, and for random-effects methods a prediction interval equal to
    the CI. These are conventions, not findings: one study says nothing about heterogeneity."""
    se = math.sqrt(v)
    crit = critical_value(level, None)
    z = y / se
    notes = (
        "k = 1: the pooled estimate is the single study; heterogeneity cannot be assessed "
        "(Q, tau^2, I^2 and H^2 are metafor's conventions for one study, not estimates)",
    )
    if test != "z":
        notes += (f"k = 1: test {test!r} has 0 degrees of freedom, a z test was used",)
    lo, hi = y - crit * se, y + crit * se
    return PooledResult(
        measure=measure,
        method=method,
        test="z",
        level=level,
        k=1,
        estimate=y,
        se=se,
        ci_low=lo,
        ci_high=hi,
        stat=z,
        pval=float(two_sided_p(z, None)),
        df=None,
        q=0.0,
        q_df=0,
        q_pval=1.0,
        tau2=0.0,
        i2=0.0,
        h2=1.0,
        pi_low=None if method == "FE" else lo,
        pi_high=None if method == "FE" else hi,
        studies=(label,),
        yi=(y,),
        vi=(v,),
        weights=(100.0,),
        notes=notes,
    )


def _unpack(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None,
    measure: str | None,
    studies: ArrayLike | None,
) -> tuple[FloatArray, FloatArray, str, tuple[str, ...]]:
    if isinstance(yi, EffectSizes):
        y = np.asarray(yi.yi, dtype=float)
        v = np.asarray(yi.vi, dtype=float)
        check_magnitudes(y, v, yi.studies)
        return y, v, measure or yi.measure, yi.studies
    if vi is None:
        raise ValueError("vi is required unless yi is an EffectSizes")
    y = as_vector(yi, "yi")
    v = as_vector(vi, "vi")
    k = same_length(yi=y, vi=v)
    require_finite("yi", y)
    require_finite("vi", v)
    labels = study_labels(studies, k)
    check_magnitudes(y, v, labels)
    return y, v, (measure or "GEN").upper(), labels


def rma(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    measure: str | None = None,
    studies: ArrayLike | None = None,
    control: Tau2Control | None = None,
    pi_type: str = "default",
) -> PooledResult:
    """Pool effect sizes like metafor's rma(yi, vi) followed by predict().

    `yi` may be an EffectSizes (then `vi`, `measure` and `studies` come from it). method: FE,
    DL, PM or REML; with method="MH" (or "PETO") and an EffectSizes of 2x2 data this
    delegates to `rma_mh` (or `rma_peto`). test: "z", "knha" (Knapp-Hartung, t with k-1 df)
    or "adhoc" (Knapp-Hartung whose SE may not fall below the z test's). level: confidence
    level, e.g. 0.95. pi_type: the prediction interval's form, see `prediction_interval`.
    """
    if method.upper() == "MH":
        if not isinstance(yi, EffectSizes) or yi.tables is None:
            raise ValueError("method='MH' needs an EffectSizes built from 2x2 data")
        a, b, c, d = table_cells(yi)
        return rma_mh(a, a + b, c, c + d, measure=yi.measure, studies=yi.studies, level=level)
    if method.upper() == "PETO":
        from evidence.meta.rare_events import rma_peto_es

        return rma_peto_es(yi, level=level)
    method, test = _check_method_test(method, test)
    level = check_level(level)
    pi_type = _check_pi_type(pi_type)
    y, v, measure, labels = _unpack(yi, vi, measure, studies)
    k = len(y)
    if k == 0:
        raise ValueError("no studies to pool (k = 0)")
    if (v <= 0).any():
        bad = np.flatnonzero(v <= 0).tolist()
        raise ValueError(f"sampling variances must be positive (positions {bad})")
    if k == 1:
        return _single_study(float(y[0]), float(v[0]), measure, method, test, level, labels[0])
    fit = rma_uni(y, v, np.ones((k, 1)), method=method, test=test, level=level, control=control)
    est, se = float(fit.beta[0]), float(fit.se[0])
    notes: tuple[str, ...] = ()
    if method == "FE" and test != "z":
        notes = ("Knapp-Hartung adjustment is not meant for fixed-effect models",)
    pi_low = pi_high = None
    if method != "FE":  # a PI for random-effects models only
        pi_low, pi_high, pi_note = prediction_interval(fit, pi_type)
        notes += (pi_note,) if pi_note else ()
    return PooledResult(
        measure=measure,
        method=method,
        test=test,
        level=level,
        k=k,
        estimate=est,
        se=se,
        ci_low=float(fit.ci_low[0]),
        ci_high=float(fit.ci_high[0]),
        stat=float(fit.stat[0]),
        pval=float(fit.pval[0]),
        df=fit.df,
        q=fit.qe,
        q_df=fit.qe_df,
        q_pval=fit.qe_pval,
        tau2=fit.tau2,
        i2=fit.i2,
        h2=fit.h2,
        pi_low=pi_low,
        pi_high=pi_high,
        studies=labels,
        yi=tuple(float(t) for t in y),
        vi=tuple(float(t) for t in v),
        weights=tuple(float(t) for t in fit.weights),
        tau2_algorithm=fit.tau2_algorithm,
        tau2_iterations=fit.tau2_iterations,
        notes=notes,
    )


def _check_pi_type(pi_type: str) -> str:
    pi_type = pi_type.lower()
    if pi_type not in PI_TYPES:
        raise ValueError(
            f"unknown prediction interval type {pi_type!r}; expected one of {PI_TYPES}"
        )
    return pi_type


def prediction_interval(
    fit: UniFit, pi_type: str = "default"
) -> tuple[float | None, float | None, str | None]:
    """The prediction interval of an intercept-only random-effects fit, and a note if any.

    The first four forms are those of metafor 3.8-1's predict(pi.type=):
    - "default": the CI's critical value (z, or t with k-p df under knha/adhoc) times
      sqrt(SE^2 + tau^2), so the PI equals the CI when tau^2 = 0;
    - "riley": t with k-p-1 df (k-2 here), which metafor floors at 1 df (so k = 2 still gives one);
    - "t": t with k-p df whatever the test;
    - "simple": z times tau alone, ignoring the estimate's SE.
    "handbook" is the form of Higgins, Thompson & Spiegelhalter (2009) used by the Cochrane
    Handbook and RevMan: t with k-2 df times sqrt(SE^2 + tau^2). metafor has no such option;
    it equals "riley" for k >= 3 and, unlike metafor's floor, gives no interval for k < 3.
    """
    pi_type = _check_pi_type(pi_type)
    est, se = float(fit.beta[0]), float(fit.se[0])
    level = fit.level
    spread = math.sqrt(se**2 + fit.tau2)
    note: str | None = None
    if pi_type == "default":
        crit = fit.crit
    elif pi_type == "simple":
        crit = float(ndtri(0.5 + level / 2))
        spread = math.sqrt(fit.tau2)
        note = "prediction interval: z times tau (SE of the estimate ignored)"
    elif pi_type == "t":
        crit = float(stdtrit(fit.k - fit.p, 0.5 + level / 2))
        note = f"prediction interval: t with {fit.k - fit.p} df"
    elif pi_type == "riley":
        df = max(1, fit.k - fit.p - 1)
        crit = float(stdtrit(df, 0.5 + level / 2))
        note = f"prediction interval: t with {df} df (Riley et al. 2011)"
    else:
        df = fit.k - 2
        if df < 1:
            note = f"no prediction interval: the t(k - 2) form needs k >= 3 studies (k = {fit.k})"
            return None, None, note
        crit = float(stdtrit(df, 0.5 + level / 2))
        note = f"prediction interval: t with {df} df (Higgins et al. 2009)"
    return est - crit * spread, est + crit * spread, note


def _mh_risk_difference(
    a: FloatArray, c: FloatArray, n1: FloatArray, n2: FloatArray
) -> tuple[float, float, FloatArray]:
    """MH risk difference, Sato-Greenland-Robins variance (valid in sparse and large strata)."""
    nn = n1 + n2
    w = n1 * n2 / nn
    est = float(np.sum(a * n2 / nn - c * n1 / nn) / w.sum())
    p = np.sum(c * (n1 / nn) ** 2 - a * (n2 / nn) ** 2 + w / nn * (n2 - n1) / 2)
    q = np.sum(a * (n2 - c) / nn + c * (n1 - a) / nn) / 2
    var = float((est * p + q) / w.sum() ** 2)
    return est, var, w


def rma_mh(
    events_treat: ArrayLike,
    n_treat: ArrayLike,
    events_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    *,
    measure: str = "OR",
    studies: ArrayLike | None = None,
    level: float = 0.95,
) -> PooledResult:
    """Mantel-Haenszel fixed-effect pool of RR, OR or RD, equal to metafor's rma.mh.

    The estimate and its SE (Robins-Breslow-Greenland for OR, Greenland-Robins for RR,
    Sato-Greenland-Robins for RD) use the raw cells, so zero cells need no correction; for RD a
    double-zero table still carries information (its arms' sizes weigh the common difference).
    The Q test uses escalc's corrected yi/vi with double-zero tables left out, as rma.mh does by
    default.
    """
    measure = measure.upper()
    if measure not in ("RR", "OR", "RD"):
        raise ValueError("Mantel-Haenszel pooling is available for RR, OR and RD")
    level = check_level(level)
    es_all = escalc(
        measure,
        events_treat=events_treat,
        n_treat=n_treat,
        events_ctrl=events_ctrl,
        n_ctrl=n_ctrl,
        studies=studies,
    )
    if es_all.k == 0:
        raise ValueError("no studies to pool (k = 0)")
    a, b, c, d = table_cells(es_all)
    n1, n2 = a + b, c + d
    nn = n1 + n2
    if measure == "OR":
        r_i, s_i = a * d / nn, b * c / nn
        r, s = r_i.sum(), s_i.sum()
        if r == 0 or s == 0:
            raise ValueError("Mantel-Haenszel OR is undefined: no discordant information")
        p_i, q_i = (a + d) / nn, (b + c) / nn
        var = 0.5 * (
            np.sum(p_i * r_i) / r**2
            + np.sum(p_i * s_i + q_i * r_i) / (r * s)
            + np.sum(q_i * s_i) / s**2
        )
        w = s_i
    elif measure == "RD":
        est, var, w = _mh_risk_difference(a, c, n1, n2)
    else:
        r, s = np.sum(a * n2 / nn), np.sum(c * n1 / nn)
        if a.sum() == 0 or c.sum() == 0:
            raise ValueError("Mantel-Haenszel RR is undefined: no events in one arm")
        var = np.sum(n1 * n2 * (a + c) / nn**2 - a * c / nn) / (r * s)
        w = c * n1 / nn
    if measure != "RD":
        est = float(math.log(r / s))
    se = float(math.sqrt(var))

    es_q = escalc(
        measure,
        events_treat=events_treat,
        n_treat=n_treat,
        events_ctrl=events_ctrl,
        n_ctrl=n_ctrl,
        studies=studies,
        drop00=True,
    )
    k_yi = es_q.k
    q = q_df = q_pval = i2 = h2 = None
    if k_yi > 1:
        yq, vq = np.asarray(es_q.yi), np.asarray(es_q.vi)
        q = float(max(0.0, np.sum((yq - est) ** 2 / vq)))
        q_df = k_yi - 1
        q_pval = float(chdtrc(q_df, q))
        i2 = max(0.0, 100 * (q - q_df) / q) if q > 0 else 0.0
        h2 = q / q_df
    notes = (
        (f"Q uses {k_yi} of {es_all.k} tables (double-zero tables left out)",)
        if k_yi < es_all.k
        else ()
    )
    heterogeneity = (q, q_df, q_pval, i2, h2)
    return fixed_effect_result(measure, "MH", level, es_all, est, se, heterogeneity, w, notes)


def fixed_effect_result(
    measure: str,
    method: str,
    level: float,
    es: EffectSizes,
    est: float,
    se: float,
    heterogeneity: tuple[float | None, int | None, float | None, float | None, float | None],
    w: FloatArray,
    notes: tuple[str, ...],
) -> PooledResult:
    """The result of a fixed-effect pool of 2x2 tables (Mantel-Haenszel, Peto): a z test and
    interval, no tau^2 and no prediction interval. `heterogeneity` is (Q, df, p, I^2, H^2), all
    None when Q cannot be formed; `w` are the pool's own (unnormalised) weights."""
    q, q_df, q_pval, i2, h2 = heterogeneity
    z = est / se
    crit = critical_value(level, None)
    return PooledResult(
        measure=measure,
        method=method,
        test="z",
        level=level,
        k=es.k,
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        stat=z,
        pval=float(two_sided_p(z, None)),
        df=None,
        q=q,
        q_df=q_df,
        q_pval=q_pval,
        tau2=None,
        i2=i2,
        h2=h2,
        pi_low=None,
        pi_high=None,
        studies=es.studies,
        yi=es.yi,
        vi=es.vi,
        weights=tuple(float(t) for t in 100 * w / w.sum()),
        notes=notes,
    )
