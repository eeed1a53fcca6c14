"""What a reader calls a study and its arms in a figure: "Author Year", never an internal id."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:  # the type only: labels need none of the pooling's modules
    from evidence.synthesis.pool import ArmNumbers


TITLE_WORDS = 6
_INITIALS = re.compile(r"^[A-Z][A-Za-z]{0,2}$|^[A-Z](\.[A-Z])*\.?$")


def surname(first_author: str) -> str:
    """ "Addolorato G" → "Addolorato"; "van den Brink W" → "van den Brink" (PubMed style)."""
    words = first_author.split()
    if len(words) > 1 and _INITIALS.fullmatch(words[-1]) and words[-1].isupper():
        words = words[:-1]
    return " ".join(words)


def _text(v: object) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v).strip()


def study_label(first_author: object, year: object, title: object) -> str:
    """ "Author Year" from studies.csv; without an author, the title's first words (and the year
    when known); without either, a plain "Untitled study"."""
    author, name = _text(first_author), _text(title)
    when = _text(year)
    when = when.split(".")[0] if when else ""
    if author:
        return f"{surname(author)} {when or 'n.d.'}"
    if name:
        words = name.split()
        short = " ".join(words[:TITLE_WORDS]) + (" …" if len(words) > TITLE_WORDS else "")
        return f"{short} ({when})" if when else short
    return f"Untitled study ({when})" if when else "Untitled study"


def study_labels(studies: pd.DataFrame) -> dict[str, str]:
    """Study id → label; studies sharing "Author Year" get a, b, … in id order (as RevMan)."""
    base: dict[str, str] = {}
    for r in studies.sort_values("study_id").to_dict("records"):
        base[str(r["study_id"])] = study_label(r.get("first_author"), r.get("year"), r.get("title"))
    seen: dict[str, list[str]] = {}
    for sid, label in base.items():
        seen.setdefault(label, []).append(sid)
    out = dict(base)
    for label, ids in seen.items():
        if len(ids) > 1 and not label.startswith("Untitled"):
            for n, sid in enumerate(ids):
                out[sid] = f"{label}{chr(ord('a') + n)}" if n < 26 else f"{label} ({n + 1})"
    return out


def _n(x: float | None) -> str:
    if x is None:
        return "–"
    return f"{x:.0f}" if float(x).is_integer() else f"{x:.1f}"


def _v(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def arm_cells(arms: Sequence[ArmNumbers], width: int, continuous: bool) -> tuple[str, ...]:
    """An arm as RevMan prints it: events/total, or mean (SD) n; a reported effect says so."""
    if not arms:
        return ("effect reported", *("–" for _ in range(width - 1)))
    if continuous:
        return tuple(f"{_v(a.mean)} ({_v(a.sd)}) {_n(a.n)}" for a in arms)
    return tuple(f"{_n(a.events)}/{_n(a.n)}" for a in arms)


def comparator_name(comparison_label: str) -> str:
    """ "oral baclofen vs placebo (maintenance)" → "placebo": the comparison's other arm."""
    if " vs " not in comparison_label:
        return ""
    other = comparison_label.split(" vs ", 1)[1]
    return re.sub(r"\s*\(.*\)\s*$", "", other).strip()


def favours(drug: str, comparator: str, benefit: str) -> tuple[str, str] | None:
    """The labels left and right of the line of no effect, for an outcome where `benefit` is
    "higher" (values above no effect favour the drug) or "lower"."""
    if not comparator:
        return None
    d, c = f"Favours {drug}", f"Favours {comparator}"
    return (c, d) if benefit == "higher" else (d, c)
