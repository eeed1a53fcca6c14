"""Summary of findings per comparison and outcome, in GRADEpro's layout.

Each row: the outcome, participants (studies), the relative effect (95% CI), the anticipated
absolute effects (risk with the comparator, risk difference with the drug) and the certainty
with all five GRADE domains, each judged and explained in a footnote, including the domains that
lowered nothing and those that could not be judged.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from evidence.rating.domains import DOMAINS, DomainJudgement
from evidence.rating.grade import Certainty
from evidence.rating.rules import RuleSet
from evidence.report.sensitivity import SensitivityRow
from evidence.synthesis.absolute_effects import AbsoluteEffect, risk_with
from evidence.synthesis.pool import ALL_TIERS, PRIMARY, SINGLE, Analysis
from evidence.tables.uses import absolute_of

# GRADEpro's symbols for the four levels, shown beside the level's name.
SYMBOLS = {"High": "⊕⊕⊕⊕", "Moderate": "⊕⊕⊕◯", "Low": "⊕⊕◯◯", "Very low": "⊕◯◯◯"}


@dataclass(frozen=True)
class FindingRow:
    indication: str
    comparison: str  # the comparison's label, e.g. "oral drug vs placebo"
    outcome: str
    studies: int
    participants: int
    relative: str
    risk_comparator: str  # anticipated risk with the comparator (per 1,000), or why none
    risk_difference: str  # risk difference with the drug (per 1,000, 95% CI), MD vs MID, ...
    nnt: str  # NNT/NNH with its interval, "not significant", or why not estimable
    certainty: str
    domains: tuple[DomainJudgement, ...]  # all five, in GRADE's order
    footnotes: tuple[str, ...]  # one per domain, then where the control risk comes from
    sensitivity: tuple[SensitivityRow, ...] = ()  # shown as rows under this one
    comparison_id: str = ""
    outcome_id: str = ""

    @property
    def symbols(self) -> str:
        return SYMBOLS.get(self.certainty, "")

    @property
    def absolute(self) -> str:
        """Both absolute columns in one phrase (kept for one-line summaries)."""
        return f"{self.risk_comparator}; {self.risk_difference}"


_risk_with = risk_with  # kept for callers of the earlier name


def relative_effect(a: Analysis) -> str:
    r = a.result
    if r.is_ratio:
        return (
            f"{r.measure} {math.exp(r.estimate):.2f} "
            f"({math.exp(r.ci_low):.2f} to {math.exp(r.ci_high):.2f})"
        )
    return f"{r.measure} {r.estimate:.2f} ({r.ci_low:.2f} to {r.ci_high:.2f})"


def _absolute_cells(a: Analysis, rules: RuleSet) -> tuple[str, str, str, str]:
    """(risk with comparator, risk difference, NNT, control-risk footnote)."""
    r = a.result
    got = absolute_of(a, rules)
    if isinstance(got, AbsoluteEffect):
        return got.comparator_text, got.difference_text, got.nnt, f"control risk: {got.source}"
    if r.measure in ("MD", "SMD"):
        return "not applicable (continuous outcome)", got, "not applicable", ""
    return "not estimable", f"not estimable for {r.measure}", "not applicable", ""


def findings(
    analyses: list[Analysis],
    certainty: dict[tuple, Certainty],
    rules: RuleSet,
    sensitivity: Mapping[tuple[str, str, str], tuple[SensitivityRow, ...]] | None = None,
) -> list[FindingRow]:
    """`sensitivity`: each pool's sensitivity analyses by (indication, comparison, outcome)."""
    rows = []
    for a in analyses:
        if a.tier != ALL_TIERS or a.analysis != PRIMARY or a.outcome.measure in SINGLE:
            continue
        c = certainty[a.key]
        comparator, difference, nnt, source = _absolute_cells(a, rules)
        notes = tuple(f"{d.domain}: {d.judgement}: {d.reason}" for d in c.domains)
        rows.append(
            FindingRow(
                a.indication,
                a.comparison_label,
                a.outcome.label,
                a.result.k,
                a.participants,
                relative_effect(a),
                comparator,
                difference,
                nnt,
                c.level,
                c.domains,
                notes + ((source,) if source else ()),
                (sensitivity or {}).get((a.indication, a.comparison, a.outcome.id), ()),
                a.comparison,
                a.outcome.id,
            )
        )
    return rows


def _col(domain: str) -> str:
    return domain.replace(" ", "_")


def pooled_columns(
    analyses: list[Analysis], certainty: dict[tuple, Certainty], rules: RuleSet
) -> dict[tuple, dict[str, Any]]:
    """pooled.csv's GRADE and absolute-effect columns per analysis key (comparative pools)."""
    out: dict[tuple, dict[str, Any]] = {}
    for a in analyses:
        c = certainty.get(a.key)
        if c is None:
            continue
        cols: dict[str, Any] = {}
        for name in DOMAINS:
            d = c.domain(name)
            cols[f"{_col(name)}"] = d.judgement
            cols[f"{_col(name)}_reason"] = d.reason
        got = absolute_of(a, rules)
        if isinstance(got, AbsoluteEffect):
            cols |= {
                "control_risk_per_1000": _round(got.risk_control),
                "risk_difference_per_1000": _round(got.difference),
                "risk_difference_low": _round(got.difference_low),
                "risk_difference_high": _round(got.difference_high),
                "nnt": got.nnt,
                "control_risk_source": got.source,
                "mid_comparison": "",
            }
        else:
            cols |= {
                "control_risk_per_1000": None,
                "risk_difference_per_1000": None,
                "risk_difference_low": None,
                "risk_difference_high": None,
                "nnt": "not applicable (continuous outcome)"
                if a.result.measure in ("MD", "SMD")
                else "not applicable",
                "control_risk_source": "",
                "mid_comparison": got,
            }
        out[a.key] = cols
    return out


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
