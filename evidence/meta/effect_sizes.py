"""Study-level effect sizes, as metafor's escalc computes them.

Two-group binary outcomes (RR, OR, RD) use the formulas of statsmodels'
`effectsize_2proportions` (with no zero correction), written out in `two_proportions` with the
same operations so the values are identical while a plain pool does not load statsmodels; we
apply metafor's zero-cell rule ourselves first, since without it zero cells give infinities.
SMD uses metafor's exact gamma-function bias correction and its default large-sample variance
(vtype="LS"), not statsmodels' approximations.

Further measures follow escalc's defaults too: incidence-rate ratio and difference (IRR, IRD;
events and person-time per arm), the log ratio of means (ROM), the SMD with heteroscedastic
SDs (SMDH), standardised mean changes of one group measured twice (SMCC by the SD of the
change, SMCR by the pre-test SD), the Freeman-Tukey double-arcsine proportion (PFT), and
correlations raw (COR) or Fisher-z transformed (ZCOR). Every effect and variance is checked to
be finite and within the magnitudes pooling can handle (`MAX_ABS_EFFECT`, `MAX_VARIANCE`).
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
INCIDENCE_MEASURES = ("IRR", "IRD")
TWO_GROUP_MEASURES = ("ROM", "SMDH")  # means, SDs and sizes of two groups, like MD/SMD
PREPOST_MEASURES = ("SMCC", "SMCR")
CORRELATION_MEASURES = ("COR", "ZCOR")
MEASURES = (
    *BINARY_MEASURES, *CONTINUOUS_MEASURES, *PROPORTION_MEASURES, "GEN",
    *INCIDENCE_MEASURES, *TWO_GROUP_MEASURES, *PREPOST_MEASURES, "PFT", *CORRELATION_MEASURES,
    "PETO",
)  # fmt: skip
# escalc adds nothing to zero cells for these measures unless `add` is given explicitly.
NO_ADD_MEASURES = ("PFT",)
DEFAULT_ADD = 0.5
# Pooling forms fourth powers of effects and of tau^2 (REML's information) and (w*y)^2; with
# |y| <= 1e50 and v <= 1e100 every such term stays inside a double's range (1.8e308), beyond
# them fits silently returned 0 or NaN. Below 1e-300 a variance nears the denormals, where
# 1/v overflows. No real effect (log scale or raw) or sampling variance comes near them.
MAX_ABS_EFFECT = 1e50
MIN_VARIANCE = 1e-300  # 1/v must stay finite (denormals lose precision); 0 is refused by pooling
MAX_VARIANCE = 1e100


class ExtremeValueError(ValueError):
    """An effect or variance that pooling cannot handle; names the study and the value."""

    def __init__(self, field: str, position: int, study: str, value: float, why: str) -> None:
        super().__init__(f"{field} of study {study!r} (position {position}) is {value:g}: {why}")
        self.field = field
        self.position = position
        self.study = study
        self.value = value
        self.why = why


def check_magnitudes(yi: FloatArray, vi: FloatArray, studies: tuple[str, ...]) -> None:
    """Refuse non-finite or overflowing effects/variances, naming the first offending study."""
    for field, arr, limit in (("yi", yi, MAX_ABS_EFFECT), ("vi", vi, MAX_VARIANCE)):
        for i, x in enumerate(arr):
            if not np.isfinite(x):
                raise ExtremeValueError(field, i, studies[i], float(x), "not finite")
            if abs(x) > limit:
                raise ExtremeValueError(
                    field, i, studies[i], float(x), f"beyond {limit:g}, where pooling overflows"
                )
    for i, x in enumerate(vi):
        if 0 < x < MIN_VARIANCE:
            raise ExtremeValueError(
                "vi", i, studies[i], float(x), f"below {MIN_VARIANCE:g}, where weights overflow"
            )


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


def table_cells(es: EffectSizes) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """The uncorrected 2x2 cells a, b, c, d (one value per study) that binary effect sizes keep;
    Mantel-Haenszel, Peto and the GLMM pool these rather than the corrected yi/vi."""
    if es.tables is None:
        raise ValueError(f"effect sizes of measure {es.measure} keep no 2x2 tables")
    cells = np.array(es.tables, dtype=float).reshape(-1, 4)
    return cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3]


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
    with np.errstate(divide="ignore", invalid="ignore"):  # uncorrected zeros: refused below
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


def peto_parts(
    a: FloatArray, b: FloatArray, c: FloatArray, d: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Each table's observed minus expected treated-arm events (O - E) and hypergeometric
    variance V: the per-study PETO effect is (O - E) / V, Peto's pool sum(O - E) / sum(V)."""
    n1, n2 = a + b, c + d
    nn = n1 + n2
    events, non_events = a + c, b + d
    v = events * non_events * (n1 / nn) * (n2 / nn) / (nn - 1)
    return a - events * n1 / nn, v


