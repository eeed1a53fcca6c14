"""Multilevel and multivariate models with known sampling covariance (metafor's rma.mv).

The marginal covariance is M = V + sum_r theta_r D_r: V is the known sampling covariance and the
D_r are fixed 0/1 pattern matrices, one per variance/covariance parameter theta_r of the random
effects (`~ 1 | a/b` gives one sigma^2 per nesting level; `~ inner | outer` gives the G matrix
of struct "CS", "DIAG" or "UN"). M is block-diagonal over clusters (rows linked by V or by a
random-effect grouping), so every computation runs per block and memory is O(sum of block^2).

Beta is profiled out by GLS. The (restricted) likelihood is maximised with L-BFGS-B on a
log / atanh / log-Cholesky parameterisation and then polished by Fisher scoring on theta itself
(M is linear in theta), which reaches the estimate to machine precision; components that sit
on the zero boundary are fixed at exactly 0 when their score there is not positive.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import linalg, optimize, stats

from evidence.meta._util import FloatArray, as_vector, check_level, require_finite
from evidence.meta.covariance import BlockCovariance
from evidence.meta.results import Coefficient

if TYPE_CHECKING:
    import pandas as pd

STRUCTS = ("CS", "DIAG", "UN")
MV_METHODS = ("REML", "ML")
MV_TESTS = ("z", "t")
DENSE_LIMIT = 4000
_LOG2PI = math.log(2 * math.pi)
_ZERO = 10 * float(np.finfo(float).eps)

_FORMULA = re.compile(r"^\s*~\s*(?P<inner>[A-Za-z_.][\w.]*|1)\s*\|\s*(?P<outer>[\w./\s]+?)\s*$")


# ---------------------------------------------------------------------------- random terms


@dataclass(frozen=True)
class _Intercepts:
    """One sigma^2: rows with the same key share a random effect."""

    name: str
    keys: tuple[Any, ...]


@dataclass(frozen=True)
class _Inner:
    """`~ inner | outer`: effects of the inner levels within each outer group, covariance G."""

    inner_name: str
    outer_name: str
    inner: tuple[str, ...]
    outer: tuple[Any, ...]
    levels: tuple[str, ...]
    struct: str


def _column(data: Mapping[str, Any], name: str, k: int) -> tuple[Any, ...]:
    if name not in data:
        raise ValueError(f"random: column {name!r} is not in data (columns: {sorted(data)})")
    col = data[name]
    values = tuple(col.tolist() if hasattr(col, "tolist") else col)
    if len(values) != k:
        raise ValueError(f"random: column {name!r} has {len(values)} rows, yi has {k}")
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        raise ValueError(f"random: column {name!r} has missing values")
    return values


def parse_random(
    random: str | Sequence[str], data: Mapping[str, Any], k: int, struct: str
) -> tuple[tuple[_Intercepts, ...], _Inner | None]:
    """Read metafor-style formulas: `~ 1 | a`, `~ 1 | a/b/c` (nested) and `~ inner | outer`."""
    formulas = [random] if isinstance(random, str) else list(random)
    intercepts: list[_Intercepts] = []
    inner: _Inner | None = None
    for formula in formulas:
        m = _FORMULA.match(formula)
        if m is None:
            raise ValueError(
                f"random: cannot read {formula!r}; expected '~ 1 | a', '~ 1 | a/b' "
                "or '~ inner | outer'"
            )
        outer_names = [part.strip() for part in m["outer"].split("/")]
        if m["inner"] == "1":
            cols = [_column(data, name, k) for name in outer_names]
            for depth in range(1, len(cols) + 1):
                keys = tuple(zip(*cols[:depth], strict=True))
                intercepts.append(_Intercepts("/".join(outer_names[:depth]), keys))
            continue
        if inner is not None:
            raise ValueError("random: only one '~ inner | outer' term is supported")
        if len(outer_names) != 1:
            raise ValueError(f"random: the outer factor of {formula!r} must be one column")
        if struct not in STRUCTS:
            raise ValueError(f"unknown struct {struct!r}; expected one of {STRUCTS}")
        in_col = tuple(str(v) for v in _column(data, m["inner"], k))
        inner = _Inner(
            inner_name=m["inner"],
            outer_name=outer_names[0],
            inner=in_col,
            outer=_column(data, outer_names[0], k),
            levels=tuple(sorted(set(in_col))),
            struct=struct,
        )
    return tuple(intercepts), inner


# ---------------------------------------------------------------------- sampling covariance


def _sampling_blocks(v_in: Any, k: int) -> list[tuple[np.ndarray, FloatArray]]:
    """V as (row indices, block) pairs: a vector, a dense k x k array, or diagonal blocks."""
    if isinstance(v_in, BlockCovariance):
        if v_in.k != k:
            raise ValueError(f"V covers {v_in.k} rows, yi has {k}")
        blocks = [
            (np.array(rows), np.asarray(b, dtype=float))
            for rows, b in zip(v_in.rows, v_in.blocks, strict=True)
        ]
    elif isinstance(v_in, (list, tuple)) and v_in and np.ndim(v_in[0]) == 2:
        blocks: list[tuple[np.ndarray, FloatArray]] = []
        start = 0
        for j, block in enumerate(v_in):
            b = np.atleast_2d(np.asarray(block, dtype=float))
            if b.shape[0] != b.shape[1]:
                raise ValueError(f"V block {j} is not square: shape {b.shape}")
            blocks.append((np.arange(start, start + b.shape[0]), b))
            start += b.shape[0]
        if start != k:
            raise ValueError(f"V blocks cover {start} rows, yi has {k}")
    else:
        arr = np.asarray(v_in, dtype=float)
        if arr.ndim == 1:
            if arr.shape[0] != k:
                raise ValueError(f"V has {arr.shape[0]} variances, yi has {k}")
            blocks = [(np.array([i]), arr[i].reshape(1, 1)) for i in range(k)]
        elif arr.ndim == 2:
            if arr.shape != (k, k):
                raise ValueError(f"V has shape {arr.shape}, expected ({k}, {k})")
            if k > DENSE_LIMIT:
                raise ValueError(
                    f"a dense V is accepted up to k = {DENSE_LIMIT}; pass a list of blocks"
                )
            blocks = [(idx, arr[np.ix_(idx, idx)]) for idx in _components(k, [arr != 0])]
        else:
            raise ValueError(f"V must be a vector, a matrix or a list of blocks; got {arr.ndim}-D")
    for j, (idx, b) in enumerate(blocks):
        if not np.isfinite(b).all():
            raise ValueError(f"V block {j} (rows {idx.tolist()}) has non-finite values")
        if not np.allclose(b, b.T, rtol=1e-10, atol=0):
            raise ValueError(f"V block {j} (rows {idx.tolist()}) is not symmetric")
        if (np.diag(b) <= 0).any():
            raise ValueError(f"V block {j} (rows {idx.tolist()}) has non-positive variances")
    return blocks


def _components(k: int, links: list[Any]) -> list[np.ndarray]:
    """Connected components of rows; `links` are boolean k x k patterns or group-key tuples."""
    parent = list(range(k))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def union(i: int, j: int) -> None:
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)

    for link in links:
        if isinstance(link, np.ndarray):
            for i, j in zip(*np.nonzero(link), strict=True):
                union(int(i), int(j))
        else:
            first: dict[Any, int] = {}
            for i, key in enumerate(link):
                union(i, first.setdefault(key, i))
    groups: dict[int, list[int]] = {}
    for i in range(k):
        groups.setdefault(find(i), []).append(i)
    return [np.array(rows) for rows in groups.values()]


# ------------------------------------------------------------------------ model structure


@dataclass
class _Block:
    idx: np.ndarray
    v: FloatArray
    patterns: list[FloatArray]
    x: FloatArray
    y: FloatArray


class _Model:
    """The blocks of one rma_mv model and the map from optimiser parameters to theta."""

    def __init__(
        self,
        y: FloatArray,
        x: FloatArray,
        v_blocks: list[tuple[np.ndarray, FloatArray]],
        intercepts: tuple[_Intercepts, ...],
        inner: _Inner | None,
    ) -> None:
        k = len(y)
        self.k, self.p = x.shape
        self.intercepts, self.inner = intercepts, inner
        self.n_sigma = len(intercepts)
        links: list[Any] = [term.keys for term in intercepts]
        if inner is not None:
            links.append(inner.outer)
        row_block = np.empty(k, dtype=int)
        for j, (idx, _) in enumerate(v_blocks):
            row_block[idx] = j
        links.append(tuple(row_block.tolist()))
        self.theta_names: list[str] = [f"sigma2.{t.name}" for t in intercepts]
        self.theta_kind: list[str] = ["var"] * self.n_sigma
        pairs: list[tuple[int, int]] = []
        if inner is not None:
            m = len(inner.levels)
            if inner.struct == "CS":
                self.theta_names += ["tau2", "cov"]
                self.theta_kind += ["var", "cov"]
            else:
                self.theta_names += [f"tau2.{lvl}" for lvl in inner.levels]
                self.theta_kind += ["var"] * m
                if inner.struct == "UN":
                    # metafor's order: the lower triangle of G column by column.
                    pairs = [(i, j) for j in range(m) for i in range(j + 1, m)]
                    self.theta_names += [
                        f"cov.{inner.levels[i]}.{inner.levels[j]}" for i, j in pairs
                    ]
                    self.theta_kind += ["cov"] * len(pairs)
        self.pairs = pairs
        level_index = (
            np.array([inner.levels.index(s) for s in inner.inner]) if inner is not None else None
        )
        self.blocks: list[_Block] = []
        for rows in _components(k, links):
            rows = np.sort(rows)
            pos = {int(r): i for i, r in enumerate(rows)}
            vb = np.zeros((len(rows), len(rows)))
            for idx, b in v_blocks:
                if int(idx[0]) in pos:
                    loc = [pos[int(r)] for r in idx]
                    vb[np.ix_(loc, loc)] = b
            patterns: list[FloatArray] = []
            for term in intercepts:
                keys = [term.keys[r] for r in rows]
                patterns.append(np.array([[a == b for b in keys] for a in keys], dtype=float))
            if inner is not None and level_index is not None:
                outer = [inner.outer[r] for r in rows]
                same = np.array([[a == b for b in outer] for a in outer], dtype=float)
                lv = level_index[rows]
                same_level = (lv[:, None] == lv[None, :]).astype(float)
                if inner.struct == "CS":
                    patterns += [same * same_level, same * (1 - same_level)]
                else:
                    for lvl in range(len(inner.levels)):
                        on = (lv == lvl).astype(float)
                        patterns.append(same * np.outer(on, on))
                    for i, j in pairs:
                        a, b = (lv == i).astype(float), (lv == j).astype(float)
                        patterns.append(same * (np.outer(a, b) + np.outer(b, a)))
            self.blocks.append(_Block(rows, vb, patterns, x[rows], y[rows]))
        self.n_theta = len(self.theta_names)

    # -- parameterisation ---------------------------------------------------------------

    def theta_from_phi(self, phi: FloatArray) -> tuple[FloatArray, FloatArray]:
        """theta and the Jacobian d theta / d phi."""
        n = self.n_theta
        theta = np.zeros(n)
        jac = np.zeros((n, len(phi)))
        s = self.n_sigma
        theta[:s] = np.exp(phi[:s])
        jac[:s, :s] = np.diag(theta[:s])
        inner = self.inner
        if inner is None:
            return theta, jac
        if inner.struct == "CS":
            tau2, r = math.exp(phi[s]), math.tanh(phi[s + 1])
            theta[s], theta[s + 1] = tau2, tau2 * r
            jac[s, s] = tau2
            jac[s + 1, s] = tau2 * r
            jac[s + 1, s + 1] = tau2 * (1 - r * r)
        elif inner.struct == "DIAG":
            m = len(inner.levels)
            theta[s : s + m] = np.exp(phi[s : s + m])
            jac[s : s + m, s : s + m] = np.diag(theta[s : s + m])
        else:
            m = len(inner.levels)
            chol, slots = self._chol(phi[s:], m)
            g = chol @ chol.T
            theta[s:] = self._g_to_theta(g)
            for q, (a, b) in enumerate(slots):
                e = np.zeros((m, m))
                e[a, b] = chol[a, b] if a == b else 1.0
                dg = e @ chol.T + chol @ e.T
                jac[s:, s + q] = self._g_to_theta(dg)
        return theta, jac

    def _chol(self, par: FloatArray, m: int) -> tuple[FloatArray, list[tuple[int, int]]]:
        chol = np.zeros((m, m))
        slots = [(i, i) for i in range(m)] + self.pairs
        for q, (a, b) in enumerate(slots):
            chol[a, b] = math.exp(par[q]) if a == b else par[q]
        return chol, slots

    def _g_to_theta(self, g: FloatArray) -> FloatArray:
        m = g.shape[0]
        return np.concatenate([np.diag(g), [g[i, j] for i, j in self.pairs]]) if m else g

    def phi_from_theta(self, theta: FloatArray) -> FloatArray:
        s = self.n_sigma
        phi = list(np.log(np.maximum(theta[:s], 1e-12)))
        inner = self.inner
        if inner is None:
            return np.array(phi)
        if inner.struct == "CS":
            tau2 = max(theta[s], 1e-12)
            r = min(max(theta[s + 1] / tau2, -0.999), 0.999)
            phi += [math.log(tau2), math.atanh(r)]
        elif inner.struct == "DIAG":
            phi += list(np.log(np.maximum(theta[s:], 1e-12)))
        else:
            chol = np.linalg.cholesky(self.g_matrix(theta) + 1e-12 * np.eye(len(inner.levels)))
            phi += [math.log(chol[i, i]) for i in range(len(inner.levels))]
            phi += [chol[i, j] for i, j in self.pairs]
        return np.array(phi)

    def g_matrix(self, theta: FloatArray) -> FloatArray:
        inner = self.inner
        assert inner is not None
        s, m = self.n_sigma, len(inner.levels)
        if inner.struct == "CS":
            g = np.full((m, m), theta[s + 1])
            np.fill_diagonal(g, theta[s])
            return g
        g = np.diag(theta[s : s + m])
        for q, (i, j) in enumerate(self.pairs):
            g[i, j] = g[j, i] = theta[s + m + q]
        return g

    def feasible(self, theta: FloatArray) -> bool:
        if (theta[: self.n_sigma] < 0).any():
            return False
        if self.inner is None:
            return True
        return bool(np.linalg.eigvalsh(self.g_matrix(theta)).min() >= -1e-14)

    # -- likelihood ---------------------------------------------------------------------

    def evaluate(self, theta: FloatArray, reml: bool, derivs: bool = False) -> _Eval | None:
        """The (restricted) log-likelihood at theta; None where M is not positive definite."""
        theta = np.where((np.arange(len(theta)) < self.n_sigma) & (theta <= _ZERO), 0.0, theta)
        logdet = 0.0
        sx_parts, sy_parts, chols = [], [], []
        for blk in self.blocks:
            mat = blk.v.copy()
            for t, pat in zip(theta, blk.patterns, strict=True):
                if t != 0:
                    mat += t * pat
            try:
                c = linalg.cholesky(mat, lower=True)
            except linalg.LinAlgError:
                return None
            logdet += 2 * float(np.log(np.diag(c)).sum())
            sx_parts.append(linalg.solve_triangular(c, blk.x, lower=True))
            sy_parts.append(linalg.solve_triangular(c, blk.y, lower=True))
            chols.append(c)
        sx, sy = np.vstack(sx_parts), np.concatenate(sy_parts)
        xtwx = sx.T @ sx
        try:
            vb = linalg.inv(xtwx)
        except linalg.LinAlgError:
            return None
        beta = vb @ (sx.T @ sy)
        rss = float(((sy - sx @ beta) ** 2).sum())
        k, p = self.k, self.p
        ll_ml = -0.5 * k * _LOG2PI - 0.5 * logdet - 0.5 * rss
        xtx = np.vstack([b.x for b in self.blocks])
        ll_reml = (
            -0.5 * (k - p) * _LOG2PI
            + 0.5 * np.linalg.slogdet(xtx.T @ xtx)[1]
            - 0.5 * logdet
            - 0.5 * np.linalg.slogdet(xtwx)[1]
            - 0.5 * rss
        )
        out = _Eval(theta, beta, vb, ll_ml, float(ll_reml), None, None)
        if derivs:
            out.score, out.info = self._derivatives(theta, chols, beta, vb, reml)
        return out

    def _derivatives(
        self,
        theta: FloatArray,
        chols: list[FloatArray],
        beta: FloatArray,
        vb: FloatArray,
        reml: bool,
    ) -> tuple[FloatArray, FloatArray]:
        n, p = len(theta), self.p
        score = np.zeros(n)
        trww = np.zeros((n, n))
        a = np.zeros((n, p, p))
        bmat = np.zeros((n, n, p, p))
        for blk, c in zip(self.blocks, chols, strict=True):
            w = linalg.cho_solve((c, True), np.eye(len(blk.idx)))
            u = w @ (blk.y - blk.x @ beta)
            wx = w @ blk.x
            wd = [w @ pat for pat in blk.patterns]
            dwx = [pat @ wx for pat in blk.patterns]
            for r in range(n):
                score[r] += -0.5 * np.trace(wd[r]) + 0.5 * u @ blk.patterns[r] @ u
                if reml:
                    a[r] += wx.T @ dwx[r]
                for s in range(r, n):
                    trww[r, s] += float(np.sum(wd[r] * wd[s].T))
                    if reml:
                        bmat[r, s] += dwx[r].T @ w @ dwx[s]
        info = np.zeros((n, n))
        for r in range(n):
            if reml:
                score[r] += 0.5 * np.trace(vb @ a[r])
            for s in range(r, n):
                val = trww[r, s]
                if reml:
                    cross = np.trace(vb @ bmat[r, s])
                    val += -2 * cross + np.trace(vb @ a[r] @ vb @ a[s])
                info[r, s] = info[s, r] = 0.5 * val
        return score, info


@dataclass
class _Eval:
    theta: FloatArray
    beta: FloatArray
    vb: FloatArray
    ll_ml: float
    ll_reml: float
    score: FloatArray | None
    info: FloatArray | None

    def ll(self, reml: bool) -> float:
        return self.ll_reml if reml else self.ll_ml


# ------------------------------------------------------------------------------ fitting


def _initial_theta(model: _Model, y: FloatArray, x: FloatArray) -> FloatArray:
    """metafor's start: the FE residual variance beyond the typical V, split evenly."""
    fe = model.evaluate(np.zeros(model.n_theta), reml=False)
    assert fe is not None
    resid = y - x @ fe.beta
    vdiag = np.concatenate([np.diag(b.v) for b in model.blocks])
    nvar = sum(1 for kind in model.theta_kind if kind == "var")
    total = max(0.001 * nvar, float(np.var(resid, ddof=1)) - 1 / float(np.mean(1 / vdiag)))
    theta = np.zeros(model.n_theta)
    for i, kind in enumerate(model.theta_kind):
        theta[i] = total / nvar if kind == "var" else 0.5 * total / nvar
    return theta


