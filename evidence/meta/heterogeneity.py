"""How uncertain the heterogeneity is: Q-profile confidence intervals for tau^2, tau, I^2, H^2.

The Q-profile interval (Viechtbauer 2007) inverts the generalised Q statistic: Q(tau^2), the
weighted residual sum of squares with weights 1/(v + tau^2), follows a chi-square with k - p df
at the true tau^2 and falls as tau^2 grows, so the bounds are the tau^2 at which Q(tau^2) meets
the upper and lower chi-square quantiles. This is what metafor 3.8-1's confint() does for rma.uni
models fitted with DL, PM or REML; the search interval, the truncation at its lower end and the
"<"/">" markers follow it. Q(tau^2) is computed from a weighted least-squares fit, so memory stays
linear in k.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.special import chdtri, gammaincinv

from evidence.meta._util import ArrayLike, FloatArray, check_level, design_matrix
from evidence.meta.fit import _unpack, rma_uni
from evidence.meta.results import EffectSizes
from evidence.meta.roots import brent
from evidence.meta.tau2 import ConvergenceError, Tau2Control

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Tau2Interval:
    """Estimates and Q-profile bounds of tau^2, tau, I^2 (percent) and H^2.

    `low_sign` / `high_sign` are "" when the bound was found, "<" when it lies below the searched
    interval's lower end `tau2_min` (printed there by metafor as "<value") and ">" when it lies
    above `tau2_max`. `empty` is metafor's null-set case: both bounds below tau2_min = 0. A bound
    the search could not find is None, with a note.
    """

    method: str
    level: float
    k: int
    p: int
    tau2: float
    tau2_low: float | None
    tau2_high: float | None
    tau: float | None
    tau_low: float | None
    tau_high: float | None
    i2: float
    i2_low: float | None
    i2_high: float | None
    h2: float
    h2_low: float | None
    h2_high: float | None
    low_sign: str
    high_sign: str
    empty: bool
    tau2_min: float
    tau2_max: float
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "method": self.method,
            "level": self.level,
            "k": self.k,
            "p": self.p,
        }
        for row in self.rows():
            name = row["parameter"]
            out[name] = row["estimate"]
            out[f"{name}_ci_low"] = row["ci_low"]
            out[f"{name}_ci_high"] = row["ci_high"]
        out.update(
            low_sign=self.low_sign,
            high_sign=self.high_sign,
            empty=self.empty,
            tau2_min=self.tau2_min,
            tau2_max=self.tau2_max,
            notes=list(self.notes),
        )
        return out

    def rows(self) -> list[dict[str, Any]]:
        return [
            {"parameter": "tau2", "estimate": self.tau2, "ci_low": self.tau2_low,
             "ci_high": self.tau2_high},
            {"parameter": "tau", "estimate": self.tau, "ci_low": self.tau_low,
             "ci_high": self.tau_high},
            {"parameter": "i2", "estimate": self.i2, "ci_low": self.i2_low,
             "ci_high": self.i2_high},
            {"parameter": "h2", "estimate": self.h2, "ci_low": self.h2_low,
             "ci_high": self.h2_high},
        ]  # fmt: skip

    def to_frame(self) -> pd.DataFrame:
        """One row per parameter, with the signs of the bounds."""
        import pandas as pd

        frame = pd.DataFrame(self.rows())
        frame["low_sign"] = self.low_sign
        frame["high_sign"] = self.high_sign
        return frame


def q_at(tau2: float, y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """Generalised Q: the residual sum of squares of the WLS fit with weights 1/(v + tau^2)."""
    w = 1.0 / (v + tau2)
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(x * sw[:, None], y * sw, rcond=None)[0]
    resid = y - x @ beta
    return float(np.sum(w * resid * resid))


def typical_variance(v: FloatArray, x: FloatArray) -> float:
    """metafor's 'typical' sampling variance (k - p) / tr(P) that turns tau^2 into I^2 and H^2.

    tr(P) = sum(w) - sum_i w_i^2 x_i'(X'WX)^-1 x_i with W = diag(1/v): no k x k matrix needed.
    """
    k, p = x.shape
    w = 1.0 / v
    xw = x * w[:, None]
    inv = np.linalg.inv(x.T @ xw)
    trace = float(w.sum() - np.einsum("ij,jk,ik->", xw, inv, xw))
    return (k - p) / trace


def _root(
    target: float, y: FloatArray, v: FloatArray, x: FloatArray, lo: float, hi: float
) -> float:
    found = brent(lambda t: q_at(t, y, v, x) - target, lo, hi, xtol=1e-15, maxiter=1000)
    if not found.converged:
        raise ConvergenceError(
            f"Q-profile search did not converge in {found.iterations} iterations"
        )
    return found.root


def confint_tau2(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    mods: ArrayLike | None = None,
    method: str = "REML",
    level: float = 0.95,
    control: Tau2Control | None = None,
    tau2_min: float | None = None,
    tau2_max: float | None = None,
) -> Tau2Interval:
    """Q-profile CI of the (residual) heterogeneity of rma(yi, vi, mods, method), as confint().

    `mods` (1-D, or 2-D with one column per moderator) adds moderators to an intercept. The bound
    search runs over [tau2_min, tau2_max], by default metafor's [min(0, tau^2),
    max(100, 10 tau^2, 10 tau2_min)].
    """
    y, v, _, _ = _unpack(yi, vi, None, None)
    k = len(y)
    level = check_level(level)
    if method.upper() == "FE" or method.upper() == "MH":
        raise ValueError(
            f"method {method!r} has no random-effects component: no interval for tau^2"
        )
    if k < 2:
        raise ValueError(f"an interval for tau^2 needs at least 2 studies, got {k}")
    if (v <= 0).any():
        raise ValueError("sampling variances must be positive for the Q-profile interval")
    x, _ = design_matrix(k, mods)
    p = x.shape[1]
    fit = rma_uni(y, v, x, method=method, level=level, control=control)
    lo_end = min(0.0, fit.tau2) if tau2_min is None else float(tau2_min)
    hi_end = max(100.0, 10 * fit.tau2, 10 * lo_end) if tau2_max is None else float(tau2_max)
    df = k - p
    alpha = 1 - level
    # chi2.isf and chi2.ppf as scipy.stats computes them, without importing scipy.stats (a
    # second at every start): the chi^2 quantiles Q meets at the lower and upper tau^2 bounds
    crit_high_q = float(chdtri(df, alpha / 2))
    crit_low_q = float(2 * gammaincinv(df / 2, alpha / 2))
    q_lo_end = q_at(lo_end, y, v, x)
    q_hi_end = q_at(hi_end, y, v, x)
    notes: list[str] = []
    low: float | None
    high: float | None
    low_sign = high_sign = ""
    empty = False

    # Upper bound: where Q(tau^2) falls to the lower chi-square quantile.
    if q_lo_end < crit_low_q:
        low = high = lo_end
        low_sign = high_sign = "<"
        empty = lo_end <= 0
    elif q_hi_end > crit_low_q:
        high, high_sign = hi_end, ">"
    else:
        high = _search(crit_low_q, y, v, x, lo_end, hi_end, "upper", notes)
    # Lower bound: where Q(tau^2) falls to the upper chi-square quantile.
    if q_hi_end > crit_high_q:
        low = high = hi_end
        low_sign = high_sign = ">"
    elif q_lo_end < crit_high_q:
        low = lo_end
        if lo_end > 0:
            low_sign = "<"
        elif not empty:
            notes.append(
                f"lower bound truncated at {lo_end:g}: Q({lo_end:g}) = {q_lo_end:.4g} is "
                f"below the upper {df}-df chi-square quantile {crit_high_q:.4g}"
            )
    else:
        low = _search(crit_high_q, y, v, x, lo_end, hi_end, "lower", notes)

    if empty:
        notes.append(
            f"both bounds fall below {lo_end:g}: Q({lo_end:g}) = {q_lo_end:.4g} is below the lower "
            f"{df}-df chi-square quantile {crit_low_q:.4g}, so the CI is the empty set"
        )
    elif low_sign == "<" and high_sign == "<":
        notes.append(f"both bounds fall below tau2_min = {lo_end:g}; lower tau2_min")
    elif low_sign == "<":
        notes.append(f"the lower bound falls below tau2_min = {lo_end:g}; lower tau2_min")
    if low_sign == ">":
        notes.append(f"both bounds lie above tau2_max = {hi_end:g}; raise tau2_max")
    elif high_sign == ">":
        notes.append(f"the upper bound lies above tau2_max = {hi_end:g}; raise tau2_max")

    vt = typical_variance(v, x)
    return Tau2Interval(
        method=fit.method,
        level=level,
        k=k,
        p=p,
        tau2=fit.tau2,
        tau2_low=low,
        tau2_high=high,
        tau=_sqrt(fit.tau2),
        tau_low=_sqrt(low),
        tau_high=_sqrt(high),
        i2=fit.i2,
        i2_low=_i2(low, vt),
        i2_high=_i2(high, vt),
        h2=fit.h2,
        h2_low=_h2(low, vt),
        h2_high=_h2(high, vt),
        low_sign=low_sign,
        high_sign=high_sign,
        empty=empty,
        tau2_min=lo_end,
        tau2_max=hi_end,
        notes=tuple(notes),
    )


def _search(
    target: float,
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    lo: float,
    hi: float,
    which: str,
    notes: list[str],
) -> float | None:
    try:
        return _root(target, y, v, x, lo, hi)
    except (ConvergenceError, ValueError) as exc:
        notes.append(f"the {which} bound could not be found: {exc}")
        return None


def _sqrt(t: float | None) -> float | None:
    return None if t is None or t < 0 else math.sqrt(t)


def _i2(t: float | None, vt: float) -> float | None:
    return None if t is None else 100 * t / (vt + t)


def _h2(t: float | None, vt: float) -> float | None:
    return None if t is None else t / vt + 1


def cli_confint(es: EffectSizes, pooled: Any, options: dict[str, Any]) -> dict[str, Any]:
    """`evidence meta --also confint`: the Q-profile interval of the pooled model's tau^2."""
    method = str(options["method"]).upper()
    if method in ("FE", "MH"):
        return {"notes": [f"method {method} has no random-effects component: no interval"]}
    if es.k < 2:
        return {"notes": [f"k = {es.k}: no interval for tau^2"]}
    return confint_tau2(es, method=method, level=float(options["level"])).to_dict()
