"""Begg and Mazumdar's rank correlation test for funnel-plot asymmetry (metafor's ranktest).

Each effect is standardised against the fixed-effect pool (its deviation over the standard
error of that deviation), and Kendall's tau between the standardised effects and the sampling
variances is tested. metafor 3.8-1 asks R's cor.test for the exact test whatever the number of
studies; R can only honour that without ties, and otherwise uses the normal approximation with
the tie-corrected variance (and no continuity correction). This module does the same: the
exact null distribution of Kendall's statistic is built by counting permutations by their
number of inversions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from evidence.meta._util import ArrayLike, FloatArray
from evidence.meta.bias import MIN_K, NotComputable, _check_data, _effects, check_min_k
from evidence.meta.results import EffectSizes

# Above this k the exact null distribution (k(k-1)/2 + 1 probabilities) is not built.
EXACT_MAX_K = 2000

if TYPE_CHECKING:
    import pandas as pd

RANKTEST = "the rank correlation test"


@dataclass(frozen=True)
class RanktestResult:
    """Kendall's tau (tau-b) and its two-sided p-value.

    `exact` says whether the p-value is exact; when False, `stat` is the normal deviate,
    otherwise it is the number of concordant pairs (R's T).
    """

    k: int
    tau: float
    pval: float
    exact: bool
    stat: float
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["notes"] = list(self.notes)
        return out

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([self.to_dict()])


def _kendall_tau(x: FloatArray, y: FloatArray) -> float:
    """Kendall's tau-b (R's cor(method="kendall")), by merge sort: O(k log k), linear memory."""
    return float(stats.kendalltau(x, y, variant="b").statistic)


def inversion_distribution(n: int) -> FloatArray:
    """P(number of inversions = j) for a random permutation of n items, j = 0..n(n-1)/2.

    Adding the i-th item adds 0..i-1 inversions with equal chance, so each step is a moving
    average over a window of i (done with cumulative sums).
    """
    dist = np.ones(1)
    for i in range(2, n + 1):
        cum = np.concatenate([[0.0], np.cumsum(dist)])
        size = len(dist) + i - 1
        idx = np.arange(size)
        hi = np.minimum(idx, len(dist) - 1) + 1
        lo = np.maximum(idx - i + 1, 0)
        dist = (cum[hi] - cum[lo]) / i
    return dist


def _exact_pval(tau: float, n: int) -> tuple[float, float]:
    """Two-sided exact p-value as R's cor.test computes it from T = concordant pairs."""
    pairs = n * (n - 1) // 2
    q = round((tau + 1) * n * (n - 1) / 4)
    dist = inversion_distribution(n)
    # The distribution is symmetric: P(T >= q) = P(T <= pairs - q), summed from the small end.
    tail = pairs - q if q > n * (n - 1) / 4 else q
    p = float(np.sum(dist[: tail + 1]))
    return min(2 * p, 1.0), float(q)


def _tie_sizes(x: FloatArray) -> FloatArray:
    _, counts = np.unique(x, return_counts=True)
    return counts[counts > 1].astype(float)


def _normal_pval(tau: float, x: FloatArray, y: FloatArray) -> tuple[float, float]:
    """Normal approximation with R's tie-corrected variance of Kendall's S."""
    n = len(x)
    tx, ty = _tie_sizes(x), _tie_sizes(y)
    t0 = n * (n - 1) / 2
    t1 = float(np.sum(tx * (tx - 1))) / 2
    t2 = float(np.sum(ty * (ty - 1))) / 2
    s = tau * np.sqrt((t0 - t1) * (t0 - t2))
    v0 = n * (n - 1) * (2 * n + 5)
    vt = float(np.sum(tx * (tx - 1) * (2 * tx + 5)))
    vu = float(np.sum(ty * (ty - 1) * (2 * ty + 5)))
    v1 = float(np.sum(tx * (tx - 1))) * float(np.sum(ty * (ty - 1)))
    v2 = float(np.sum(tx * (tx - 1) * (tx - 2))) * float(np.sum(ty * (ty - 1) * (ty - 2)))
    var_s = (v0 - vt - vu) / 18 + v1 / (2 * n * (n - 1)) + v2 / (9 * n * (n - 1) * (n - 2))
    z = float(s / np.sqrt(var_s))
    return float(2 * stats.norm.sf(abs(z))), z


def ranktest(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    exact: bool = True,
    min_k: int = MIN_K,
) -> RanktestResult:
    """Begg-Mazumdar rank correlation test, equal to metafor 3.8-1's ranktest.

    `exact=True` (metafor's default) gives the exact p-value unless there are ties; False
    always uses the normal approximation. Raises `NotAssessed` below `min_k` studies and
    `NotComputable` for data the test cannot use.
    """
    y, v = _effects(yi, vi)
    k = len(y)
    check_min_k(k, min_k, RANKTEST)
    if k < 3:
        raise NotComputable(f"k = {k}: at least 3 studies are needed", RANKTEST)
    _check_data(y, v, RANKTEST)
    w = 1 / v
    theta = float(np.sum(w * y) / np.sum(w))
    vstar = v - 1 / float(np.sum(w))
    if (vstar <= 0).any():
        raise NotComputable("a study's variance does not exceed the pool's", RANKTEST)
    ystar = (y - theta) / np.sqrt(vstar)
    tau = _kendall_tau(ystar, v)
    if not np.isfinite(tau):
        raise NotComputable("Kendall's tau is undefined (a constant variable)", RANKTEST)
    ties = len(np.unique(ystar)) < k or len(np.unique(v)) < k
    notes: tuple[str, ...] = ()
    if exact and not ties and k <= EXACT_MAX_K:
        pval, stat = _exact_pval(tau, k)
    else:
        pval, stat = _normal_pval(tau, ystar, v)
        if exact and ties:
            notes = ("ties in the data: the p-value uses the normal approximation",)
        elif exact:
            notes = (
                f"k = {k} > {EXACT_MAX_K}: the exact distribution (memory growing as k^2) was "
                "replaced by the normal approximation",
            )
    if not np.isfinite(pval):
        raise NotComputable("the test gave a non-finite p-value", RANKTEST)
    is_exact = exact and not ties and k <= EXACT_MAX_K
    return RanktestResult(k=k, tau=tau, pval=pval, exact=is_exact, stat=stat, notes=notes)
