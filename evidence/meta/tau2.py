"""Between-study variance (tau^2) estimators for a (mixed-effects) model y = X b + u + e.

Written for a general design matrix so that the same code serves plain pooling, subgroup
factor models, meta-regression and Egger's mixed-effects test, as metafor's rma.uni does.

- DerSimonian-Laird: closed form, truncated at 0 (statsmodels does not truncate).
- Paule-Mandel: root of the generalised Q statistic = k - p, by Brent's method with a tight
  tolerance; a failed search raises instead of returning a half-converged value.
- REML: metafor's Fisher scoring with step-halving (same start value, update and stopping rule,
  so it reproduces metafor's iterates). If it does not converge we fall back to a bracketed
  search on the REML log-likelihood and its score, which converges wherever a maximum exists.
  The result records which algorithm produced the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from evidence.meta._util import FloatArray, r_mad
from evidence.meta.roots import brent

FISHER = "fisher_scoring"
FALLBACK = "bracketed_reml_search"
BRENT = "brent_root"
CLOSED_FORM = "closed_form"

_DEFAULT_TOL = float(np.finfo(float).eps ** 0.25)  # metafor's con$tol, used by its ll0 check


class ConvergenceError(RuntimeError):
    """An iterative tau^2 estimator failed; never swallowed silently."""


@dataclass(frozen=True)
class Tau2Estimate:
    """A tau^2 value and how it was obtained."""

    value: float
    algorithm: str
    iterations: int | None = None


@dataclass(frozen=True)
class Tau2Control:
    """Tuning of the iterative estimators.

    The REML defaults are tighter than metafor's (threshold 1e-5) so that the result is the
    REML estimate to about 1e-10; pass `reml_threshold=1e-5` to reproduce metafor's default
    stopping point exactly.
    """

    reml_threshold: float = 1e-10
    reml_maxiter: int = 100
    reml_stepadj: float = 1.0
    reml_fallback: bool = True
    pm_xtol: float = 1e-14
    pm_maxiter: int = 500
    reml_start: float | None = None


class Projection:
    """The residual maker P = W - W X (X'WX)^-1 X'W of a weighted fit, without forming it.

    P is k x k; everything REML, DL, PM and Q need from it (P y, y'P y, y'PPy, tr P, tr PP,
    the hat diagonal) is a weighted sum over the k studies once the whitened design
    sqrt(W) X = Q R is factored, so memory stays O(k p) and time O(k p^2).
    """

    __slots__ = ("_q", "_r", "_sw", "_x", "h", "w")

    def __init__(self, v: FloatArray, x: FloatArray) -> None:
        self.w = 1.0 / v
        self._sw = np.sqrt(self.w)
        self._x = x
        xs = x * self._sw[:, None]
        if x.shape[1] == 1:
            norm = math.sqrt(float(xs[:, 0] @ xs[:, 0]))
            self._q = xs / norm
            self._r = np.array([[norm]])
        else:
            self._q, self._r = np.linalg.qr(xs)
        self.h = np.einsum("ij,ij->i", self._q, self._q)

    def coefficients(self, y: FloatArray) -> FloatArray:
        """b = (X'WX)^-1 X'W y, solved through R b = Q' sqrt(W) y."""
        qty = self._q.T @ (y * self._sw)
        if qty.shape[0] == 1:
            return qty / self._r[0, 0]
        return np.linalg.solve(self._r, qty)

    def whitened_residuals(self, y: FloatArray) -> FloatArray:
        """sqrt(W) (y - X b): the weighted fit's residuals, scaled so their squares sum to y'Py.

        The residuals are taken on the scale of y, where an error in b moves y'Py only to
        second order (b minimises it), so effects sharing a large offset lose no digits.
        """
        return self._sw * (y - self._x @ self.coefficients(y))

    def apply(self, y: FloatArray) -> FloatArray:
        """P y = W (y - X b)."""
        return self._sw * self.whitened_residuals(y)

    def quadratic(self, y: FloatArray) -> float:
        """y'P y: the weighted residual sum of squares (Cochran's generalised Q)."""
        e = self.whitened_residuals(y)
        return float(e @ e)

    def trace(self) -> float:
        """tr P = sum w (1 - h)."""
        return float(self.w @ (1.0 - self.h))

    def trace_square(self) -> float:
        """tr(PP) = sum w^2 (1 - 2h) + ||Q'WQ||_F^2."""
        m = self._q.T @ (self._q * self.w[:, None])
        return float((self.w * self.w) @ (1.0 - 2.0 * self.h) + np.sum(m * m))


def hat_diagonal(v: FloatArray, x: FloatArray) -> FloatArray:
    """Leverages h_i = w_i x_i' (X'WX)^-1 x_i of the fit with weights 1/v."""
    return Projection(v, x).h


def q_statistic(y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """Cochran's (generalised) Q with weights 1/v."""
    return max(0.0, Projection(v, x).quadratic(y))


def tau2_he(y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """Hedges' estimator (untruncated); metafor starts REML's Fisher scoring from it.

    (RSS - tr((I - H) V)) / (k - p) with H the unweighted hat matrix: the OLS residuals and
    leverages give both terms.
    """
    k, p = x.shape
    ols = Projection(np.ones(k), x)
    rss = ols.quadratic(y)
    return (rss - float(v @ (1.0 - ols.h))) / (k - p)


def tau2_dl(y: FloatArray, v: FloatArray, x: FloatArray) -> Tau2Estimate:
    """DerSimonian-Laird, truncated at 0 so weights can never turn negative."""
    k, p = x.shape
    proj = Projection(v, x)
    raw = (proj.quadratic(y) - (k - p)) / proj.trace()
    return Tau2Estimate(max(0.0, raw), CLOSED_FORM)


def _q_gen(tau2: float, y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    return Projection(v + tau2, x).quadratic(y)


def tau2_pm(
    y: FloatArray, v: FloatArray, x: FloatArray, control: Tau2Control | None = None
) -> Tau2Estimate:
    """Paule-Mandel: Q(tau^2) = k - p, solved by Brent's method (Q decreases in tau^2)."""
    control = control or Tau2Control()
    k, p = x.shape
    target = k - p
    if _q_gen(0.0, y, v, x) < target:
        return Tau2Estimate(0.0, CLOSED_FORM)
    upper = max(100.0, 10 * r_mad(y) ** 2)
    doublings = 0
    while _q_gen(upper, y, v, x) > target:
        upper *= 2
        doublings += 1
        if doublings > 200:
            raise ConvergenceError("Paule-Mandel: could not bracket the root of Q(tau^2) = k - p")
    found = brent(
        lambda t: _q_gen(t, y, v, x) - target,
        0.0,
        upper,
        xtol=control.pm_xtol,
        maxiter=control.pm_maxiter,
    )
    if not found.converged:
        raise ConvergenceError(f"Paule-Mandel did not converge in {control.pm_maxiter} iterations")
    return Tau2Estimate(found.root, BRENT, found.iterations)


def reml_loglik(tau2: float, y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """Restricted log-likelihood in tau^2, up to a constant (metafor's ll.REML without it)."""
    vt = v + tau2
    w = 1.0 / vt
    wx = x * w[:, None]
    xtwx = x.T @ wx
    beta = np.linalg.solve(xtwx, wx.T @ y)
    resid = y - x @ beta
    _, logdet = np.linalg.slogdet(xtwx)
    return float(-0.5 * np.sum(np.log(vt)) - 0.5 * logdet - 0.5 * np.sum(w * resid**2))


def reml_score(tau2: float, y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """d ll_REML / d tau^2 = (y'PPy - tr P) / 2."""
    proj = Projection(v + tau2, x)
    py = proj.apply(y)
    return float(0.5 * (py @ py - proj.trace()))


def _fisher_scoring(
    y: FloatArray, v: FloatArray, x: FloatArray, control: Tau2Control
) -> tuple[float, int, bool]:
    """metafor's REML iteration: tau2 += (y'PPy - trP) / tr(PP), halving steps below 0."""
    start = tau2_he(y, v, x) if control.reml_start is None else control.reml_start
    tau2 = max(0.0, start)
    iterations = 0
    change = control.reml_threshold + 1
    while change > control.reml_threshold:
        iterations += 1
        old = tau2
        proj = Projection(v + tau2, x)
        py = proj.apply(y)
        adj = (py @ py - proj.trace()) / proj.trace_square()
        adj = float(adj) * control.reml_stepadj
        if math.isnan(adj):
            adj = 0.0
        if not math.isfinite(adj):  # overflowing inputs: halving an infinite step never ends
            raise ConvergenceError("REML: the step is not finite (effects or variances overflow)")
        if tau2 == 0 and adj < 0:
            adj = -0.0  # where halving from 0 ends, without the thousand steps
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iterations > control.reml_maxiter:
            return tau2, iterations, False
    return tau2, iterations, True


def reml_grid(y: FloatArray, v: FloatArray, x: FloatArray) -> FloatArray:
    """The fallback's search grid: 0, then 400 points from far below min(v) to an upper end
    grown until the score is negative there (the likelihood then decreases for good)."""
    upper = max(100.0, 10 * r_mad(y) ** 2, 10 * float(np.max(v)))
    grows = 0
    while reml_score(upper, y, v, x) > 0:
        upper *= 4
        grows += 1
        if grows > 100:
            raise ConvergenceError("REML: the likelihood keeps increasing in tau^2")
    scale = max(float(np.min(v)), 1e-12)
    return np.concatenate([[0.0], np.geomspace(scale * 1e-6, upper, 400)])


def _grid_loglik(grid: FloatArray, y: FloatArray, v: FloatArray, x: FloatArray) -> FloatArray:
    """reml_loglik at every grid point; one-column models in blocks of grid points at once."""
    if x.shape[1] != 1:
        return np.array([reml_loglik(t, y, v, x) for t in grid])
    col = x[:, 0]
    out = np.empty(len(grid))
    step = max(1, (1 << 18) // len(y))
    for start in range(0, len(grid), step):
        vt = v[None, :] + grid[start : start + step, None]
        w = 1.0 / vt
        wx = w * col
        sxx = wx @ col
        resid = y[None, :] - ((wx @ y) / sxx)[:, None] * col[None, :]
        out[start : start + step] = (
            -0.5 * np.log(vt).sum(axis=1)
            - 0.5 * np.log(np.abs(sxx))
            - 0.5 * (w * resid * resid).sum(axis=1)
        )
    return out


def _bracketed_reml(y: FloatArray, v: FloatArray, x: FloatArray) -> tuple[float, int]:
    """Global REML maximum on [0, inf): grid over a bracket, then a root of the score.

    The best grid point (`reml_grid`) localises the maximum, and Brent's method on the score
    (or a bounded 1-D maximisation if the score does not change sign there) refines it.
    """
    grid = reml_grid(y, v, x)
    ll = _grid_loglik(grid, y, v, x)
    i = int(np.argmax(ll))
    evaluations = len(grid)
    if i == 0:
        if reml_score(0.0, y, v, x) <= 0:
            return 0.0, evaluations
        i = 1
    lo = grid[i - 1]
    hi = grid[min(i + 1, len(grid) - 1)]
    s_lo, s_hi = reml_score(lo, y, v, x), reml_score(hi, y, v, x)
    if s_lo > 0 > s_hi:
        found = brent(lambda t: reml_score(t, y, v, x), lo, hi, xtol=1e-15, maxiter=500)
        if not found.converged:
            raise ConvergenceError("REML: Brent's method on the score did not converge")
        return found.root, evaluations + found.function_calls
    from scipy.optimize import minimize_scalar  # imported here: slow to load, rarely needed

    opt = minimize_scalar(
        lambda t: -reml_loglik(t, y, v, x),
        bounds=(lo, hi),
        method="bounded",
        options={"xatol": 1e-14, "maxiter": 1000},
    )
    if not opt.success:
        raise ConvergenceError(f"REML: bounded search failed ({opt.message})")
    return float(opt.x), evaluations + int(opt.nfev)


def tau2_reml(
    y: FloatArray, v: FloatArray, x: FloatArray, control: Tau2Control | None = None
) -> Tau2Estimate:
    """REML by metafor's Fisher scoring; a bracketed search takes over if that fails."""
    control = control or Tau2Control()
    tau2, iterations, converged = _fisher_scoring(y, v, x, control)
    if converged:
        # metafor's check against being stuck at a local maximum away from 0.
        if tau2 > control.reml_threshold and (
            reml_loglik(0.0, y, v, x) - reml_loglik(tau2, y, v, x) > _DEFAULT_TOL
        ):
            tau2 = 0.0
        return Tau2Estimate(max(0.0, tau2), FISHER, iterations)
    if not control.reml_fallback:
        raise ConvergenceError(
            f"REML Fisher scoring did not converge in {control.reml_maxiter} iterations"
        )
    value, evaluations = _bracketed_reml(y, v, x)
    return Tau2Estimate(value, FALLBACK, evaluations)


def estimate_tau2(
    method: str,
    y: FloatArray,
    v: FloatArray,
    x: FloatArray,
    control: Tau2Control | None = None,
) -> Tau2Estimate:
    """Dispatch on metafor's method name."""
    if method == "FE":
        return Tau2Estimate(0.0, CLOSED_FORM)
    if method == "DL":
        return tau2_dl(y, v, x)
    if method == "PM":
        return tau2_pm(y, v, x, control)
    if method == "REML":
        return tau2_reml(y, v, x, control)
    raise ValueError(f"unknown method {method!r}; expected FE, DL, PM or REML")