def _optimise(model: _Model, theta0: FloatArray, reml: bool) -> tuple[_Eval, int]:
    def objective(phi: FloatArray) -> tuple[float, FloatArray]:
        theta, jac = model.theta_from_phi(phi)
        ev = model.evaluate(theta, reml, derivs=True)
        if ev is None or ev.score is None:
            return 1e300, np.zeros_like(phi)
        return -ev.ll(reml), -(jac.T @ ev.score)

    res = optimize.minimize(
        objective,
        model.phi_from_theta(theta0),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-40.0, 20.0) if kind == "var" else (None, None) for kind in _phi_kinds(model)],
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-12},
    )
    theta, _ = model.theta_from_phi(res.x)
    best, iterations = _fisher_polish(model, theta, reml)
    return best, int(res.nit) + iterations


def _phi_kinds(model: _Model) -> list[str]:
    inner = model.inner
    kinds = ["var"] * model.n_sigma
    if inner is not None:
        if inner.struct == "CS":
            kinds += ["var", "cor"]
        elif inner.struct == "DIAG":
            kinds += ["var"] * len(inner.levels)
        else:
            kinds += ["var"] * len(inner.levels) + ["cor"] * len(model.pairs)
    return kinds


def _variance_dependants(model: _Model, i: int) -> list[int]:
    """A variance at zero forces the covariances that involve it to zero too."""
    inner = model.inner
    if inner is None or i < model.n_sigma:
        return [i]
    s = model.n_sigma
    if inner.struct == "CS":
        return [s, s + 1]
    lvl = i - s
    m = len(inner.levels)
    return [i] + [s + m + q for q, pair in enumerate(model.pairs) if lvl in pair]


