"""Sensitivity analyses shown under the pooled result they test.

`LINES` is the one place that says, per analysis name of pooled.csv, what the analysis tests;
a name the pipeline produces without a line here stops the report (`SensitivityMissing`), so a
new sensitivity analysis cannot reach a reader unexplained. Rows come from pooled.csv's own
frame, so the report shows exactly what the table holds, "not estimable" rows with their reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from evidence.meta.results import RATIO_MEASURES
from evidence.synthesis.pool import (
    ALL_TIERS,
    CROSSOVER_AS_PARALLEL,
    EXCLUDING_DERIVED,
    EXCLUDING_HIGH_RISK,
    FIXED_EFFECT,
    PRIMARY,
)


@dataclass(frozen=True)
class Line:
    label: str  # short name shown in the table
    tests: str  # one line: what the analysis changes and what question it answers


# Ordered as shown under each pooled result.
LINES: dict[str, Line] = {
    EXCLUDING_DERIVED: Line(
        "Without derived values",
        "Leaves out comparisons with a number computed rather than printed (counts from "
        "percentages, SDs from SEs, effects entered from a reported CI): does the result rest "
        "on derived values?",
    ),
    EXCLUDING_HIGH_RISK: Line(
        "Without trials at high risk of bias",
        "Leaves out the trials judged at high risk of bias overall (RoB 2): does the result rest "
        "on the least trustworthy trials?",
    ),
    CROSSOVER_AS_PARALLEL: Line(
        "Crossover trials as parallel groups",
        "Analyses crossover trials as parallel groups instead of paired with the assumed "
        "within-patient correlation: does that assumption change the result?",
    ),
    FIXED_EFFECT: Line(
        "Fixed effect",
        "Pools with a fixed-effect model (Mantel–Haenszel for risk and odds ratios from arm "
        "counts, inverse variance otherwise): does the random-effects weighting of small "
        "studies drive the result?",
    ),
}


class SensitivityMissing(ValueError):
    """pooled.csv holds an analysis that `LINES` does not explain."""


@dataclass(frozen=True)
class SensitivityRow:
    indication: str
    comparison: str  # comparison id
    outcome: str  # outcome id
    analysis: str
    label: str
    tests: str
    effect: str  # "RR 2.60 (1.68 to 4.02)" on the natural scale, or "not estimable"
    studies: int
    participants: int
    note: str = ""  # why not estimable

    @property
    def estimable(self) -> bool:
        return not self.note

    @property
    def why(self) -> str:
        """Why it is not estimable, without the word pooled.csv's note begins with."""
        return self.note.removeprefix("not estimable:").strip()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.indication, self.comparison, self.outcome)


def _num(v: object) -> float | None:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def _int(v: object) -> int:
    x = _num(v)
    return 0 if x is None else int(x)


def natural_effect(measure: str, estimate: float, low: float, high: float) -> str:
    """The effect and its 95% CI on the scale a reader reads: ratios exponentiated, logit and
    raw proportions as percentages, differences as they are."""
    if measure in RATIO_MEASURES:
        e, lo, hi = math.exp(estimate), math.exp(low), math.exp(high)
        return f"{measure} {e:.2f} ({lo:.2f} to {hi:.2f})"
    if measure in ("PLO", "PR"):

        def pct(x: float) -> float:
            return 100 / (1 + math.exp(-x)) if measure == "PLO" else 100 * x

        return f"{pct(estimate):.1f}% ({pct(low):.1f}% to {pct(high):.1f}%)"
    return f"{measure} {estimate:.2f} ({low:.2f} to {high:.2f})"


def sensitivity_rows(
    pooled: pd.DataFrame,
) -> dict[tuple[str, str, str], tuple[SensitivityRow, ...]]:
    """pooled.csv's sensitivity analyses per (indication, comparison, outcome), in `LINES`'
    order; raises `SensitivityMissing` naming the row whose analysis has no line."""
    out: dict[tuple[str, str, str], list[SensitivityRow]] = {}
    if pooled.empty:
        return {}
    for i, r in enumerate(pooled.to_dict("records")):
        if r["analysis"] == PRIMARY or r["tier"] != ALL_TIERS:
            continue
        name = str(r["analysis"])
        line = LINES.get(name)
        if line is None:
            raise SensitivityMissing(
                f"pooled.csv row {i + 2}, field analysis: {name!r} has no line saying what it "
                "tests (evidence/report/sensitivity.py, LINES)"
            )
        note = "" if pd.isna(r.get("note")) else str(r.get("note") or "")
        est, lo, hi = (_num(r.get(c)) for c in ("estimate", "ci_low", "ci_high"))
        if est is None or lo is None or hi is None:
            effect = "not estimable"
            note = note or "not estimable: no pooled estimate"
        else:
            effect = natural_effect(str(r["measure"]), est, lo, hi)
        row = SensitivityRow(
            str(r["indication"]),
            "" if pd.isna(r["comparison"]) else str(r["comparison"]),
            str(r["outcome"]),
            name,
            line.label,
            line.tests,
            effect,
            _int(r.get("k")),
            _int(r.get("participants")),
            note,
        )
        out.setdefault(row.key, []).append(row)
    order = list(LINES)
    return {k: tuple(sorted(v, key=lambda s: order.index(s.analysis))) for k, v in out.items()}


def unattached(
    rows: Mapping[tuple[str, str, str], tuple[SensitivityRow, ...]],
    shown: set[tuple[str, str, str]],
) -> list[SensitivityRow]:
    """Sensitivity rows whose pooled result has no summary-of-findings row (single-group
    pools): the report lists them apart rather than leaving them out."""
    return [s for k in sorted(rows) if k not in shown for s in rows[k]]
