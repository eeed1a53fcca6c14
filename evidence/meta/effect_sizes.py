"""Study-level effect sizes, as metafor's escalc computes them.

Two-group binary outcomes (RR, OR, RD) use the formulas of statsmodels'
`effectsize_2proportions` (with no zero correction), written out in `two_proportions` with the
same operations so the values are identical while a plain pool does not load statsmodels; we
apply metafor's zero-cell rule ourselves first, since without it zero cells give infinities.
SMD uses metafor's exact gamma-function bias correction and its default large-sample variance
(vtype="LS"), not statsmodels' approximations.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from evidence.meta._util import (
    ArrayLike,
    FloatArray,
    as_vector,
    require_finite,
    same_length,
    study_labels,
)
from evidence.meta.results import EffectSizes

BINARY_MEASURES = ("RR", "OR", "RD")
CONTINUOUS_MEASURES = ("MD", "SMD")
PROPORTION_MEASURES = ("PLO", "PR")
MEASURES = (*BINARY_MEASURES, *CONTINUOUS_MEASURES, *PROPORTION_MEASURES, "GEN")
ZERO_RULES = ("only0", "all", "if0all", "none")


def two_proportions(
    events1: FloatArray, n1: FloatArray, events2: FloatArray, n2: FloatArray, measure: str
) -> tuple[FloatArray, FloatArray]:
    """log RR, log OR or RD and its variance from (already corrected) counts.

    The same arithmetic, step for step, as statsmodels' effectsize_2proportions without a zero
    correction (tests/meta/test_effect_sizes.py checks they agree to the last bit).
    """
    p1 = events1 / n1
    p2 = events2 / n2
    if measure == "RD":
        return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    if measure == "RR":
        return np.log(p1) - np.log(p2), (1 - p1) / p1 / n1 + (1 - p2) / p2 / n2
    if measure == "OR":
        return (
            np.log(p1) - np.log(1 - p1) - np.log(p2) + np.log(1 - p2),
            1 / (p1 * (1 - p1) * n1) + 1 / (p2 * (1 - p2) * n2),
        )
    raise ValueError(f"unknown binary measure {measure!r}; expected RR, OR or RD")


def cmicalc(m: ArrayLike) -> FloatArray:
    """Hedges' exact small-sample correction c(m) = Γ(m/2) / (√(m/2) Γ((m-1)/2)); NaN for m ≤ 1."""
    m = as_vector(m, "m")
    out = np.full(m.shape, np.nan)
    ok = m > 1
    mm = m[ok]
    out[ok] = np.exp(gammaln(mm / 2) - np.log(np.sqrt(mm / 2)) - gammaln((mm - 1) / 2))
    return out


def _zero_mask(cells: list[FloatArray], to: str) -> FloatArray:
    """Which studies get `add` on every cell under metafor's `to` rule."""
    k = len(cells[0])
    if to == "all":
        return np.ones(k, dtype=bool)
    if to == "none":
        return np.zeros(k, dtype=bool)
    has0 = np.zeros(k, dtype=bool)
    for c in cells:
        has0 |= c == 0
    if to == "if0all":
        return np.full(k, bool(has0.any()))
    return has0  # only0


def _check_rule(add: float, to: str) -> None:
    if to not in ZERO_RULES:
        raise ValueError(f"to must be one of {ZERO_RULES}, got {to!r}")
    if add < 0:
        raise ValueError(f"add must be >= 0, got {add}")