def _peto(
    events_treat: ArrayLike,
    n_treat: ArrayLike,
    events_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    studies: ArrayLike | None,
    add: float,
    to: str,
    drop00: bool,
) -> EffectSizes:
    """Peto's one-step log odds ratio (O - E) / V per study, V the hypergeometric variance.

    The cells, their checks and the zero-cell rule are the OR path's; a table whose events (or
    non-events) are all absent has V = 0 and no Peto estimate, so it is refused by name.
    """
    with np.errstate(divide="ignore", invalid="ignore"):  # the OR values are not used
        es = _binary("OR", events_treat, n_treat, events_ctrl, n_ctrl, studies, add, to, drop00)
    inc = np.where(np.array(es.corrected, dtype=bool), add, 0.0)
    o_e, v = peto_parts(*(cell + inc for cell in table_cells(es)))
    if (v <= 0).any():
        bad = [s for s, vv in zip(es.studies, v, strict=True) if vv <= 0]
        raise ValueError(
            f"Peto log odds ratio undefined for {bad}: no events (or only events) in both arms; "
            "use drop00=True or a zero-cell correction"
        )
    yi = o_e / v
    return EffectSizes(
        measure="PETO",
        yi=tuple(float(x) for x in yi),
        vi=tuple(float(x) for x in 1 / v),
        studies=es.studies,
        dropped=es.dropped,
        corrected=es.corrected,
        tables=es.tables,
    )


