"""Many intercept-only pools at once: `pool_many` is `rma` applied to every group of a study table.

One array of studies and a group index stand in for thousands of separate calls: every per-group
sum (sum w, sum w y, sum w r^2, ...) is one `np.bincount` over all studies, and REML's Fisher
scoring runs on all groups together, each group leaving the iteration when it meets metafor's
stopping rule (same start value, step, step-halving and iteration limit as `tau2.tau2_reml`).
Groups whose scoring does not converge get the same bracketed search `tau2_reml` falls back to;
groups of one study get `rma`'s single-study result (a z test and metafor's conventions for one
study: Q = 0 on 0 df, tau^2 = I^2 = 0, H^2 = 1, a prediction interval equal to the CI).
Paule-Mandel solves Q(tau^2) = k - 1 by Newton steps kept inside a bisection bracket (Q falls
monotonically in tau^2, so the root is the one Brent's method finds in `tau2_pm`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import chdtrc, ndtr, ndtri, stdtr, stdtrit

from evidence.meta._util import (
    ArrayLike,
    FloatArray,
    as_vector,
    check_level,
    require_finite,
    same_length,
)
from evidence.meta.fit import _EPS, _check_method_test
from evidence.meta.tau2 import (
    _DEFAULT_TOL,
    CLOSED_FORM,
    FALLBACK,
    FISHER,
    ConvergenceError,
    Tau2Control,
    _bracketed_reml,
)

if TYPE_CHECKING:
    import pandas as pd

NEWTON_BISECTION = "newton_bisection"
SINGLE_STUDY = "single_study"
_PM_MAXITER = 500


@dataclass(frozen=True, eq=False)
class BatchResult:
    """One row per group, in the sorted order of the group labels; arrays are read-only.

    Statistics a group cannot have are NaN in the arrays (k = 1: no df, Q, tau^2, I^2, H^2 or
    prediction interval; FE: no prediction interval) and None in `to_dict()`.
    """

    method: str
    test: str
    level: float
    groups: tuple[Any, ...]
    k: NDArray[np.int64]
    estimate: FloatArray
    se: FloatArray
    ci_low: FloatArray
    ci_high: FloatArray
    stat: FloatArray
    pval: FloatArray
    df: FloatArray
    q: FloatArray
    q_pval: FloatArray
    tau2: FloatArray
    i2: FloatArray
    h2: FloatArray
    pi_low: FloatArray
    pi_high: FloatArray
    tau2_algorithm: tuple[str, ...]
    tau2_iterations: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.groups)

    def columns(self) -> dict[str, Any]:
        """The per-group columns, in `to_frame()` order."""
        skip = {"method", "test", "level", "groups"}
        out: dict[str, Any] = {"group": list(self.groups)}
        out.update({f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip})
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        frame = pd.DataFrame(self.columns())
        frame.insert(1, "method", self.method)
        frame["test"] = np.where(self.k == 1, "z", self.test)
        return frame

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: lists per column, None where a statistic is undefined (never NaN)."""

        def clean(values: Any) -> list[Any]:
            if isinstance(values, np.ndarray) and values.dtype.kind == "f":
                return [None if not math.isfinite(x) else float(x) for x in values.tolist()]
            return list(values.tolist() if isinstance(values, np.ndarray) else values)

        return {
            "method": self.method,
            "test": self.test,
            "level": self.level,
            **{name: clean(col) for name, col in self.columns().items()},
        }


class _Groups:
    """Studies with their group codes; `sum` adds a per-study quantity within each group."""

    def __init__(self, codes: NDArray[np.intp], n: int) -> None:
        self.codes = codes
        self.n = n

    def sum(self, values: FloatArray) -> FloatArray:
        return np.bincount(self.codes, weights=values, minlength=self.n)

    def subset(self, mask: NDArray[np.bool_]) -> _Groups:
        return _Groups(self.codes[mask], self.n)


