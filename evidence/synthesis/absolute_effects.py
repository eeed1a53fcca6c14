"""Absolute effects of a pooled comparison: risk per 1,000 with and without the drug, NNT/NNH.

The control risk is the risk a reader's patients would have without the drug, so it comes only
from the comparator arms of the pool's own studies that stand for "no drug": placebo (or usual
care) arms, as the rule set lists them. An active comparator's arm is another drug's risk and is
never used; a pool without such arms gets no absolute effect, and says why. Continuous outcomes
are set against the protocol's minimal important difference (MID) where it gives one.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

RATIO = {"RR", "OR"}


@dataclass(frozen=True)
class ControlArm:
    """One study's comparator arm(s) in a pool: its comparator class and counts."""

    study_id: str
    comparator: str  # placebo | active | usual_care | dose | none | unknown
    events: float
    n: float


@dataclass(frozen=True)
class ControlRisk:
    """The pooled risk of the accepted comparator arms, or None with the reason."""

    risk: float | None
    events: float
    n: float
    studies: tuple[str, ...]
    source: str  # which arms, and how many events/participants; or why there is none


def control_risk(arms: Sequence[ControlArm], accepted: Iterable[str]) -> ControlRisk:
    """Events over participants of the pool's arms whose comparator class is `accepted`."""
    ok = tuple(accepted)
    kinds = " or ".join(k.replace("_", " ") for k in ok) or "no"
    used = [a for a in arms if a.comparator in ok and a.n > 0]
    if not used:
        others = sorted({a.comparator.replace("_", " ") for a in arms})
        why = (
            f"no control risk: the pool has no {kinds} arm"
            + (f" (its comparator arms are {', '.join(others)})" if others else "")
            + "; another drug's arm is not a baseline risk"
        )
        return ControlRisk(None, 0.0, 0.0, (), why)
    events = sum(a.events for a in used)
    n = sum(a.n for a in used)
    ids = tuple(a.study_id for a in used)
    left = [a.study_id for a in arms if a not in used]
    source = (
        f"{kinds} arms of {len(ids)} stud{'y' if len(ids) == 1 else 'ies'} in the pool "
        f"({', '.join(ids)}): {_num(events)}/{_num(n)} events"
        + (f"; not used: {', '.join(left)} (other comparators)" if left else "")
    )
    return ControlRisk(events / n, events, n, ids, source)


def _num(x: float) -> str:
    return f"{x:g}" if x != int(x) else str(int(x))


def risk_with(measure: str, cr: float, x: float) -> float:
    """The treated risk implied by a control risk and an effect on the analysis scale."""
    if measure == "RR":
        return min(1.0, cr * math.exp(x))
    if measure == "OR":
        if cr >= 1:
            return 1.0
        odds = cr / (1 - cr) * math.exp(x)
        return odds / (1 + odds)
    if measure == "RD":
        return min(1.0, max(0.0, cr + x))
    raise ValueError(f"no absolute effect for measure {measure!r}")


@dataclass(frozen=True)
class AbsoluteEffect:
    """Per `per` people: the comparator's risk, the difference with the drug and its CI, and
    the number needed to treat (benefit) or harm, or why there is none."""

    risk_control: float | None
    difference: float | None
    difference_low: float | None
    difference_high: float | None
    nnt: str  # "NNT 7 (4 to 25)", "NNH 12 (...)", "not significant", or why not estimable
    comparator_text: str  # "300 per 1,000" or the reason there is none
    difference_text: str  # "120 more per 1,000 (40 more to 230 more)" or the reason
    source: str  # where the control risk comes from
    per: int = 1000


def _fmt_diff(x: float) -> str:
    r = round(x)
    return f"{abs(r)} {'more' if r > 0 else 'fewer'}" if r else "0 more"


def binary_absolute(
    measure: str,
    estimate: float,
    ci_low: float,
    ci_high: float,
    control: ControlRisk,
    benefit: str,
    per: int = 1000,
) -> AbsoluteEffect:
    """Risk per `per` without and with the drug; NNT/NNH where the CI excludes no effect.

    `benefit` ("higher"/"lower") says whether more events are good (abstinence) or bad
    (dropout): a significant increase is an NNT in the first case and an NNH in the second.
    """
    if control.risk is None:
        return AbsoluteEffect(
            None, None, None, None, "not estimable: no control risk",
            "not estimable", control.source, control.source, per,
        )  # fmt: skip
    cr = control.risk
    diffs = [per * (risk_with(measure, cr, x) - cr) for x in (estimate, ci_low, ci_high)]
    lo, hi = sorted(diffs[1:])
    significant = ci_low > 0 or ci_high < 0  # on the analysis scale, no effect is 0
    if not significant:
        nnt = "not significant"
    elif lo == 0 or hi == 0 or lo * hi < 0:
        nnt = "not estimable: the risk difference's CI reaches 0"
    else:
        more = diffs[0] > 0
        good = more == (benefit == "higher")
        n_est, a, b = per / abs(diffs[0]), per / abs(lo), per / abs(hi)
        lo_n, hi_n = sorted((a, b))
        name = "NNT" if good else "NNH"
        nnt = f"{name} {math.ceil(n_est)} ({math.ceil(lo_n)} to {math.ceil(hi_n)})"
    return AbsoluteEffect(
        per * cr,
        diffs[0],
        lo,
        hi,
        nnt,
        f"{round(per * cr)} per {per:,}",
        f"{_fmt_diff(diffs[0])} per {per:,} ({_fmt_diff(lo)} to {_fmt_diff(hi)})",
        control.source,
        per,
    )


def continuous_against_mid(
    measure: str, estimate: float, ci_low: float, ci_high: float, mid: float | None
) -> str:
    """Where the mean difference and its CI lie against the protocol's MID (outcome units)."""
    if measure != "MD":
        return f"no MID comparison for {measure} (the MID is in the outcome's units)"
    if mid is None:
        return "no minimal important difference in the protocol"
    m = abs(mid)
    text = f"MD {estimate:.2f} ({ci_low:.2f} to {ci_high:.2f}) against MID {m:g}"
    if ci_low >= m or ci_high <= -m:
        return f"{text}: the whole CI is beyond the MID (an important difference)"
    if -m < ci_low and ci_high < m:
        return f"{text}: the whole CI is within the MID (no important difference)"
    if abs(estimate) >= m:
        return f"{text}: the estimate reaches the MID but the CI includes smaller differences"
    return f"{text}: the estimate is below the MID and the CI includes an important difference"
