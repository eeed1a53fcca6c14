"""Which declared comparison (PICO) each study belongs to, and why a study belongs to none.

Pools never cross comparisons: an active-comparator trial does not enter a placebo pool, an
intrathecal trial never pools with oral ones. Assignment reads only the study's own fields
(`design`, `route`, `comparator`, `population`, `duration_weeks`) against the protocol.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from evidence.inputs.protocol import SUPPORTED_DESIGNS, ComparisonSpec, Indication, Protocol

UNASSIGNED_COLUMNS = [
    "indication",
    "study_id",
    "design",
    "route",
    "comparator",
    "population",
    "duration_weeks",
    "why",
]


@dataclass(frozen=True)
class Comparator:
    """A study's comparator as a class and names (`active:a/b` → active, (a, b))."""

    kind: str  # placebo | active | usual_care | dose | none | unknown
    names: tuple[str, ...] = ()


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def comparator_of(value: object, usual_care_terms: Iterable[str], drug: str) -> Comparator:
    """The comparator class from studies.csv's vocabulary and the protocol's usual-care terms."""
    text = _text(value)
    if not text:
        return Comparator("unknown")
    if text in ("placebo", "none"):
        return Comparator(text)
    if text.startswith("active:"):
        names = tuple(n.strip() for n in text.removeprefix("active:").split("/") if n.strip())
        terms = [t.casefold() for t in usual_care_terms]
        folded = [n.casefold() for n in names]
        if names and all(any(n.startswith(t) for t in terms) for n in folded):
            return Comparator("usual_care", names)
        if names and all(n.startswith(drug.casefold()) for n in folded):
            return Comparator("dose", names)
        return Comparator("active", names)
    return Comparator("unknown", (text,))