def _fisher_polish(model: _Model, theta: FloatArray, reml: bool) -> tuple[_Eval, int]:
    """Fisher scoring on theta from the optimiser's answer, with zero components held at 0."""
    theta = theta.copy()
    scale = max(1e-300, float(np.abs(theta).max(initial=0.0)))
    fixed: set[int] = set()
    for i, kind in enumerate(model.theta_kind):
        if kind == "var" and theta[i] < 1e-7 * max(scale, 1e-8):
            for j in _variance_dependants(model, i):
                theta[j] = 0.0
                fixed.add(j)
    current = model.evaluate(theta, reml, derivs=True)
    assert current is not None
    # Free a zero variance again if the likelihood rises when it leaves the boundary.
    for i in sorted(fixed):
        if model.theta_kind[i] == "var" and current.score is not None and current.score[i] > 1e-8:
            for j in _variance_dependants(model, i):
                fixed.discard(j)
    iterations = 0
    while iterations < 200:
        iterations += 1
        assert current.score is not None and current.info is not None
        free = [i for i in range(model.n_theta) if i not in fixed]
        if not free:
            break
        try:
            step_free = np.linalg.solve(current.info[np.ix_(free, free)], current.score[free])
        except np.linalg.LinAlgError:
            break
        step = np.zeros(model.n_theta)
        step[free] = step_free
        factor = 1.0
        accepted = None
        for _ in range(60):
            trial = current.theta + factor * step
            if model.feasible(trial):
                ev = model.evaluate(trial, reml, derivs=True)
                if ev is not None and ev.ll(reml) >= current.ll(reml) - 1e-12 * abs(
                    current.ll(reml)
                ):
                    accepted = ev
                    break
            factor /= 2
        if accepted is None:
            break
        change = float(np.abs(accepted.theta - current.theta).max())
        current = accepted
        if change <= 1e-14 * max(1.0, float(np.abs(current.theta).max())):
            break
    return current, iterations


