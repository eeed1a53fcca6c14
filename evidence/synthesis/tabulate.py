"""Outcomes by indication × outcome × dose tier × arm role, and each arm's daily dose.

Dose tiers are derived from the protocol's cut points at run time and never stored. A drug arm's
tier is the tier of its own daily dose, taken in this order:

1. the arm's own dose field for the route's unit (`dose_mg_day`, `dose_ug_day`);
2. a regimen in the row's own text (the arm's label, then the row's note), read strictly by
   `evidence.inputs.regimen` ("10 mg t.i.d." is 30 mg/day, flagged derived with how);
3. only when the study has a single drug arm: a regimen in the study's notes, then the study's
   dose range (one dose, or a range lying in one tier; `mixed` when it spans tiers).

A multi-arm study's range spans its arms, so it never tiers one of them. Outcome definitions
are not read: they name doses as outcomes ("participants reaching 150 mg/day"). A printed mean
dose is an achieved dose: it is kept in its own column and tiers the arm only when no assigned
dose is known (`dose_kind` says which). Anything ambiguous stays `unknown` with the reason in
`dose_why`. Routes the protocol gives no cut points for are `not_tiered`. A control arm takes
the tier its study's drug arms share (`mixed` when they differ), so the by-tier table shows it
beside them; its own dose is never computed (it may be another drug).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from evidence.inputs.protocol import Protocol
from evidence.inputs.regimen import DailyDose, read_daily_dose

GROUP_KEYS = ["indication", "outcome", "dose_tier", "arm_role"]
DRUG_ROLES = ("treatment", "single")
DOSE_COLUMNS = [
    "dose_tier",
    "dose_basis",
    "dose",
    "dose_unit_day",
    "dose_kind",
    "dose_derived",
    "dose_how",
    "achieved_dose",
    "dose_why",
]


@dataclass(frozen=True)
class StudyDose:
    """What the study record says about dose, and whether it can speak for one arm."""

    unit: str | None = None
    dose_min: float | None = None
    dose_max: float | None = None
    notes: str | None = None
    single_drug_arm: bool = False


@dataclass(frozen=True)
class ArmDose:
    """One arm's daily dose and tier, with where they came from."""

    tier: str
    basis: str  # arm_field | arm_label | row_note | study_notes | study_dose | study_range | none
    dose: float | None = None
    unit: str = ""
    kind: str = ""  # assigned | achieved_mean
    derived: bool = False
    how: str = ""
    achieved: float | None = None
    why: str = ""


def _num(value: object) -> float | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA:
        return None
    return float(value)  # type: ignore[arg-type]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def arm_dose(
    protocol: Protocol,
    route: str | None,
    own: dict[str, float | None],
    texts: list[tuple[str, str | None]],
    study: StudyDose | None = None,
) -> ArmDose:
    """A drug arm's daily dose and tier. `own` holds its dose fields, `texts` its labelled text
    fields in the order they are read (`[("arm_label", arm), ("row_note", note)]`)."""
    study = study or StudyDose()
    spec = protocol.dose_tiers.get(route or "")
    if spec is None:
        why = "no route recorded" if not route else f"the protocol gives no tiers for {route}"
        return ArmDose("not_tiered", "none", why=why)
    mass = spec.unit.split("/")[0]
    sources = list(texts)
    if study.single_drug_arm:
        sources.append(("study_notes", study.notes))
    assigned: tuple[str, DailyDose] | None = None
    achieved: tuple[str, DailyDose] | None = None
    why = ""
    for basis, text in sources:
        read = read_daily_dose(text, mass)
        if read.status == "ambiguous" and not why:
            why = f"{basis}: {read.why}"
        if read.status != "known":
            continue
        if read.kind == "achieved_mean":
            achieved = achieved or (basis, read)
        else:
            assigned = assigned or (basis, read)
    achieved_value = achieved[1].value if achieved else None
    value = _num(own.get(spec.field))
    if value is not None:
        return ArmDose(
            spec.tier_of(value),
            "arm_field",
            value,
            spec.unit,
            "assigned",
            how=f"{spec.field} of the arm",
            achieved=achieved_value,
        )
    # An ambiguous text in the row itself settles it: a row reading "30-80 mg/day" is not
    # overruled by another field.
    row_why = why if why and not why.startswith("study_notes") else ""
    for found in (assigned, achieved):
        if found is None or row_why:
            continue
        basis, read = found
        assert read.value is not None
        return ArmDose(
            spec.tier_of(read.value),
            basis,
            read.value,
            spec.unit,
            read.kind,
            read.derived,
            f"{basis}: {read.how}",
            achieved_value,
        )
    if row_why:
        return ArmDose("unknown", "none", achieved=achieved_value, why=row_why)
    if study.single_drug_arm and study.unit == spec.unit:
        lo, hi = study.dose_min, study.dose_max
        if lo is not None and hi is not None:
            a, b = spec.tier_of(lo), spec.tier_of(hi)
            if lo == hi:
                how = f"the study's single dose {lo:g} {spec.unit}"
                return ArmDose(a, "study_dose", lo, spec.unit, "assigned", how=how)
            return ArmDose(
                a if a == b else "mixed",
                "study_range",
                how=f"the study's range {lo:g}-{hi:g} {spec.unit}",
                why="" if a == b else f"the study's range {lo:g}-{hi:g} {spec.unit} spans tiers",
            )
        if lo is not None or hi is not None:
            why = why or "the study gives only one end of its dose range"
    elif not study.single_drug_arm and (study.dose_min is not None or study.dose_max is not None):
        why = why or "the study has several drug arms; its dose range spans them"
    return ArmDose("unknown", "none", why=why or "no daily dose stated for the arm")


