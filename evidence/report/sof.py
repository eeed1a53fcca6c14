"""Summary-of-findings rows: relative and absolute effects with GRADE certainty and footnotes."""

from __future__ import annotations

import math
from dataclasses import dataclass

from evidence.rating.grade import Certainty
from evidence.synthesis.pool import ALL_TIERS, PRIMARY, SINGLE, Analysis


@dataclass(frozen=True)
class FindingRow:
    indication: str
    comparison: str  # the comparison's label, e.g. "oral drug vs placebo"
    outcome: str
    studies: int
    participants: int
    relative: str
    absolute: str
    certainty: str
    footnotes: tuple[str, ...]


def _risk_with(measure: str, cr: float, x: float) -> float:
    """The treated-group risk implied by a control risk and an effect on the analysis scale."""
    if measure == "RR":
        return min(1.0, cr * math.exp(x))
    if measure == "OR":
        odds = cr / (1 - cr) * math.exp(x) if cr < 1 else math.inf
        return odds / (1 + odds) if math.isfinite(odds) else 1.0
    if measure == "RD":
        return min(1.0, max(0.0, cr + x))
    raise ValueError(measure)


def relative_effect(a: Analysis) -> str:
    r = a.result
    if r.is_ratio:
        return (
            f"{r.measure} {math.exp(r.estimate):.2f} "
            f"({math.exp(r.ci_low):.2f} to {math.exp(r.ci_high):.2f})"
        )
    return f"{r.measure} {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})"


def absolute_effect(a: Analysis) -> str:
    """Per 1,000 people: control risk, and the difference with its CI."""
    r, cr = a.result, a.control_risk
    if cr is None or r.measure not in ("RR", "OR", "RD"):
        return (
            "not estimable: no control risk"
            if r.measure not in ("MD", "SMD")
            else "not applicable (continuous outcome)"
        )
    per = [1000 * (_risk_with(r.measure, cr, x) - cr) for x in (r.estimate, r.ci_low, r.ci_high)]
    lo, hi = sorted(per[1:])
    sign = "more" if per[0] >= 0 else "fewer"
    return (
        f"{round(1000 * cr)} per 1,000 on control; {abs(round(per[0]))} {sign} per 1,000 "
        f"({round(lo)} to {round(hi)})"
    )


def findings(analyses: list[Analysis], certainty: dict[tuple, Certainty]) -> list[FindingRow]:
    rows = []
    for a in analyses:
        if a.tier != ALL_TIERS or a.analysis != PRIMARY or a.outcome.measure in SINGLE:
            continue
        c = certainty.get(a.key)
        # Domains that lowered certainty, and any that could not be computed (said, not hidden).
        notes = tuple(
            f"{d}: {why}"
            for d, lowered, why in (c.domains if c else ())
            if lowered or "not computable" in why
        ) or ("no serious concern in any domain",)
        rows.append(
            FindingRow(
                a.indication,
                a.comparison_label,
                a.outcome.label,
                a.result.k,
                a.participants,
                relative_effect(a),
                absolute_effect(a),
                c.level if c else "not graded",
                notes,
            )
        )
    return rows