# ------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class MultivariateResult:
    """A fitted rma.mv model.

    `sigma2` are the variance components of the `~ 1 | ...` terms (named in `sigma2_names`,
    outermost first); `tau2`, `rho` and `g` describe the `~ inner | outer` term with levels
    `g_levels` (rho in metafor's order, the lower triangle of G by column). `qe` is the
    Wald-type test of residual heterogeneity computed with V alone; `qm` the omnibus test of
    the coefficients `btt` (chi-square under test "z", F with (`qm_df`, `df`) under test "t").
    """

    method: str
    test: str
    level: float
    k: int
    p: int
    coefficients: tuple[Coefficient, ...]
    vb: tuple[tuple[float, ...], ...]
    df: int | None
    sigma2: tuple[float, ...]
    sigma2_names: tuple[str, ...]
    struct: str | None
    g_levels: tuple[str, ...]
    tau2: tuple[float, ...]
    rho: tuple[float, ...]
    g: tuple[tuple[float, ...], ...]
    qe: float
    qe_df: int
    qe_pval: float
    qm: float
    qm_df: int
    qm_pval: float
    qm_dist: str
    loglik: float
    ll_ml: float
    ll_reml: float
    deviance: float
    aic: float
    bic: float
    aicc: float
    parms: int
    n_clusters: int
    iterations: int
    notes: tuple[str, ...] = ()

    def coefficient(self, name: str) -> Coefficient:
        for c in self.coefficients:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.coefficients])