def _missing(x: object) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _common(tiers: list[str]) -> str:
    """The tier the arms share, else "mixed" (missing tiers not counted)."""
    return tiers[0] if len({t for t in tiers if not _missing(t)}) == 1 else "mixed"


def _single_drug_arm(outcomes: pd.DataFrame) -> set[str]:
    drug = outcomes[outcomes["arm_role"].isin(DRUG_ROLES)]
    arms = drug.groupby("study_id")["arm"].nunique()
    return set(arms[arms == 1].index)


def assign_tiers(outcomes: pd.DataFrame, studies: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Outcome rows joined to their study's indication, design and route, with dose tiers."""
    cols = [
        "study_id",
        "indication",
        "design",
        "route",
        "comparator",
        "year",
        "dose_min",
        "dose_max",
        "dose_unit",
    ]
    merged = outcomes.merge(studies[cols], on="study_id", how="left", validate="many_to_one")
    # Notes are optional in a studies frame (hand-made tables and older extracts lack them).
    study_notes = studies["notes"] if "notes" in studies else [None] * len(studies)
    notes = dict(zip(studies["study_id"], study_notes, strict=True))
    single = _single_drug_arm(outcomes)
    doses: list[ArmDose | None] = []
    fields = (
        "arm_role", "study_id", "dose_unit", "dose_min", "dose_max", "route",
        "dose_mg_day", "dose_ug_day", "arm", "note",
    )  # fmt: skip
    for r in zip(*(merged[c].tolist() for c in fields), strict=True):
        role, sid, unit, lo, hi, route, mg, ug, arm, note = r
        if role not in DRUG_ROLES:
            doses.append(None)
            continue
        study = StudyDose(
            unit=_text(unit),
            dose_min=_num(lo),
            dose_max=_num(hi),
            notes=_text(notes.get(sid)),
            single_drug_arm=sid in single,
        )
        doses.append(
            arm_dose(
                protocol,
                _text(route),
                {"dose_mg_day": _num(mg), "dose_ug_day": _num(ug)},
                [("arm_label", _text(arm)), ("row_note", _text(note))],
                study,
            )
        )
    merged["dose_tier"] = [d.tier if d else "" for d in doses]
    merged["dose_basis"] = [d.basis if d else "drug_arms" for d in doses]
    merged["dose"] = pd.array([d.dose if d else None for d in doses], dtype="Float64")
    merged["dose_unit_day"] = [d.unit if d else "" for d in doses]
    merged["dose_kind"] = [d.kind if d else "" for d in doses]
    merged["dose_derived"] = [bool(d and d.derived) for d in doses]
    merged["dose_how"] = [d.how if d else "" for d in doses]
    merged["achieved_dose"] = pd.array([d.achieved if d else None for d in doses], dtype="Float64")
    merged["dose_why"] = [d.why if d else "" for d in doses]
    # Control arms sit in the tier their study's drug arms share for the same outcome.
    # (plain lists grouped in dicts: a Python function per group in pandas is slow)
    per_outcome: dict[tuple[str, str], list[str]] = {}
    per_study: dict[str, list[str]] = {}
    for sid, outcome, role, tier in zip(
        merged["study_id"].tolist(),
        merged["outcome"].tolist(),
        merged["arm_role"].tolist(),
        merged["dose_tier"].tolist(),
        strict=True,
    ):
        if role in DRUG_ROLES and not _missing(sid):
            per_study.setdefault(sid, []).append(tier)
            if not _missing(outcome):
                per_outcome.setdefault((sid, outcome), []).append(tier)
    shared = {k: _common(v) for k, v in per_outcome.items()}
    by_study = {k: _common(v) for k, v in per_study.items()}
    ctrl = ~merged["arm_role"].isin(DRUG_ROLES)
    merged.loc[ctrl, "dose_tier"] = [
        shared.get((s, o), by_study.get(s, "unknown"))
        for s, o in zip(merged.loc[ctrl, "study_id"], merged.loc[ctrl, "outcome"], strict=True)
    ]
    return merged


def arm_doses_table(tiered: pd.DataFrame) -> pd.DataFrame:
    """One row per drug arm: its daily dose, tier and where they came from (or why unknown)."""
    drug = tiered[tiered["arm_role"].isin(DRUG_ROLES)]
    cols = ["indication", "study_id", "arm", "route", *DOSE_COLUMNS]
    out = drug[cols].drop_duplicates(["study_id", "arm"]).copy()
    out["route"] = out["route"].fillna("")
    return out.sort_values(["indication", "study_id", "arm"], kind="stable").reset_index(drop=True)


def arm_doses_shown(arm_doses: pd.DataFrame) -> pd.DataFrame:
    """The report's arm-dose rows: the daily dose and tier with where they came from, or why
    the dose is unknown."""
    rows = []
    for r in arm_doses.itertuples(index=False):
        dose = "" if pd.isna(r.dose) else f"{r.dose:g} {r.dose_unit_day}"
        if r.dose_kind == "achieved_mean":
            dose += " (mean achieved)"
        elif dose and r.dose_derived:
            dose += " (derived)"
        achieved = (
            f"; mean achieved {r.achieved_dose:g}"
            if not pd.isna(r.achieved_dose) and r.dose_kind != "achieved_mean"
            else ""
        )
        rows.append(
            {
                "indication": r.indication,
                "study_id": r.study_id,
                "arm": r.arm,
                "route": r.route,
                "daily_dose": dose,
                "tier": r.dose_tier,
                "source": "; ".join(t for t in (r.dose_how, r.dose_why) if t) + achieved,
            }
        )
    return pd.DataFrame(rows)


def dose_counts(arm_doses: pd.DataFrame) -> dict[str, int]:
    """How many drug arms have a daily dose, by where it came from, for the report's methods."""
    known = arm_doses["dose"].notna()
    return {
        "arms": len(arm_doses),
        "known": int(known.sum()),
        "own_field": int((arm_doses["dose_basis"] == "arm_field").sum()),
        "from_text": int(
            (known & arm_doses["dose_basis"].isin(["arm_label", "row_note", "study_notes"])).sum()
        ),
        "derived": int(arm_doses["dose_derived"].sum()),
        "achieved": int((arm_doses["dose_kind"] == "achieved_mean").sum()),
        "range_only": int((arm_doses["dose_basis"] == "study_range").sum()),
        "unknown": int((arm_doses["dose_tier"] == "unknown").sum()),
    }


def outcomes_by_tier(tiered: pd.DataFrame) -> pd.DataFrame:
    """One row per indication × outcome × dose tier × arm role, with counts and sources."""
    df = tiered.assign(
        has_events=tiered["events"].notna() & tiered["n"].notna(),
        has_mean=tiered["mean"].notna() & (tiered["sd"].notna() | tiered["se"].notna()),
    )
    grouped = df.groupby(GROUP_KEYS, dropna=False, sort=True)
    # built-in aggregations only (no Python function per group); the study ids gathered in
    # plain sets by group number, in the groups' order
    sets: list[set[str]] = [set() for _ in range(grouped.ngroups)]
    for g, sid in zip(grouped.ngroup().tolist(), df["study_id"].tolist(), strict=True):
        sets[g].add(sid)
    out = pd.DataFrame(
        {
            "studies": grouped["study_id"].nunique(),
            "arms": grouped["row_id"].size(),
            "participants": grouped["n"].sum(min_count=1).astype("Int64"),
            "events": grouped["events"].sum(min_count=1).astype("Int64"),
            "arms_with_events": grouped["has_events"].sum(),
            "arms_with_mean_sd": grouped["has_mean"].sum(),
            "derived_arms": grouped["derived"].sum().astype("Int64"),
        }
    )
    out["study_ids"] = [" ".join(sorted(ids)) for ids in sets]
    out = out.reset_index()
    return out.sort_values(GROUP_KEYS, kind="stable").reset_index(drop=True)