def _fit_parts(
    y: FloatArray, v: FloatArray, tau2: FloatArray, g: _Groups
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per group at the given tau^2: sum w, the weighted mean, sum w r^2, and per-study w r."""
    w = 1.0 / (v + tau2[g.codes])
    sw = g.sum(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = g.sum(w * y) / sw
    wr = w * (y - mean[g.codes])
    return sw, mean, g.sum(wr * (y - mean[g.codes])), wr


def _traces(v: FloatArray, tau2: FloatArray, g: _Groups) -> tuple[FloatArray, FloatArray]:
    """tr P and tr(PP) of each group's intercept-only fit with weights 1/(v + tau^2)."""
    w = 1.0 / (v + tau2[g.codes])
    sw, sw2, sw3 = g.sum(w), g.sum(w * w), g.sum(w * w * w)
    with np.errstate(invalid="ignore", divide="ignore"):
        return sw - sw2 / sw, sw2 - 2.0 * sw3 / sw + (sw2 / sw) ** 2


def _scoring_step(
    y: FloatArray, v: FloatArray, tau2: FloatArray, g: _Groups
) -> tuple[FloatArray, FloatArray]:
    """Each group's y'PPy - tr P and tr(PP) at its tau^2, from one pass over the studies."""
    w = 1.0 / (v + tau2[g.codes])
    ww = w * w
    sw, sw2, sw3 = g.sum(w), g.sum(ww), g.sum(ww * w)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = g.sum(w * y) / sw
        r = y - mean[g.codes]
        ypp = g.sum(ww * r * r)
        h = sw2 / sw
        return ypp - (sw - h), sw2 - 2.0 * sw3 / sw + h * h


def _loglik(y: FloatArray, v: FloatArray, tau2: FloatArray, g: _Groups) -> FloatArray:
    """Each group's restricted log-likelihood (as `tau2.reml_loglik`, without the constant)."""
    sw, _, rss, _ = _fit_parts(y, v, tau2, g)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -0.5 * g.sum(np.log(v + tau2[g.codes])) - 0.5 * np.log(sw) - 0.5 * rss


def _he(y: FloatArray, v: FloatArray, k: FloatArray, g: _Groups) -> FloatArray:
    """Hedges' estimator per group (untruncated), REML's start value."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = g.sum(y) / k
        rss = g.sum((y - mean[g.codes]) ** 2)
        return (rss - g.sum(v) * (1.0 - 1.0 / k)) / (k - 1.0)


def _halve(t: FloatArray, adj: FloatArray) -> None:
    """metafor's step-halving in place: halve each step until t + step >= 0.

    From t = 0 any negative step halves down to -0.0, so that case is set at once (the same
    value, without a thousand halvings); the rest loop on the few that need it.
    """
    adj[(t == 0) & (adj < 0)] = -0.0
    idx = np.flatnonzero(t + adj < 0)
    if idx.size:
        ti, ai = t[idx], adj[idx]
        neg = ti + ai < 0
        while neg.any():
            ai[neg] /= 2
            neg = ti + ai < 0
        adj[idx] = ai


def _label(groups: tuple[Any, ...], j: int) -> str:
    return f"group {groups[j]!r}"


def _reml(
    y: FloatArray,
    v: FloatArray,
    k: FloatArray,
    g: _Groups,
    multi: NDArray[np.bool_],
    control: Tau2Control,
    labels: tuple[Any, ...],
) -> tuple[FloatArray, list[str], NDArray[np.int64]]:
    """Fisher scoring on every group with k >= 2 at once, with per-group convergence masks."""
    start = _he(y, v, k, g) if control.reml_start is None else np.full(g.n, control.reml_start)
    tau2 = np.where(multi, np.maximum(0.0, np.nan_to_num(start)), 0.0)
    iterations = np.zeros(g.n, dtype=np.int64)
    failed = np.zeros(g.n, dtype=bool)
    # The working set: the groups still iterating, renumbered 0..m-1, with their studies; it is
    # shrunk whenever half of them have stopped.
    idx = np.flatnonzero(multi)
    rows = multi[g.codes]
    ys, vs = y[rows], v[rows]
    gs = _Groups(np.searchsorted(idx, g.codes[rows]), len(idx))
    t, it = tau2[idx], iterations[idx]
    active = np.ones(len(idx), dtype=bool)
    while len(idx):
        num, tr_pp = _scoring_step(ys, vs, t, gs)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            adj = num / tr_pp * control.reml_stepadj
        adj = np.where(active & ~np.isnan(adj), adj, 0.0)
        bad = np.flatnonzero(~np.isfinite(adj))
        if bad.size:
            raise ConvergenceError(
                f"REML: the step is not finite (effects or variances overflow) in "
                f"{_label(labels, int(idx[bad[0]]))}"
            )
        _halve(t, adj)
        it[active] += 1
        new = t + adj
        change = np.abs(t - new)
        t = np.where(active, new, t)
        over = active & (it > control.reml_maxiter)
        failed[idx[over]] = True
        active &= ~over & (change > control.reml_threshold)
        live = int(active.sum())
        if 2 * live <= len(idx):
            tau2[idx], iterations[idx] = t, it
            keep = active[gs.codes]
            idx, t, it = idx[active], t[active], it[active]
            ys, vs = ys[keep], vs[keep]
            gs = _Groups(np.cumsum(active)[gs.codes[keep]] - 1, live)
            active = np.ones(live, dtype=bool)
    converged = multi & ~failed
    check = converged & (tau2 > control.reml_threshold)
    if check.any():
        rows = check[g.codes]
        gs = g.subset(rows)
        ll0 = _loglik(y[rows], v[rows], np.zeros(g.n), gs)
        llt = _loglik(y[rows], v[rows], tau2, gs)
        with np.errstate(invalid="ignore"):
            tau2 = np.where(check & (ll0 - llt > _DEFAULT_TOL), 0.0, tau2)
    tau2 = np.where(converged, np.maximum(0.0, tau2), tau2)
    algorithm = [FISHER] * g.n
    if failed.any():
        if not control.reml_fallback:
            raise ConvergenceError(
                f"REML Fisher scoring did not converge in {control.reml_maxiter} iterations "
                f"in {_label(labels, int(np.flatnonzero(failed)[0]))}"
            )
        value, evaluations = _fallback(y, v, g, failed)
        tau2 = np.where(failed, value, tau2)
        iterations = np.where(failed, evaluations, iterations)
        for j in np.flatnonzero(failed):
            algorithm[j] = FALLBACK
    return tau2, algorithm, iterations


def _score(y: FloatArray, v: FloatArray, tau2: FloatArray, g: _Groups) -> FloatArray:
    """Each group's REML score (y'PPy - tr P) / 2 at its own tau^2."""
    wr = _fit_parts(y, v, tau2, g)[3]
    return 0.5 * (g.sum(wr * wr) - _traces(v, tau2, g)[0])


def _fallback(
    y: FloatArray, v: FloatArray, g: _Groups, failed: NDArray[np.bool_]
) -> tuple[FloatArray, NDArray[np.int64]]:
    """`tau2._bracketed_reml` for the failed groups together: the same grid per group, the
    log-likelihood on all grids at once, then bisection on the score inside the bracket around
    the best grid point (Brent's method in the scalar code; both find the score's root)."""
    rows = failed[g.codes]
    idx = np.flatnonzero(failed)  # work on the m failed groups, numbered 0..m-1
    order = np.argsort(g.codes[rows], kind="stable")
    ys, vs = y[rows][order], v[rows][order]
    codes = np.searchsorted(idx, g.codes[rows][order])
    m = len(idx)
    gs = _Groups(codes, m)
    starts = np.searchsorted(codes, np.arange(m))
    ends = np.searchsorted(codes, np.arange(m), side="right")
    grids = _grids(ys, vs, gs, starts, ends)
    ll = np.empty((m, 401))
    block = max(1, (1 << 20) // len(ys))
    for c in range(0, 401, block):
        vt = vs[:, None] + grids[codes, c : c + block]
        w = 1.0 / vt
        sw = np.add.reduceat(w, starts, axis=0)
        mean = np.add.reduceat(w * ys[:, None], starts, axis=0) / sw
        r = ys[:, None] - mean[codes]
        ll[:, c : c + block] = (
            -0.5 * np.add.reduceat(np.log(vt), starts, axis=0)
            - 0.5 * np.log(sw)
            - 0.5 * np.add.reduceat(w * r * r, starts, axis=0)
        )
    best = np.argmax(ll, axis=1)
    value = np.zeros(m)
    evaluations = np.full(m, 401, dtype=np.int64)
    at_zero = best == 0
    if at_zero.any():
        s0 = _score(ys, vs, np.zeros(m), gs)
        best = np.where(at_zero & (s0 > 0), 1, best)
    pending = best > 0
    lo = grids[np.arange(m), np.maximum(best - 1, 0)]
    hi = grids[np.arange(m), np.minimum(best + 1, 400)]
    bisect = pending & (_score(ys, vs, lo, gs) > 0) & (_score(ys, vs, hi, gs) < 0)
    for j in np.flatnonzero(pending & ~bisect):  # no sign change: the scalar bounded search
        a, b = starts[j], ends[j]
        value[j], evaluations[j] = _bracketed_reml(ys[a:b], vs[a:b], np.ones((b - a, 1)))
    value = np.where(bisect, _score_root(ys, vs, gs, lo, hi, bisect, evaluations), value)
    full_value = np.zeros(g.n)
    full_evaluations = np.zeros(g.n, dtype=np.int64)
    full_value[idx] = value
    full_evaluations[idx] = evaluations
    return full_value, full_evaluations


def _pm(
    y: FloatArray,
    v: FloatArray,
    k: FloatArray,
    g: _Groups,
    multi: NDArray[np.bool_],
    control: Tau2Control,
    labels: tuple[Any, ...],
) -> tuple[FloatArray, list[str], NDArray[np.int64]]:
    """Q(tau^2) = k - 1 per group: Newton steps, bisection whenever a step leaves the bracket."""
    target = k - 1.0
    zero = np.zeros(g.n)
    q0 = _fit_parts(y, v, zero, g)[2]
    solve = multi & (q0 >= target)
    algorithm = [CLOSED_FORM if m else SINGLE_STUDY for m in multi]
    iterations = np.zeros(g.n, dtype=np.int64)
    lo = np.zeros(g.n)
    hi = np.where(solve, np.maximum(100.0, 10.0 * g.sum(v) / np.maximum(k, 1)), 0.0)
    for _ in range(200):
        grow = solve & (_fit_parts(y, v, hi, g)[2] > target)
        if not grow.any():
            break
        hi = np.where(grow, hi * 2, hi)
    else:
        j = int(np.flatnonzero(grow)[0])
        raise ConvergenceError(
            f"Paule-Mandel: could not bracket the root of Q(tau^2) = k - p in {_label(labels, j)}"
        )
    t = lo.copy()
    active = solve.copy()
    for _ in range(_PM_MAXITER):
        if not active.any():
            break
        iterations[active] += 1
        _, _, q, wr = _fit_parts(y, v, t, g)
        slope = -g.sum(wr * wr)  # dQ/dtau^2 = -sum w^2 r^2
        f = q - target
        lo = np.where(active & (f > 0), t, lo)
        hi = np.where(active & (f < 0), t, hi)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(slope < 0, -f / slope, np.nan)
        nxt = t + step
        inside = np.isfinite(nxt) & (nxt > lo) & (nxt < hi)
        nxt = np.where(inside, nxt, 0.5 * (lo + hi))
        tol = 1e-15 + 4 * _EPS * np.abs(nxt)
        done = (np.abs(nxt - t) <= tol) | (f == 0) | (hi - lo <= tol)
        t = np.where(active, np.where(f == 0, t, nxt), t)
        active &= ~done
    if active.any():
        j = int(np.flatnonzero(active)[0])
        raise ConvergenceError(
            f"Paule-Mandel did not converge in {_PM_MAXITER} iterations in {_label(labels, j)}"
        )
    for j in np.flatnonzero(solve):
        algorithm[j] = NEWTON_BISECTION
    return np.where(solve, t, 0.0), algorithm, iterations


def _group_median(
    values: FloatArray, codes: NDArray[np.intp], starts: NDArray[np.intp], ends: NDArray[np.intp]
) -> FloatArray:
    """np.median of each group's values (groups contiguous in `codes` order)."""
    ordered = values[np.lexsort((values, codes))]
    n = ends - starts
    return 0.5 * (ordered[starts + (n - 1) // 2] + ordered[starts + n // 2])


def _grids(
    y: FloatArray,
    v: FloatArray,
    g: _Groups,
    starts: NDArray[np.intp],
    ends: NDArray[np.intp],
) -> FloatArray:
    """`tau2.reml_grid` for every group at once (rows sorted by group)."""
    med = _group_median(y, g.codes, starts, ends)
    mad = 1.4826 * _group_median(np.abs(y - med[g.codes]), g.codes, starts, ends)
    upper = np.maximum(np.maximum(100.0, 10 * mad**2), 10 * np.maximum.reduceat(v, starts))
    grow = _score(y, v, upper, g) > 0
    for _ in range(100):
        if not grow.any():
            break
        upper = np.where(grow, upper * 4, upper)
        grow &= _score(y, v, upper, g) > 0
    else:
        if grow.any():
            raise ConvergenceError("REML: the likelihood keeps increasing in tau^2")
    scale = np.maximum(np.minimum.reduceat(v, starts), 1e-12)
    grid = np.geomspace(scale * 1e-6, upper, 400, axis=1)
    return np.concatenate([np.zeros((len(starts), 1)), grid], axis=1)


def _score_root(
    y: FloatArray,
    v: FloatArray,
    g: _Groups,
    lo: FloatArray,
    hi: FloatArray,
    todo: NDArray[np.bool_],
    evaluations: NDArray[np.int64],
) -> FloatArray:
    """The score's root in [lo, hi] (score(lo) > 0 > score(hi)) by the Illinois variant of
    regula falsi, a bisection step whenever an interpolation falls outside the bracket."""
    f_lo, f_hi = _score(y, v, lo, g), _score(y, v, hi, g)
    side = np.zeros(len(lo), dtype=np.int8)  # which end moved last: -1 lo, +1 hi
    root = 0.5 * (lo + hi)
    active = todo.copy()
    for _ in range(1000):
        if not active.any():
            break
        with np.errstate(invalid="ignore", divide="ignore"):
            c = hi - f_hi * (hi - lo) / (f_hi - f_lo)
        c = np.where(np.isfinite(c) & (c > lo) & (c < hi), c, 0.5 * (lo + hi))
        f_c = _score(y, v, c, g)
        evaluations[active] += 1
        up = active & (f_c > 0)
        down = active & (f_c < 0)
        # Illinois: halve the value at the end that stays for the second time running.
        f_hi = np.where(up & (side == -1), 0.5 * f_hi, f_hi)
        f_lo = np.where(down & (side == 1), 0.5 * f_lo, f_lo)
        lo, f_lo = np.where(up, c, lo), np.where(up, f_c, f_lo)
        hi, f_hi = np.where(down, c, hi), np.where(down, f_c, f_hi)
        side = np.where(up, -1, np.where(down, 1, side)).astype(np.int8)
        root = np.where(active, c, root)
        active &= (f_c != 0) & (hi - lo > 1e-15 + 4 * _EPS * np.abs(c))
    return np.where(active, 0.5 * (lo + hi), root)


def _codes(group: ArrayLike, n: int) -> tuple[tuple[Any, ...], NDArray[np.intp]]:
    if hasattr(group, "to_numpy"):
        group = group.to_numpy()
    arr = np.asarray(group)
    if arr.ndim != 1 or len(arr) != n:
        raise ValueError(f"group must be one label per study ({n}), got shape {arr.shape}")
    try:
        labels, codes = np.unique(arr, return_inverse=True)
    except TypeError as exc:
        raise ValueError(f"group labels must be all numbers or all strings ({exc})") from None
    return tuple(labels.tolist()), codes.astype(np.intp)


def pool_many(
    yi: ArrayLike,
    vi: ArrayLike,
    group: ArrayLike,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: Tau2Control | None = None,
) -> BatchResult:
    """`rma(yi[g], vi[g], method, test, level)` for every group g at once.

    method: FE, DL, PM or REML; test: "z", "knha" or "adhoc" (as `rma`). Groups are the
    distinct values of `group`, reported in sorted order.
    """
    method, test = _check_method_test(method, test)
    level = check_level(level)
    control = control or Tau2Control()
    y = as_vector(yi, "yi")
    v = as_vector(vi, "vi")
    n = same_length(yi=y, vi=v)
    if n == 0:
        raise ValueError("no studies to pool (k = 0)")
    require_finite("yi", y)
    require_finite("vi", v)
    if (v <= 0).any():
        bad = np.flatnonzero(v <= 0).tolist()[:20]
        raise ValueError(f"sampling variances must be positive (positions {bad})")
    labels, codes = _codes(group, n)
    g = _Groups(codes, len(labels))
    k_int = np.bincount(codes, minlength=g.n).astype(np.int64)
    k = k_int.astype(float)
    multi = k_int >= 2
    single = ~multi

    if method == "REML":
        tau2, algorithm, iterations = _reml(y, v, k, g, multi, control, labels)
    elif method == "PM":
        tau2, algorithm, iterations = _pm(y, v, k, g, multi, control, labels)
    else:
        tau2 = np.zeros(g.n)
        if method == "DL":
            q0 = _fit_parts(y, v, tau2, g)[2]
            tr_p0 = _traces(v, tau2, g)[0]
            with np.errstate(invalid="ignore", divide="ignore"):
                tau2 = np.where(multi, np.maximum(0.0, (q0 - (k - 1)) / tr_p0), 0.0)
        algorithm = [CLOSED_FORM] * g.n
        iterations = np.zeros(g.n, dtype=np.int64)
    for j in np.flatnonzero(single):
        algorithm[j] = SINGLE_STUDY

    # The pooled estimate at the chosen tau^2.
    sw, est, rss, _ = _fit_parts(y, v, tau2, g)
    vb = 1.0 / sw
    knha = multi & (test in ("knha", "adhoc"))
    with np.errstate(invalid="ignore", divide="ignore"):
        s2w = np.where(rss <= _EPS, 0.0, rss / (k - 1))
    if test == "adhoc":
        s2w = np.maximum(1.0, s2w)
    vb = np.where(knha, vb * s2w, vb)
    se = np.sqrt(vb)
    df = np.where(knha, k - 1, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        stat = est / se
    t_df = np.where(knha, df, 1.0)  # any valid df where the t distribution is not used
    pval = np.where(knha, 2 * stdtr(t_df, -np.abs(stat)), 2 * ndtr(-np.abs(stat)))
    crit = np.where(knha, stdtrit(t_df, 0.5 + level / 2), ndtri(0.5 + level / 2))

    # Heterogeneity from the fixed-effect fit.
    zero = np.zeros(g.n)
    q = np.maximum(0.0, _fit_parts(y, v, zero, g)[2])
    qdf = k - 1
    tr_p = _traces(v, zero, g)[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        vt = qdf / tr_p
        if method == "FE":
            i2 = np.where(q > 0, np.maximum(0.0, 100 * (q - qdf) / q), 0.0)
            h2 = q / qdf
        else:
            i2 = 100 * tau2 / (vt + tau2)
            h2 = tau2 / vt + 1
        q_pval = chdtrc(qdf, q)
    half = crit * np.sqrt(se * se + tau2)
    no_pi = np.full(g.n, method == "FE")
    nan = np.full(g.n, np.nan)

    def for_single(a: FloatArray, convention: float) -> FloatArray:
        """metafor's value for a one-study group (a convention, not an estimate)."""
        return _frozen(np.where(single, convention, a))

    return BatchResult(
        method=method,
        test=test,
        level=level,
        groups=labels,
        k=_frozen(k_int),
        estimate=_frozen(est),
        se=_frozen(se),
        ci_low=_frozen(est - crit * se),
        ci_high=_frozen(est + crit * se),
        stat=_frozen(stat),
        pval=_frozen(pval),
        df=_frozen(df),
        q=for_single(q, 0.0),
        q_pval=for_single(q_pval, 1.0),
        tau2=for_single(tau2, 0.0),
        i2=for_single(i2, 0.0),
        h2=for_single(h2, 1.0),
        pi_low=_frozen(np.where(no_pi, nan, est - half)),
        pi_high=_frozen(np.where(no_pi, nan, est + half)),
        tau2_algorithm=tuple(algorithm),
        tau2_iterations=_frozen(iterations),
    )


def _frozen(a: NDArray[Any]) -> NDArray[Any]:
    out = np.array(a)
    out.setflags(write=False)
    return out