def _design(x_in: Any, k: int, names: Sequence[str] | None) -> tuple[FloatArray, tuple[str, ...]]:
    if x_in is None:
        return np.ones((k, 1)), ("intrcpt",)
    if hasattr(x_in, "columns") and names is None:
        names = [str(c) for c in x_in.columns]
    x = np.asarray(x_in.to_numpy() if hasattr(x_in, "to_numpy") else x_in, dtype=float)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.shape[0] != k:
        raise ValueError(f"X has {x.shape[0]} rows, yi has {k}")
    if not np.isfinite(x).all():
        raise ValueError("X has non-finite values")
    names = tuple(names) if names is not None else tuple(f"X{j + 1}" for j in range(x.shape[1]))
    if len(names) != x.shape[1]:
        raise ValueError(f"{len(names)} coefficient names for {x.shape[1]} columns of X")
    if np.linalg.eigvalsh(x.T @ x).min() <= 1e-7:
        raise ValueError("X is not of full rank")
    return x, names


def rma_mv(
    yi: Any,
    V: Any,
    X: Any = None,
    *,
    random: str | Sequence[str] | None = None,
    data: Mapping[str, Any] | None = None,
    struct: str = "CS",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    coef_names: Sequence[str] | None = None,
    btt: Sequence[int] | None = None,
) -> MultivariateResult:
    """Fit yi ~ X with known sampling covariance V and random effects, as metafor's rma.mv.

    V: sampling variances (vector), a dense k x k matrix (k up to DENSE_LIMIT), a list of
    square blocks laid along the diagonal in row order (metafor's bldiag), or a
    BlockCovariance (e.g. from `shared_control_covariance`). X: k x p design
    (default: intercept); a DataFrame names the coefficients. random: formula(s) over the
    columns of `data`, e.g. "~ 1 | district/school" or "~ outcome | trial" (then `struct`
    "CS", "DIAG" or "UN" sets G; inner levels are sorted, as R's factor levels are). Without
    `random` the model is the fixed-effects GLS fit. method "REML" or "ML"; test "z" or "t"
    (t and F with k - p df, metafor's dfs = "residual").
    """
    method, test = method.upper(), test.lower()
    if method not in MV_METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {MV_METHODS}")
    if test not in MV_TESTS:
        raise ValueError(f"unknown test {test!r}; expected one of {MV_TESTS}")
    check_level(level)
    struct = struct.upper()
    y = as_vector(yi, "yi")
    require_finite("yi", y)
    k = len(y)
    if k == 0:
        raise ValueError("no effect sizes (k = 0)")
    x, names = _design(X, k, coef_names)
    p = x.shape[1]
    if k <= p:
        raise ValueError(f"need more effect sizes than coefficients (k = {k}, p = {p})")
    v_blocks = _sampling_blocks(V, k)
    if random is None:
        intercepts, inner = (), None
    else:
        if data is None:
            raise ValueError("random needs data: a mapping of column name to values")
        intercepts, inner = parse_random(random, data, k, struct)
    model = _Model(y, x, v_blocks, intercepts, inner)
    reml = method == "REML"
    notes: list[str] = []
    if model.n_theta:
        ev, iterations = _optimise(model, _initial_theta(model, y, x), reml)
    else:
        fe = model.evaluate(np.zeros(0), reml)
        if fe is None:
            raise ValueError("V is not positive definite")
        ev, iterations = fe, 0
        notes.append("no random effects: fixed-effects GLS fit")
    return _result(model, ev, y, x, names, method, test, level, btt, iterations, notes)


