"""Brent's method on functions whose roots are known in closed form."""

from __future__ import annotations

import math

import pytest

from evidence.meta.roots import EPS, brent


@pytest.mark.parametrize(
    ("f", "a", "b", "root"),
    [
        (lambda t: t * t - 2, 0.0, 2.0, math.sqrt(2)),
        (lambda t: math.cos(t) - t, 0.0, 1.0, 0.7390851332151607),
        (lambda t: t**3 - 2 * t - 5, 2.0, 3.0, 2.0945514815423265),  # Wallis's cubic
        (lambda t: math.exp(-t) - 1e-3, 0.0, 100.0, math.log(1e3)),  # flat far end
        (lambda t: 1 / (1 + t) - 0.25, 0.0, 1e6, 3.0),  # decreasing, like Q(tau^2)
        (lambda t: (t - 1) ** 3, -10.0, 7.0, 1.0),  # triple root: no simple-root speed-up
        (lambda t: t, -1.0, 3.0, 0.0),
    ],
)
def test_the_root_is_found_to_the_tolerance(f, a: float, b: float, root: float) -> None:
    xtol = 1e-14
    found = brent(f, a, b, xtol=xtol, maxiter=500)
    assert found.converged
    assert abs(found.root - root) <= xtol + 4 * EPS * abs(root) + 1e-15
    assert a <= found.root <= b or b <= found.root <= a


def test_either_bracket_order_finds_the_same_root() -> None:
    def f(t: float) -> float:
        return math.log(t) - 1

    up, down = brent(f, 1.0, 10.0, xtol=1e-15), brent(f, 10.0, 1.0, xtol=1e-15)
    assert up.root == pytest.approx(math.e, abs=1e-14)
    assert down.root == pytest.approx(math.e, abs=1e-14)


def test_a_discontinuous_sign_change_is_bracketed_to_the_tolerance() -> None:
    found = brent(lambda t: -1.0 if t < 0.3 else 1.0, 0.0, 1.0, xtol=1e-12, maxiter=200)
    assert found.converged
    assert abs(found.root - 0.3) <= 1e-12


def test_a_zero_at_an_end_is_returned_without_searching() -> None:
    found = brent(lambda t: t - 5, 5.0, 9.0)
    assert (found.root, found.iterations, found.converged) == (5.0, 0, True)


def test_it_beats_bisection_on_a_smooth_root() -> None:
    calls = 0

    def f(t: float) -> float:
        nonlocal calls
        calls += 1
        return math.exp(t) - 3

    found = brent(f, 0.0, 5.0, xtol=1e-15)
    assert found.function_calls == calls
    assert calls < math.log2(5.0 / 1e-15) / 2  # bisection would need about 52 steps


@pytest.mark.parametrize(
    ("f", "a", "b"),
    [
        (lambda t: t * t + 1, -1.0, 1.0),  # no root at all
        (lambda t: t * t - 1, -2.0, 2.0),  # two roots, same sign at both ends
        (lambda t: t - 5, 0.0, 1.0),
    ],
)
def test_a_bracket_without_a_sign_change_is_refused(f, a: float, b: float) -> None:
    with pytest.raises(ValueError, match="does not change sign"):
        brent(f, a, b)


@pytest.mark.parametrize(
    ("f", "a", "b", "kwargs", "message"),
    [
        (lambda t: t, -1.0, math.inf, {}, "finite ends"),
        (lambda t: t, -math.nan, 1.0, {}, "finite ends"),
        (lambda t: math.nan, -1.0, 1.0, {}, "not a number"),
        (lambda t: t, -1.0, 1.0, {"xtol": 0.0}, "xtol > 0"),
        (lambda t: t, -1.0, 1.0, {"rtol": 1e-20}, "rtol >= 4 eps"),
        (lambda t: t, -1.0, 1.0, {"maxiter": 0}, "maxiter >= 1"),
    ],
)
def test_bad_arguments_are_refused(f, a: float, b: float, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        brent(f, a, b, **kwargs)


def test_nan_inside_the_bracket_is_refused() -> None:
    with pytest.raises(ValueError, match="not a number at"):
        brent(lambda t: math.nan if abs(t) < 0.9 else t - 0.5, -1.0, 1.0)


def test_too_few_iterations_report_no_convergence() -> None:
    found = brent(lambda t: (t - 1) ** 3, -10.0, 7.0, xtol=1e-15, maxiter=3)
    assert not found.converged
    assert found.iterations == 3
    assert -10.0 <= found.root <= 7.0


def test_the_q_profile_bounds_match_scipys_brentq() -> None:
    """The Q-profile equation the interval solves, on the DerSimonian-Laird example data:
    the root agrees with scipy's brentq at the same tolerance."""
    import numpy as np
    from scipy.optimize import brentq

    from evidence.meta.heterogeneity import q_at

    y = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47, -1.37])
    v = np.array([0.036, 0.44, 0.017, 0.02, 0.051, 0.007, 0.22, 0.004, 0.056, 0.07])
    x = np.ones((len(y), 1))
    for target in (2.7, 9.0, 19.0):

        def f(t: float, target: float = target) -> float:
            return q_at(t, y, v, x) - target

        ours = brent(f, 0.0, 100.0, xtol=1e-15, maxiter=1000)
        theirs = brentq(f, 0.0, 100.0, xtol=1e-15, maxiter=1000)
        assert ours.converged
        assert abs(ours.root - theirs) <= 1e-12 * max(1.0, abs(theirs))
