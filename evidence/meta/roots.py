"""A bracketing root finder (Brent's method) for the one-dimensional searches of the fits.

The Q-profile interval, Paule-Mandel and the REML fallback each solve g(t) = 0 for a monotone
or sign-changing g on a known bracket. Loading scipy.optimize for that costs about 0.2 s at
every start, more than the searches themselves, so this module carries the method instead.

Brent's method (Brent 1973, "Algorithms for Minimization without Derivatives", ch. 4) keeps a
bracket [b, c] with g(b) and g(c) of opposite signs, b the best estimate so far. Each step
tries inverse quadratic interpolation through the last three points (a secant step when only
two are distinct) and takes it only if it lands well inside the bracket and shrinks faster than
the step before last; otherwise it bisects. The bracket therefore shrinks at least as surely
as bisection while converging superlinearly near a simple root. It stops when half the bracket
is within tol = (xtol + rtol * |b|) / 2, or g(b) is exactly 0.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

EPS = sys.float_info.epsilon


@dataclass(frozen=True)
class Root:
    """Where the search ended: `converged` is False if `maxiter` steps did not reach xtol."""

    root: float
    iterations: int
    function_calls: int
    converged: bool


def brent(
    f: Callable[[float], float],
    a: float,
    b: float,
    *,
    xtol: float = 2e-12,
    rtol: float = 4 * EPS,
    maxiter: int = 100,
) -> Root:
    """A root of f in [a, b], where f(a) and f(b) differ in sign (or one of them is 0).

    The root is within xtol + rtol * |root| of a sign change of f, the tolerance scipy's brentq
    has. A bracket without a sign change, a non-finite end, a bad tolerance or f giving NaN
    raises ValueError.
    """
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"the bracket [{a}, {b}] must have finite ends")
    if xtol <= 0 or rtol < 4 * EPS or maxiter < 1:
        raise ValueError(
            f"need xtol > 0, rtol >= 4 eps and maxiter >= 1 (got {xtol}, {rtol}, {maxiter})"
        )
    fa, fb = float(f(a)), float(f(b))
    calls = 2
    if math.isnan(fa) or math.isnan(fb):
        raise ValueError(f"f is not a number at an end of the bracket [{a}, {b}]")
    if fa == 0:
        return Root(float(a), 0, calls, True)
    if fb == 0:
        return Root(float(b), 0, calls, True)
    if (fa > 0) == (fb > 0):
        raise ValueError(f"f does not change sign on [{a}, {b}]: f(a) = {fa:.6g}, f(b) = {fb:.6g}")
    # c is the contrapoint (f(b), f(c) of opposite signs); a is the previous b.
    c, fc = a, fa
    d = e = b - a  # the last step and the one before it
    for iteration in range(1, maxiter + 1):
        if (fb > 0) == (fc > 0):  # the root lies between a and b: a becomes the contrapoint
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):  # keep b the end with the smaller residual
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 0.5 * (xtol + rtol * abs(b))
        half = 0.5 * (c - b)
        if abs(half) <= tol or fb == 0:
            return Root(b, iteration, calls, True)
        if abs(e) >= tol and abs(fa) > abs(fb):
            # Interpolate: the step b -> b + p / q.
            s = fb / fa
            if a == c:  # secant through (a, fa), (b, fb)
                p = 2 * half * s
                q = 1 - s
            else:  # inverse quadratic through (a, fa), (b, fb), (c, fc)
                qa, r = fa / fc, fb / fc
                p = s * (2 * half * qa * (qa - r) - (b - a) * (r - 1))
                q = (qa - 1) * (r - 1) * (s - 1)
            if p > 0:
                q = -q
            else:
                p = -p
            # Accept only if it stays in the bracket's first three quarters and halves e.
            if 2 * p < min(3 * half * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = half
        else:
            d = e = half
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, half)
        fb = float(f(b))
        calls += 1
        if math.isnan(fb):
            raise ValueError(f"f is not a number at {b} inside the bracket")
    return Root(b, maxiter, calls, False)