def _binary(
    measure: str,
    events_treat: ArrayLike,
    n_treat: ArrayLike,
    events_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    studies: ArrayLike | None,
    add: float,
    to: str,
    drop00: bool,
) -> EffectSizes:
    a = as_vector(events_treat, "events_treat")
    n1 = as_vector(n_treat, "n_treat")
    c = as_vector(events_ctrl, "events_ctrl")
    n2 = as_vector(n_ctrl, "n_ctrl")
    k = same_length(events_treat=a, n_treat=n1, events_ctrl=c, n_ctrl=n2)
    labels = study_labels(studies, k)
    for name, arr in (("events_treat", a), ("n_treat", n1), ("events_ctrl", c), ("n_ctrl", n2)):
        require_finite(name, arr)
        if (arr < 0).any():
            raise ValueError(f"{name} has negative values at {np.flatnonzero(arr < 0).tolist()}")
    for ev, n, en, nn in ((a, n1, "events_treat", "n_treat"), (c, n2, "events_ctrl", "n_ctrl")):
        if (n <= 0).any():
            raise ValueError(f"{nn} must be > 0 (positions {np.flatnonzero(n <= 0).tolist()})")
        if (ev > n).any():
            raise ValueError(f"{en} exceeds {nn} at positions {np.flatnonzero(ev > n).tolist()}")
    b = n1 - a
    d = n2 - c
    keep = np.ones(k, dtype=bool)
    if drop00:
        keep = ~(((a == 0) & (c == 0)) | ((b == 0) & (d == 0)))
    a, b, c, d = a[keep], b[keep], c[keep], d[keep]
    fix = _zero_mask([a, b, c, d], to)
    inc = np.where(fix, add, 0.0)
    ai, bi, ci, di = a + inc, b + inc, c + inc, d + inc
    yi, vi = two_proportions(ai, ai + bi, ci, ci + di, measure)
    return EffectSizes(
        measure=measure,
        yi=tuple(float(x) for x in yi),
        vi=tuple(float(x) for x in vi),
        studies=tuple(s for s, kp in zip(labels, keep, strict=True) if kp),
        dropped=tuple(s for s, kp in zip(labels, keep, strict=True) if not kp),
        corrected=tuple(bool(x) and add > 0 for x in fix),
        tables=tuple(
            (float(w), float(x), float(y), float(z)) for w, x, y, z in zip(a, b, c, d, strict=True)
        ),
    )


def _continuous(
    measure: str,
    mean_treat: ArrayLike,
    sd_treat: ArrayLike,
    n_treat: ArrayLike,
    mean_ctrl: ArrayLike,
    sd_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    studies: ArrayLike | None,
) -> EffectSizes:
    m1 = as_vector(mean_treat, "mean_treat")
    s1 = as_vector(sd_treat, "sd_treat")
    n1 = as_vector(n_treat, "n_treat")
    m2 = as_vector(mean_ctrl, "mean_ctrl")
    s2 = as_vector(sd_ctrl, "sd_ctrl")
    n2 = as_vector(n_ctrl, "n_ctrl")
    k = same_length(mean_treat=m1, sd_treat=s1, n_treat=n1, mean_ctrl=m2, sd_ctrl=s2, n_ctrl=n2)
    labels = study_labels(studies, k)
    named = {"mean_treat": m1, "sd_treat": s1, "n_treat": n1}
    named |= {"mean_ctrl": m2, "sd_ctrl": s2, "n_ctrl": n2}
    for name, arr in named.items():
        require_finite(name, arr)
    for name, arr in (("sd_treat", s1), ("sd_ctrl", s2)):
        if (arr < 0).any():
            raise ValueError(f"{name} has negative values at {np.flatnonzero(arr < 0).tolist()}")
    for name, arr in (("n_treat", n1), ("n_ctrl", n2)):
        if (arr <= 0).any():
            raise ValueError(f"{name} must be > 0 (positions {np.flatnonzero(arr <= 0).tolist()})")
    if measure == "MD":
        yi = m1 - m2
        vi = s1**2 / n1 + s2**2 / n2
    else:
        mi = n1 + n2 - 2
        if (mi <= 1).any():
            raise ValueError("SMD needs n_treat + n_ctrl > 3 in every study")
        sdp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / mi)
        if (sdp == 0).any():
            raise ValueError("SMD is undefined when both standard deviations are 0")
        yi = cmicalc(mi) * (m1 - m2) / sdp
        vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
    return EffectSizes(
        measure=measure,
        yi=tuple(float(x) for x in yi),
        vi=tuple(float(x) for x in vi),
        studies=labels,
        corrected=(False,) * k,
    )


