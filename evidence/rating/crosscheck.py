"""Published syntheses beside our own pools: agrees or disagrees, and why. Never a vote."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from evidence.rating.comparisons import PooledEvidence
from evidence.rating.features import NULL_FREE, RATIO_MEASURES, format_effect

DIFFERENCE_MEASURES = ("MD", "SMD")


def _scale(measure: str) -> str | None:
    """'ratio' or 'difference' for a comparable pooled measure; None for anything else."""
    if any(word in measure for word in NULL_FREE):
        return None
    head = measure.split(" ")[0]
    if head in RATIO_MEASURES:
        return "ratio"
    if head in DIFFERENCE_MEASURES:
        return "difference"
    return None


def _side(low: float, high: float, null: float) -> str:
    if low > null:
        return "lies above no effect"
    if high < null:
        return "lies below no effect"
    return "includes no effect"


def _num(v: object) -> float | None:
    try:
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _who(row: Mapping[str, Any]) -> str:
    if pd.isna(row["first_author"]) or not str(row["first_author"]).strip():
        return str(row["review_id"])
    year = "" if pd.isna(row["year"]) else f" {int(float(row['year']))}"
    return f"{row['first_author']}{year}"


def cross_check(
    syntheses: pd.DataFrame, review_ids: set[str], pools: Sequence[PooledEvidence]
) -> str:
    """One sentence per published pooled result on an outcome we pool; the rest counted.

    Only the direction of each confidence interval relative to no effect is compared, on the
    same scale (ratio with ratio, difference with difference); the reason quotes both k.
    """
    rows = syntheses[syntheses["review_id"].isin(review_ids)]
    said: list[str] = []
    other: set[str] = set()
    for r in rows.to_dict("records"):  # plain dicts: iterrows builds a Series per row
        est, lo, hi = _num(r["estimate"]), _num(r["ci_low"]), _num(r["ci_high"])
        measure = "" if pd.isna(r["measure"]) else str(r["measure"])
        scale = _scale(measure)
        if est is None or lo is None or hi is None or scale is None:
            continue
        ours = [
            p
            for p in pools
            if p.signal.outcome == r["outcome"]
            and _scale(p.signal.measure) == scale
            and p.signal.k >= 2
        ]
        if not ours:
            other.add(str(r["outcome"]))
            continue
        mine = max(ours, key=lambda p: (p.signal.k, p.participants))
        theirs = _side(lo, hi, 1.0 if scale == "ratio" else 0.0)
        own = _side(mine.signal.ci_low, mine.signal.ci_high, 0.0)
        k = _num(r["k"])
        their_k = f"k={int(k)}" if k is not None else "k not stated"
        head = measure.split(" ")[0]
        quoted = f"{head} {est:g} ({lo:g} to {hi:g}), {their_k}"
        s = mine.signal
        ours_q = f"{format_effect(s.measure, s.estimate, s.ci_low, s.ci_high)}, k={s.k}"
        if theirs == own:
            said.append(f"agrees with {_who(r)} on {r['outcome']} ({quoted}; ours {ours_q})")
            continue
        because = f"its interval {theirs}, ours {own}"
        if k is not None and int(k) != s.k:
            because += f"; it pools {int(k)} studies where we pool {s.k}"
        said.append(
            f"disagrees with {_who(r)} on {r['outcome']} ({quoted}; ours {ours_q}), "
            f"because {because}"
        )
    if other:
        said.append(
            "published pooled results on outcomes we do not pool: " + ", ".join(sorted(other))
        )
    return "; ".join(said)
