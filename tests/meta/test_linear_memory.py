"""The engine never forms a k x k matrix: the weighted-sum formulas equal the dense projection,
and pooling many studies allocates memory in proportion to k."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from evidence.meta import cumulative, meta_regression, rma
from evidence.meta.tau2 import Projection, Tau2Control, hat_diagonal, q_statistic, tau2_he


def dense_projection(v: np.ndarray, x: np.ndarray) -> np.ndarray:
    w = 1.0 / v
    wx = x * w[:, None]
    return np.diag(w) - wx @ np.linalg.inv(x.T @ wx) @ wx.T


@pytest.mark.parametrize("p", [1, 2, 3])
def test_projection_sums_equal_the_dense_matrix(p: int) -> None:
    rng = np.random.default_rng(p)
    k = 25
    x = np.column_stack([np.ones(k), rng.normal(size=(k, p - 1))])
    v = rng.uniform(0.01, 2.0, k)
    y = rng.normal(size=k)
    dense = dense_projection(v, x)
    proj = Projection(v, x)
    assert np.allclose(proj.apply(y), dense @ y, rtol=1e-12, atol=1e-12)
    assert proj.quadratic(y) == pytest.approx(y @ dense @ y, rel=1e-12)
    assert proj.trace() == pytest.approx(np.trace(dense), rel=1e-12)
    assert proj.trace_square() == pytest.approx(np.sum(dense * dense.T), rel=1e-12)
    w = 1.0 / v
    hat = (x * w[:, None]) @ np.linalg.inv(x.T @ (x * w[:, None])) @ x.T
    assert np.allclose(hat_diagonal(v, x), np.diag(hat), rtol=1e-12, atol=1e-14)
    assert q_statistic(y, v, x) == pytest.approx(y @ dense @ y, rel=1e-12)
    ols = np.eye(k) - x @ np.linalg.solve(x.T @ x, x.T)
    he = (y @ ols @ y - np.trace(ols * v[None, :])) / (k - p)
    assert tau2_he(y, v, x) == pytest.approx(he, rel=1e-12)


def test_q_is_accurate_when_effects_share_a_large_offset() -> None:
    """Weighted residuals instead of y'Wy - (sum wy)^2 / sum w: no cancellation."""
    rng = np.random.default_rng(0)
    v = rng.uniform(0.01, 0.1, 30)
    y = 1e4 + rng.normal(0, 0.1, 30)
    w = [1 / Fraction(float(t)) for t in v]
    ys = [Fraction(float(t)) for t in y]
    mean = sum(a * b for a, b in zip(w, ys, strict=True)) / sum(w)
    exact = float(sum(a * (b - mean) ** 2 for a, b in zip(w, ys, strict=True)))
    assert q_statistic(y, v, np.ones((30, 1))) == pytest.approx(exact, rel=1e-12)


@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
def test_memory_grows_linearly(method: str) -> None:
    """k = 20,000: a k x k matrix would be 3.2 GB; the pool must stay within a few MB per 1e4."""
    rng = np.random.default_rng(1)
    k = 20_000
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0, np.sqrt(v + 0.1))
    tracemalloc.start()
    try:
        rma(y, v, method=method, test="knha")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_meta_regression_memory_grows_linearly() -> None:
    rng = np.random.default_rng(2)
    k = 20_000
    v = rng.uniform(0.01, 0.5, k)
    x = rng.normal(size=k)
    y = 0.2 + 0.1 * x + rng.normal(0, np.sqrt(v + 0.05))
    tracemalloc.start()
    try:
        res = meta_regression(y, v, x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert res.k == k
    assert peak < 60 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_cumulative_warm_start_reaches_the_same_estimates() -> None:
    rng = np.random.default_rng(4)
    v = rng.uniform(0.01, 0.5, 40)
    y = rng.normal(0.2, np.sqrt(v + 0.2))
    cold = cumulative(y, v)
    warm = cumulative(y, v, warm_start=True)
    for a, b in zip(cold.fits, warm.fits, strict=True):
        assert b.estimate == pytest.approx(a.estimate, rel=1e-8, abs=1e-9)
        assert (b.tau2 or 0) == pytest.approx(a.tau2 or 0, rel=1e-6, abs=1e-9)
    # With metafor's loose rule a start value changes where the iteration stops, so the
    # default (cold) start is what reproduces metafor's cumul.
    loose = Tau2Control(reml_threshold=1e-5)
    assert cumulative(y, v, control=loose).fits[-1].tau2 == rma(y, v, control=loose).tau2