def _proportion(
    measure: str,
    events: ArrayLike,
    n: ArrayLike,
    studies: ArrayLike | None,
    add: float,
    to: str,
) -> EffectSizes:
    x = as_vector(events, "events")
    nn = as_vector(n, "n")
    k = same_length(events=x, n=nn)
    labels = study_labels(studies, k)
    require_finite("events", x)
    require_finite("n", nn)
    if (x < 0).any():
        raise ValueError(f"events has negative values at {np.flatnonzero(x < 0).tolist()}")
    if (nn <= 0).any():
        raise ValueError(f"n must be > 0 (positions {np.flatnonzero(nn <= 0).tolist()})")
    if (x > nn).any():
        raise ValueError(f"events exceeds n at positions {np.flatnonzero(x > nn).tolist()}")
    mi = nn - x
    fix = _zero_mask([x, mi], to)
    inc = np.where(fix, add, 0.0)
    xi, mi = x + inc, mi + inc
    ni = xi + mi
    p = xi / ni
    if measure == "PLO":
        yi = np.log(p / (1 - p))
        vi = 1 / xi + 1 / mi
    else:
        yi = p
        vi = p * (1 - p) / ni
    return EffectSizes(
        measure=measure,
        yi=tuple(float(v) for v in yi),
        vi=tuple(float(v) for v in vi),
        studies=labels,
        corrected=tuple(bool(f) and add > 0 for f in fix),
    )


def escalc(
    measure: str,
    *,
    events_treat: ArrayLike | None = None,
    n_treat: ArrayLike | None = None,
    events_ctrl: ArrayLike | None = None,
    n_ctrl: ArrayLike | None = None,
    mean_treat: ArrayLike | None = None,
    sd_treat: ArrayLike | None = None,
    mean_ctrl: ArrayLike | None = None,
    sd_ctrl: ArrayLike | None = None,
    events: ArrayLike | None = None,
    n: ArrayLike | None = None,
    yi: ArrayLike | None = None,
    vi: ArrayLike | None = None,
    studies: ArrayLike | None = None,
    add: float = 0.5,
    to: str = "only0",
    drop00: bool = False,
) -> EffectSizes:
    """Effect sizes yi and sampling variances vi per study, equal to metafor's escalc.

    measure: RR / OR / RD (events and n per arm; RR and OR on the log scale), MD / SMD (mean,
    SD and n per arm; SMD is Hedges' g), PLO / PR (events and n of a single arm; logit or raw
    proportion), GEN (precomputed yi and vi). Zero cells follow escalc's defaults: `add` is
    added to every cell of a table that has a zero (`to="only0"`); `drop00=True` removes
    studies with no events (or only events) in both arms instead.
    """
    measure = measure.upper()
    _check_rule(add, to)
    if measure in BINARY_MEASURES:
        _need(measure, events_treat=events_treat, n_treat=n_treat)
        _need(measure, events_ctrl=events_ctrl, n_ctrl=n_ctrl)
        return _binary(
            measure, events_treat, n_treat, events_ctrl, n_ctrl, studies, add, to, drop00
        )  # type: ignore[arg-type]
    if measure in CONTINUOUS_MEASURES:
        _need(measure, mean_treat=mean_treat, sd_treat=sd_treat, n_treat=n_treat)
        _need(measure, mean_ctrl=mean_ctrl, sd_ctrl=sd_ctrl, n_ctrl=n_ctrl)
        return _continuous(
            measure, mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl, studies
        )  # type: ignore[arg-type]
    if measure in PROPORTION_MEASURES:
        _need(measure, events=events, n=n)
        return _proportion(measure, events, n, studies, add, to)  # type: ignore[arg-type]
    if measure == "GEN":
        _need(measure, yi=yi, vi=vi)
        y = as_vector(yi, "yi")
        v = as_vector(vi, "vi")
        k = same_length(yi=y, vi=v)
        require_finite("yi", y)
        require_finite("vi", v)
        if (v < 0).any():
            raise ValueError(f"vi has negative values at {np.flatnonzero(v < 0).tolist()}")
        return EffectSizes(
            measure="GEN",
            yi=tuple(float(x) for x in y),
            vi=tuple(float(x) for x in v),
            studies=study_labels(studies, k),
            corrected=(False,) * k,
        )
    raise ValueError(f"unknown measure {measure!r}; expected one of {MEASURES}")


def _need(measure: str, **inputs: object) -> None:
    missing = [name for name, value in inputs.items() if value is None]
    if missing:
        raise ValueError(f"measure {measure} needs {', '.join(missing)}")