def _group_summaries(
    mean_treat: ArrayLike,
    sd_treat: ArrayLike,
    n_treat: ArrayLike,
    mean_ctrl: ArrayLike,
    sd_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
) -> dict[str, FloatArray]:
    """Mean, SD and size of each group as vectors, keyed by argument name for error messages."""
    given = {"mean_treat": mean_treat, "sd_treat": sd_treat, "n_treat": n_treat}
    given |= {"mean_ctrl": mean_ctrl, "sd_ctrl": sd_ctrl, "n_ctrl": n_ctrl}
    return {name: as_vector(values, name) for name, values in given.items()}


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
    named = _group_summaries(mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl)
    m1, s1, n1, m2, s2, n2 = named.values()
    k = same_length(**named)
    labels = study_labels(studies, k)
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
    return _uncorrected(measure, yi, vi, labels)


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
    elif measure == "PFT":
        yi, vi = _pft(xi, ni)
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
    time_treat: ArrayLike | None = None,
    time_ctrl: ArrayLike | None = None,
    mean_pre: ArrayLike | None = None,
    mean_post: ArrayLike | None = None,
    sd_pre: ArrayLike | None = None,
    sd_post: ArrayLike | None = None,
    r_pre_post: ArrayLike | None = None,
    r: ArrayLike | None = None,
    studies: ArrayLike | None = None,
    add: float | None = None,
    to: str = "only0",
    drop00: bool = False,
) -> EffectSizes:
    """Effect sizes yi and sampling variances vi per study, equal to metafor's escalc.

    measure: RR / OR / RD (events and n per arm; RR and OR on the log scale), MD / SMD (mean,
    SD and n per arm; SMD is Hedges' g), PLO / PR (events and n of a single arm; logit or raw
    proportion), GEN (precomputed yi and vi); IRR / IRD (events and person-time per arm:
    events_treat, time_treat, events_ctrl, time_ctrl; IRR on the log scale), ROM (log ratio of
    means) and SMDH (SMD without assuming equal variances) from the MD/SMD columns, SMCC / SMCR
    (one group measured twice: mean_pre, mean_post, sd_pre, sd_post, n, r_pre_post; the effect
    is post minus pre, standardised by the SD of the change (SMCC) or by sd_pre (SMCR, which
    needs no sd_post)), PFT (Freeman-Tukey double arcsine of events / n), COR / ZCOR
    (correlation r and sample size n; raw or Fisher's z), PETO (Peto's log odds ratio from the
    2x2 data). Zero cells follow escalc's defaults:
    `add` (0.5; 0 for PFT) is added to every cell of a table that has a zero (`to="only0"`;
    for IRR/IRD to both event counts); `drop00=True` removes studies with no events (or only
    events) in both arms instead.
    """
    result = _escalc(
        measure,
        events_treat=events_treat, n_treat=n_treat, events_ctrl=events_ctrl, n_ctrl=n_ctrl,
        mean_treat=mean_treat, sd_treat=sd_treat, mean_ctrl=mean_ctrl, sd_ctrl=sd_ctrl,
        events=events, n=n, yi=yi, vi=vi, time_treat=time_treat, time_ctrl=time_ctrl,
        mean_pre=mean_pre, mean_post=mean_post, sd_pre=sd_pre, sd_post=sd_post,
        r_pre_post=r_pre_post, r=r, studies=studies, add=add, to=to, drop00=drop00,
    )  # fmt: skip
    check_magnitudes(np.asarray(result.yi), np.asarray(result.vi), result.studies)
    return result


def _escalc(
    measure: str,
    *,
    events_treat: ArrayLike | None,
    n_treat: ArrayLike | None,
    events_ctrl: ArrayLike | None,
    n_ctrl: ArrayLike | None,
    mean_treat: ArrayLike | None,
    sd_treat: ArrayLike | None,
    mean_ctrl: ArrayLike | None,
    sd_ctrl: ArrayLike | None,
    events: ArrayLike | None,
    n: ArrayLike | None,
    yi: ArrayLike | None,
    vi: ArrayLike | None,
    time_treat: ArrayLike | None,
    time_ctrl: ArrayLike | None,
    mean_pre: ArrayLike | None,
    mean_post: ArrayLike | None,
    sd_pre: ArrayLike | None,
    sd_post: ArrayLike | None,
    r_pre_post: ArrayLike | None,
    r: ArrayLike | None,
    studies: ArrayLike | None,
    add: float | None,
    to: str,
    drop00: bool,
) -> EffectSizes:
    measure = measure.upper()
    if add is None:
        add = 0.0 if measure in NO_ADD_MEASURES else DEFAULT_ADD
    _check_rule(add, to)
    if measure in BINARY_MEASURES:
        _need(measure, events_treat=events_treat, n_treat=n_treat)
        _need(measure, events_ctrl=events_ctrl, n_ctrl=n_ctrl)
        return _binary(
            measure, events_treat, n_treat, events_ctrl, n_ctrl, studies, add, to, drop00
        )  # type: ignore[arg-type]
    if measure == "PETO":
        _need(measure, events_treat=events_treat, n_treat=n_treat)
        _need(measure, events_ctrl=events_ctrl, n_ctrl=n_ctrl)
        return _peto(events_treat, n_treat, events_ctrl, n_ctrl, studies, add, to, drop00)
    if measure in CONTINUOUS_MEASURES:
        _need(measure, mean_treat=mean_treat, sd_treat=sd_treat, n_treat=n_treat)
        _need(measure, mean_ctrl=mean_ctrl, sd_ctrl=sd_ctrl, n_ctrl=n_ctrl)
        return _continuous(
            measure, mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl, studies
        )  # type: ignore[arg-type]
    if measure in INCIDENCE_MEASURES:
        _need(measure, events_treat=events_treat, time_treat=time_treat)
        _need(measure, events_ctrl=events_ctrl, time_ctrl=time_ctrl)
        return _incidence(
            measure, events_treat, time_treat, events_ctrl, time_ctrl, studies, add, to, drop00
        )  # type: ignore[arg-type]
    if measure in TWO_GROUP_MEASURES:
        _need(measure, mean_treat=mean_treat, sd_treat=sd_treat, n_treat=n_treat)
        _need(measure, mean_ctrl=mean_ctrl, sd_ctrl=sd_ctrl, n_ctrl=n_ctrl)
        return _two_group(
            measure, mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl, studies
        )  # type: ignore[arg-type]
    if measure in PREPOST_MEASURES:
        _need(measure, mean_pre=mean_pre, mean_post=mean_post, sd_pre=sd_pre)
        _need(measure, n=n, r_pre_post=r_pre_post)
        if measure == "SMCC":
            _need(measure, sd_post=sd_post)
        return _prepost(measure, mean_pre, mean_post, sd_pre, sd_post, n, r_pre_post, studies)  # type: ignore[arg-type]
    if measure in CORRELATION_MEASURES:
        _need(measure, r=r, n=n)
        return _correlation(measure, r, n, studies)  # type: ignore[arg-type]
    if measure == "PFT":
        _need(measure, events=events, n=n)
        return _proportion(measure, events, n, studies, add, to)  # type: ignore[arg-type]
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
        return _uncorrected("GEN", y, v, study_labels(studies, k))
    raise ValueError(f"unknown measure {measure!r}; expected one of {MEASURES}")