def _duration(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if pd.isna(out) else out


def misfits(study: Mapping[str, object], spec: ComparisonSpec, protocol: Protocol) -> list[str]:
    """Why `study` does not fit `spec` (empty when it fits)."""
    why: list[str] = []
    design = _text(study.get("design"))
    if design and design not in SUPPORTED_DESIGNS:
        why.append(f"design {design!r} cannot be pooled yet")
    elif spec.designs is not None and design not in spec.designs:
        why.append(f"design {design or 'not stated'} not in {'/'.join(spec.designs)}")
    route = _text(study.get("route"))
    if spec.routes is not None and route not in spec.routes:
        why.append(f"route {route or 'not stated'} not {'/'.join(spec.routes)}")
    comp = comparator_of(study.get("comparator"), protocol.usual_care_terms, protocol.drug.name)
    if spec.comparator is not None:
        if comp.kind != spec.comparator:
            shown = _text(study.get("comparator")) or "not stated"
            why.append(f"comparator {shown} is not {spec.comparator.replace('_', ' ')}")
        elif spec.comparator_names is not None:
            wanted = [w.casefold() for w in spec.comparator_names]
            if not any(n.casefold().startswith(w) for n in comp.names for w in wanted):
                why.append(
                    f"comparator {'/'.join(comp.names)} not {'/'.join(spec.comparator_names)}"
                )
    population = _text(study.get("population")).casefold()
    if spec.population_terms is not None and not any(
        t.casefold() in population for t in spec.population_terms
    ):
        why.append(f"population not {'/'.join(spec.population_terms)}")
    excluded = [t for t in spec.exclude_population_terms if t.casefold() in population]
    if excluded:
        why.append(f"population is {'/'.join(excluded)}")
    if spec.min_duration_weeks is not None:
        weeks = _duration(study.get("duration_weeks"))
        if weeks is None and spec.duration_unknown == "exclude":
            why.append(f"duration not stated (needs >= {spec.min_duration_weeks:g} weeks)")
        elif weeks is not None and weeks < spec.min_duration_weeks:
            why.append(f"duration {weeks:g} weeks < {spec.min_duration_weeks:g}")
    return why


def assign(
    study: Mapping[str, object], indication: Indication, protocol: Protocol
) -> tuple[ComparisonSpec | None, str]:
    """The first comparison `study` fits, or None and every comparison's reasons."""
    reasons = []
    for spec in indication.comparison_specs:
        why = misfits(study, spec, protocol)
        if not why:
            return spec, ""
        reasons.append(f"{spec.label}: {', '.join(why)}")
    return None, "; ".join(reasons)


def assign_studies(studies: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """One row per study of an indication: its comparison id and label, or empty ones and
    `why` it fits none."""
    rows = []
    by_id = {i.id: i for i in protocol.indications}
    for rec in studies.sort_values("study_id").to_dict("records"):
        ind = by_id.get(_text(rec.get("indication")))
        if ind is None:
            continue
        spec, why = assign(rec, ind, protocol)
        rows.append(
            {
                "study_id": rec["study_id"],
                "indication": ind.id,
                "comparison": spec.id if spec else "",
                "comparison_label": spec.label if spec else "",
                **{c: rec.get(c) for c in UNASSIGNED_COLUMNS if c not in ("indication", "why")},
                "why": why,
            }
        )
    cols = ["study_id", "indication", "comparison", "comparison_label"] + [
        c for c in UNASSIGNED_COLUMNS if c not in ("indication", "study_id")
    ]
    return pd.DataFrame(rows, columns=cols)


def pooling_candidates(
    studies: pd.DataFrame, outcomes: pd.DataFrame, effects: pd.DataFrame, protocol: Protocol
) -> set[str]:
    """Studies that hold numbers for one of their indication's declared outcomes."""
    wanted = {(i.id, o.id) for i in protocol.indications for o in i.outcomes}
    ind = dict(zip(studies["study_id"], studies["indication"], strict=True))
    out = set()
    for frame in (outcomes, effects):
        for sid, outcome in zip(frame["study_id"], frame["outcome"], strict=True):
            if (ind.get(sid), outcome) in wanted:
                out.add(sid)
    return out


def unassigned_frame(assignments: pd.DataFrame) -> pd.DataFrame:
    """unassigned.csv: studies with numbers for a declared outcome that fit no comparison."""
    if "comparison" not in assignments.columns:
        return pd.DataFrame(columns=UNASSIGNED_COLUMNS)
    rows = assignments[assignments["comparison"] == ""]
    return rows[UNASSIGNED_COLUMNS].sort_values(["indication", "study_id"]).reset_index(drop=True)


def with_comparisons(tiered: pd.DataFrame, assignments: pd.DataFrame) -> pd.DataFrame:
    """Tabulated rows with their study's comparison (empty when it fits none)."""
    known = dict(zip(assignments["study_id"], assignments["comparison"], strict=True))
    out = tiered.copy()
    out["comparison"] = [known.get(s, "") for s in out["study_id"]]
    return out


def effects_with_comparisons(
    effects: pd.DataFrame, studies: pd.DataFrame, assignments: pd.DataFrame
) -> pd.DataFrame:
    """Reported effects with their study's indication, year, size, design and comparison."""
    cols = ["study_id", "indication", "year", "n_total", "design"]
    out = effects.merge(studies[cols], on="study_id", how="left", validate="many_to_one")
    known = (
        dict(zip(assignments["study_id"], assignments["comparison"], strict=True))
        if "comparison" in assignments.columns
        else {}
    )
    out["comparison"] = [known.get(s, "") for s in out["study_id"]]
    return out


def assignment_map(assignments: pd.DataFrame) -> dict[str, tuple[str, str] | None]:
    """study id → (comparison id, label), or None for a study fitting no comparison: the one
    assignment that pools, ratings and vote counts all follow."""
    if assignments.empty:
        return {}
    return {
        sid: ((cid, label) if cid else None)
        for sid, cid, label in zip(
            assignments["study_id"],
            assignments["comparison"],
            assignments["comparison_label"],
            strict=True,
        )
    }
