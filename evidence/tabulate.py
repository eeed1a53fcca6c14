"""Outcomes by indication × outcome × dose tier × arm role.

Dose tiers are derived from the protocol's cut points at run time and never stored. A row's tier
is the tier of the drug's dose of the comparison it belongs to: the arm's own daily dose where
printed, else the study's dose range when the whole range falls in one tier (`mixed` when it
spans tiers), `unknown` when no daily dose is known, and `not_tiered` for routes the protocol
gives no cut points for.
"""

from __future__ import annotations

import pandas as pd

from evidence.protocol import Protocol

GROUP_KEYS = ["indication", "outcome", "dose_tier", "arm_role"]


def tier_for(
    protocol: Protocol,
    route: str | None,
    arm_dose: dict[str, float | None],
    study_unit: str | None,
    study_min: float | None,
    study_max: float | None,
) -> tuple[str, str, float | None]:
    """(tier, basis, dose) for one row: basis is `arm`, `study_range` or `none`."""
    spec = protocol.dose_tiers.get(route or "")
    if spec is None:
        return "not_tiered", "none", None
    dose = arm_dose.get(spec.field)
    if dose is not None and not pd.isna(dose):
        return spec.tier_of(float(dose)), "arm", float(dose)
    if study_unit == spec.unit:
        lo = study_min if study_min is not None and not pd.isna(study_min) else study_max
        hi = study_max if study_max is not None and not pd.isna(study_max) else study_min
        if lo is not None and not pd.isna(lo):
            a, b = spec.tier_of(float(lo)), spec.tier_of(float(hi))
            return (a if a == b else "mixed"), "study_range", None
    return "unknown", "none", None


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
    tiers = [
        tier_for(
            protocol,
            r.route if isinstance(r.route, str) else None,
            {"dose_mg_day": r.dose_mg_day, "dose_ug_day": r.dose_ug_day},
            r.dose_unit if isinstance(r.dose_unit, str) else None,
            None if pd.isna(r.dose_min) else float(r.dose_min),
            None if pd.isna(r.dose_max) else float(r.dose_max),
        )
        for r in merged.itertuples(index=False)
    ]
    merged["dose_tier"] = [t[0] for t in tiers]
    merged["dose_basis"] = [t[1] for t in tiers]
    return merged


def outcomes_by_tier(tiered: pd.DataFrame) -> pd.DataFrame:
    """One row per indication × outcome × dose tier × arm role, with counts and sources."""
    df = tiered.copy()
    df["has_events"] = df["events"].notna() & df["n"].notna()
    df["has_mean"] = df["mean"].notna() & (df["sd"].notna() | df["se"].notna())
    grouped = df.groupby(GROUP_KEYS, dropna=False, sort=True)
    out = grouped.agg(
        studies=("study_id", "nunique"),
        arms=("row_id", "size"),
        participants=("n", lambda s: int(s.dropna().sum()) if s.notna().any() else pd.NA),
        events=("events", lambda s: int(s.dropna().sum()) if s.notna().any() else pd.NA),
        arms_with_events=("has_events", "sum"),
        arms_with_mean_sd=("has_mean", "sum"),
        derived_arms=("derived", lambda s: int(s.fillna(False).sum())),
        study_ids=("study_id", lambda s: " ".join(sorted(set(s)))),
    ).reset_index()
    out["events"] = out["events"].astype("Int64")
    out["participants"] = out["participants"].astype("Int64")
    return out.sort_values(GROUP_KEYS, kind="stable").reset_index(drop=True)