def _uncorrected(
    measure: str, yi: FloatArray, vi: FloatArray, studies: tuple[str, ...]
) -> EffectSizes:
    """Effect sizes of a measure that has no zero-cell correction: no study is marked corrected."""
    return EffectSizes(
        measure=measure,
        yi=tuple(float(x) for x in yi),
        vi=tuple(float(x) for x in vi),
        studies=studies,
        corrected=(False,) * len(studies),
    )


def _need(measure: str, **inputs: object) -> None:
    missing = [name for name, value in inputs.items() if value is None]
    if missing:
        raise ValueError(f"measure {measure} needs {', '.join(missing)}")


def _checked(named: dict[str, FloatArray]) -> int:
    """Common length of the inputs, all finite; the study count."""
    k = same_length(**named)
    for name, arr in named.items():
        require_finite(name, arr)
    return k


def _require(name: str, arr: FloatArray, ok: FloatArray, what: str) -> None:
    if not ok.all():
        raise ValueError(f"{name} must be {what} (positions {np.flatnonzero(~ok).tolist()})")


def _incidence(
    measure: str,
    events_treat: ArrayLike,
    time_treat: ArrayLike,
    events_ctrl: ArrayLike,
    time_ctrl: ArrayLike,
    studies: ArrayLike | None,
    add: float,
    to: str,
    drop00: bool,
) -> EffectSizes:
    """IRR (log rate ratio) and IRD (rate difference) from events and person-time per arm.

    Zero handling as escalc: `add` goes to both event counts (never to the person-time) of a
    study with a zero count under `to`; `drop00` removes studies with no events in either arm.
    """
    x1 = as_vector(events_treat, "events_treat")
    t1 = as_vector(time_treat, "time_treat")
    x2 = as_vector(events_ctrl, "events_ctrl")
    t2 = as_vector(time_ctrl, "time_ctrl")
    k = _checked({"events_treat": x1, "time_treat": t1, "events_ctrl": x2, "time_ctrl": t2})
    labels = study_labels(studies, k)
    _require("events_treat", x1, x1 >= 0, ">= 0")
    _require("events_ctrl", x2, x2 >= 0, ">= 0")
    _require("time_treat", t1, t1 > 0, "> 0")
    _require("time_ctrl", t2, t2 > 0, "> 0")
    keep = ~((x1 == 0) & (x2 == 0)) if drop00 else np.ones(k, dtype=bool)
    x1, t1, x2, t2 = x1[keep], t1[keep], x2[keep], t2[keep]
    fix = _zero_mask([x1, x2], to)
    inc = np.where(fix, add, 0.0)
    x1, x2 = x1 + inc, x2 + inc
    ir1, ir2 = x1 / t1, x2 / t2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "IRR":
            yi = np.log(ir1) - np.log(ir2)
            vi = 1 / x1 + 1 / x2
        else:
            yi = ir1 - ir2
            vi = ir1 / t1 + ir2 / t2
    return EffectSizes(
        measure=measure,
        yi=tuple(float(v) for v in yi),
        vi=tuple(float(v) for v in vi),
        studies=tuple(s for s, kp in zip(labels, keep, strict=True) if kp),
        dropped=tuple(s for s, kp in zip(labels, keep, strict=True) if not kp),
        corrected=tuple(bool(f) and add > 0 for f in fix),
    )