def _result(
    model: _Model,
    ev: _Eval,
    y: FloatArray,
    x: FloatArray,
    names: tuple[str, ...],
    method: str,
    test: str,
    level: float,
    btt: Sequence[int] | None,
    iterations: int,
    notes: list[str],
) -> MultivariateResult:
    k, p = model.k, model.p
    reml = method == "REML"
    beta, vb = ev.beta, ev.vb
    se = np.sqrt(np.diag(vb))
    stat = beta / se
    df = k - p if test == "t" else None
    if df is None:
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = float(stats.norm.ppf(0.5 + level / 2))
    else:
        pval = 2 * stats.t.sf(np.abs(stat), df)
        crit = float(stats.t.ppf(0.5 + level / 2, df))
    if btt is not None:
        idx = list(btt)
    else:
        idx = list(range(1, p)) if p > 1 and _has_intercept(x) else list(range(p))
    if not idx or any(not 0 <= j < p for j in idx):
        raise ValueError(f"btt must name coefficients 0..{p - 1}; got {idx}")
    b = beta[idx]
    qm = float(b @ np.linalg.solve(vb[np.ix_(idx, idx)], b))
    if df is None:
        qm_pval, qm_dist = float(stats.chi2.sf(qm, len(idx))), "chi2"
    else:
        qm = qm / len(idx)
        qm_pval, qm_dist = float(stats.f.sf(qm, len(idx), df)), "F"
    fe = model.evaluate(np.zeros(model.n_theta), reml=False)
    assert fe is not None
    qe = _fe_rss(model, fe.beta)
    qe_df = k - p
    qe_pval = float(stats.chi2.sf(qe, qe_df))
    theta = ev.theta
    s = model.n_sigma
    sigma2 = tuple(float(t) for t in theta[:s])
    inner = model.inner
    tau2: tuple[float, ...] = ()
    rho: tuple[float, ...] = ()
    g: tuple[tuple[float, ...], ...] = ()
    n_rho = 0
    if inner is not None:
        gm = model.g_matrix(theta)
        g = tuple(tuple(float(v) for v in row) for row in gm)
        d = np.sqrt(np.diag(gm))
        if inner.struct == "CS":
            tau2 = (float(gm[0, 0]),)
            rho = (float(theta[s + 1] / theta[s]) if theta[s] > 0 else 0.0,)
            n_rho = 1
        else:
            tau2 = tuple(float(v) for v in np.diag(gm))
            if inner.struct == "UN":
                rho = tuple(
                    float(gm[i, j] / (d[i] * d[j])) if d[i] * d[j] > 0 else 0.0
                    for i, j in model.pairs
                )
                n_rho = len(model.pairs)
            else:
                rho = (0.0,)
        if inner.struct == "CS" and theta[s] == 0:
            notes.append("tau2 is 0, so rho is not identified; reported as 0")
    parms = p + s + len(tau2) + n_rho
    ll_ml, ll_reml = ev.ll_ml, ev.ll_reml
    if reml:
        loglik, n_eff = ll_reml, k - p
        deviance = -2 * ll_reml
    else:
        loglik, n_eff = ll_ml, k
        logdet_v = sum(float(np.linalg.slogdet(b.v)[1]) for b in model.blocks)
        ll_sat = -0.5 * k * _LOG2PI - 0.5 * logdet_v
        deviance = -2 * (ll_ml - ll_sat)
    aic = -2 * loglik + 2 * parms
    bic = -2 * loglik + parms * math.log(n_eff)
    denom = max(n_eff, parms + 2)
    aicc = -2 * loglik + 2 * parms * denom / (denom - parms - 1)
    coefs = tuple(
        Coefficient(
            name=name,
            estimate=float(beta[j]),
            se=float(se[j]),
            stat=float(stat[j]),
            pval=float(pval[j]),
            ci_low=float(beta[j] - crit * se[j]),
            ci_high=float(beta[j] + crit * se[j]),
        )
        for j, name in enumerate(names)
    )
    return MultivariateResult(
        method=method,
        test=test,
        level=level,
        k=k,
        p=p,
        coefficients=coefs,
        vb=tuple(tuple(float(v) for v in row) for row in vb),
        df=df,
        sigma2=sigma2,
        sigma2_names=tuple(t.name for t in model.intercepts),
        struct=inner.struct if inner is not None else None,
        g_levels=inner.levels if inner is not None else (),
        tau2=tau2,
        rho=rho,
        g=g,
        qe=qe,
        qe_df=qe_df,
        qe_pval=qe_pval,
        qm=qm,
        qm_df=len(idx),
        qm_pval=qm_pval,
        qm_dist=qm_dist,
        loglik=float(loglik),
        ll_ml=float(ll_ml),
        ll_reml=float(ll_reml),
        deviance=float(deviance),
        aic=float(aic),
        bic=float(bic),
        aicc=float(aicc),
        parms=parms,
        n_clusters=len(model.blocks),
        iterations=iterations,
        notes=tuple(notes),
    )


def _has_intercept(x: FloatArray) -> bool:
    return bool(np.all(x[:, 0] == 1.0))


def _fe_rss(model: _Model, beta: FloatArray) -> float:
    """Residual sum of squares of the V-only GLS fit: metafor's QE."""
    total = 0.0
    for blk in model.blocks:
        r = blk.y - blk.x @ beta
        total += float(r @ linalg.cho_solve(linalg.cho_factor(blk.v, lower=True), r))
    return max(0.0, total)