def _two_group(
    measure: str,
    mean_treat: ArrayLike,
    sd_treat: ArrayLike,
    n_treat: ArrayLike,
    mean_ctrl: ArrayLike,
    sd_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    studies: ArrayLike | None,
) -> EffectSizes:
    """ROM (log ratio of means, large-sample variance) and SMDH (SMD with the SD the average
    of the two variances, bias-corrected as Hedges' g), as escalc's default vtype "LS"."""
    named = _group_summaries(mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl)
    m1, s1, n1, m2, s2, n2 = named.values()
    k = _checked(named)
    labels = study_labels(studies, k)
    _require("sd_treat", s1, s1 >= 0, ">= 0")
    _require("sd_ctrl", s2, s2 >= 0, ">= 0")
    _require("n_treat", n1, n1 > 0, "> 0")
    _require("n_ctrl", n2, n2 > 0, "> 0")
    if measure == "ROM":
        # a log ratio needs both means on the same side of zero
        _require("mean_treat / mean_ctrl", m1, m1 / np.where(m2 == 0, np.nan, m2) > 0, "> 0")
        yi = np.log(m1 / m2)
        vi = s1**2 / (n1 * m1**2) + s2**2 / (n2 * m2**2)
    else:
        _require("n_treat", n1, n1 > 1, "> 1 for SMDH")
        _require("n_ctrl", n2, n2 > 1, "> 1 for SMDH")
        _require("n_treat + n_ctrl", n1, n1 + n2 > 3, "> 3 for SMDH")
        v1, v2 = s1**2, s2**2
        _require("sd_treat, sd_ctrl", s1, (v1 + v2) > 0, "not both 0 for SMDH")
        cm = cmicalc(n1 + n2 - 2)
        yi = cm * (m1 - m2) / np.sqrt((v1 + v2) / 2)
        vi = cm**2 * (
            yi**2 * (v1**2 / (n1 - 1) + v2**2 / (n2 - 1)) / (2 * (v1 + v2) ** 2)
            + (v1 / (n1 - 1) + v2 / (n2 - 1)) / ((v1 + v2) / 2)
        )
    return _uncorrected(measure, yi, vi, labels)


def _prepost(
    measure: str,
    mean_pre: ArrayLike,
    mean_post: ArrayLike,
    sd_pre: ArrayLike,
    sd_post: ArrayLike | None,
    n: ArrayLike,
    r_pre_post: ArrayLike,
    studies: ArrayLike | None,
) -> EffectSizes:
    """Standardised mean change (post minus pre) of one group, bias-corrected with n - 1 df.

    SMCC divides by the SD of the change scores, sqrt(sd_pre^2 + sd_post^2 - 2 r sd_pre
    sd_post); SMCR by the pre-test SD (metafor's m1i = post, m2i = pre, sd1i = sd_pre). Both use
    escalc's default large-sample variance.
    """
    m0 = as_vector(mean_pre, "mean_pre")
    m1 = as_vector(mean_post, "mean_post")
    s0 = as_vector(sd_pre, "sd_pre")
    nn = as_vector(n, "n")
    rr = as_vector(r_pre_post, "r_pre_post")
    named = {"mean_pre": m0, "mean_post": m1, "sd_pre": s0, "n": nn, "r_pre_post": rr}
    s1 = None
    if measure == "SMCC":
        s1 = as_vector(sd_post, "sd_post")
        named["sd_post"] = s1
    k = _checked(named)
    labels = study_labels(studies, k)
    _require("sd_pre", s0, s0 >= 0, ">= 0")
    _require("r_pre_post", rr, np.abs(rr) <= 1, "between -1 and 1")
    _require("n", nn, nn > 2, "> 2 for a standardised mean change")
    cm = cmicalc(nn - 1)
    if s1 is not None:
        _require("sd_post", s1, s1 >= 0, ">= 0")
        sd_change = np.sqrt(np.maximum(s0**2 + s1**2 - 2 * rr * s0 * s1, 0.0))
        _require("SD of the change", sd_change, sd_change > 0, "> 0")
        yi = cm * (m1 - m0) / sd_change
        vi = 1 / nn + yi**2 / (2 * nn)
    else:
        _require("sd_pre", s0, s0 > 0, "> 0 for SMCR")
        yi = cm * (m1 - m0) / s0
        vi = 2 * (1 - rr) / nn + yi**2 / (2 * nn)
    return _uncorrected(measure, yi, vi, labels)


def _pft(x: FloatArray, n: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Freeman-Tukey double arcsine of x events in n, and its variance 1 / (4n + 2)."""
    yi = 0.5 * (np.arcsin(np.sqrt(x / (n + 1))) + np.arcsin(np.sqrt((x + 1) / (n + 1))))
    return yi, 1 / (4 * n + 2)


def ipft_hm(yi: ArrayLike, n: ArrayLike) -> FloatArray:
    """Back-transform double-arcsine values to proportions, with the harmonic mean of the
    studies' sizes standing in for n (metafor's transf.ipft.hm, used to report a PFT pool).

    Values beyond the transform of 0 or 1 events map to 0 or 1.
    """
    y = as_vector(yi, "yi")
    sizes = as_vector(n, "n")
    require_finite("n", sizes)
    _require("n", sizes, sizes > 0, "> 0")
    hm = 1 / np.mean(1 / sizes)
    s = np.sin(2 * y)
    with np.errstate(divide="ignore", invalid="ignore"):
        inner = 1 - (s + (s - 1 / s) / hm) ** 2
        z = 0.5 * (1 - np.sign(np.cos(2 * y)) * np.sqrt(inner))
    lo, _ = _pft(np.array([0.0]), np.array([hm]))
    hi, _ = _pft(np.array([hm]), np.array([hm]))
    z = np.where(y > hi[0], 1.0, np.where(y < lo[0], 0.0, z))
    return np.asarray(z, dtype=float)


def _correlation(
    measure: str, r: ArrayLike, n: ArrayLike, studies: ArrayLike | None
) -> EffectSizes:
    """COR (raw r, variance (1 - r^2)^2 / (n - 1)) or ZCOR (Fisher's z, variance 1 / (n - 3))."""
    rr = as_vector(r, "r")
    nn = as_vector(n, "n")
    k = _checked({"r": rr, "n": nn})
    labels = study_labels(studies, k)
    _require("r", rr, np.abs(rr) <= 1, "between -1 and 1")
    if measure == "ZCOR":
        _require("r", rr, np.abs(rr) < 1, "strictly between -1 and 1 for ZCOR")
        _require("n", nn, nn > 3, "> 3 for ZCOR")
        yi = np.arctanh(rr)
        vi = 1 / (nn - 3)
    else:
        _require("n", nn, nn > 1, "> 1 for COR")
        yi = rr
        vi = (1 - rr**2) ** 2 / (nn - 1)
    return _uncorrected(measure, yi, vi, labels)
