"""Table 2: doses studied in the included trials beside the recommended ranges.

Studied doses come from the trials' daily target or maintenance ranges and the arms' printed
daily doses, per route and indication; recommended ranges come from the dosing facts whose unit
is a daily dose, each with its sources.
"""

from __future__ import annotations

import pandas as pd

from evidence.protocol import Protocol
from evidence.tables.common import source_refs

TRIAL_DESIGNS = ("rct", "crossover_rct", "nonrandomised_controlled", "single_arm")


def studied_doses(
    studies: pd.DataFrame, outcomes: pd.DataFrame, protocol: Protocol, refs: dict[str, str]
) -> pd.DataFrame:
    rows = []
    trials = studies[studies["design"].isin(TRIAL_DESIGNS)]
    for route, spec in sorted(protocol.dose_tiers.items()):
        on_route = trials[(trials["route"] == route) & (trials["dose_unit"] == spec.unit)]
        arm_doses = outcomes.merge(trials[["study_id", "route", "indication"]], on="study_id")
        arm_doses = arm_doses[(arm_doses["route"] == route) & arm_doses[spec.field].notna()]
        for ind in sorted(set(on_route["indication"]) | set(arm_doses["indication"])):
            st = on_route[on_route["indication"] == ind]
            arms = arm_doses[arm_doses["indication"] == ind]
            values = pd.concat([st["dose_min"], st["dose_max"], arms[spec.field]]).dropna()
            if values.empty:
                continue
            maxima = pd.concat(
                [st["dose_max"], arms.groupby("study_id")[spec.field].max()]
            ).dropna()
            ids = sorted(set(st["study_id"]) | set(arms["study_id"]))
            rows.append(
                {
                    "formulation": route,
                    "indication": ind,
                    "unit": spec.unit,
                    "trials": len(ids),
                    "studied_min": float(values.min()),
                    "studied_max": float(values.max()),
                    "median_max_dose": float(maxima.median()),
                    "tiers": " ".join(
                        t.label
                        for t in spec.tiers
                        if t.label in {spec.tier_of(float(v)) for v in values}
                    ),
                    "sources": source_refs(refs, ids),
                }
            )
    return pd.DataFrame(rows)


def recommended_doses(facts: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Label and monograph daily-dose ranges per formulation and population."""
    rows = []
    for route, spec in sorted(protocol.dose_tiers.items()):
        sub = facts[(facts["formulation"] == route) & (facts["unit"] == spec.unit)]
        for r in sub.itertuples(index=False):
            rows.append(
                {
                    "formulation": route,
                    "population": "general" if pd.isna(r.population) else r.population,
                    "statement": r.statement,
                    "value_min": r.value_min,
                    "value_max": r.value_max,
                    "unit": r.unit,
                    "row_id": r.row_id,
                    "source_url": r.source_url,
                }
            )
    return pd.DataFrame(rows)


def _fmt(lo: object, hi: object) -> str:
    lo_na, hi_na = pd.isna(lo), pd.isna(hi)
    if lo_na and hi_na:
        return ""
    if lo_na:
        return f"≤{float(hi):g}"  # type: ignore[arg-type]
    if hi_na:
        return f"≥{float(lo):g}"  # type: ignore[arg-type]
    return f"{float(lo):g}–{float(hi):g}"  # type: ignore[arg-type]


def dosage_frame(
    studies: pd.DataFrame,
    outcomes: pd.DataFrame,
    facts: pd.DataFrame,
    protocol: Protocol,
    refs: dict[str, str],
) -> pd.DataFrame:
    """One row per formulation × indication studied, beside the general recommended ranges
    (statements without a named population; where a formulation has none, every population's
    range, named), each range with its dosing-fact row ids."""
    studied = studied_doses(studies, outcomes, protocol, refs)
    rec = recommended_doses(facts, protocol)
    out = []
    for r in studied.itertuples(index=False):
        own = rec[rec["formulation"] == r.formulation] if not rec.empty else rec
        gen = own[own["population"] == "general"] if not own.empty else own
        named = gen.empty  # no general statement: show each population's range, named
        gen = own if named else gen
        ranges: dict[str, list[str]] = {}
        for g in gen.itertuples(index=False):
            key = _fmt(g.value_min, g.value_max) + (f" [{g.population}]" if named else "")
            ranges.setdefault(key, []).append(g.row_id)
        maxima = pd.to_numeric(gen["value_max"]).dropna() if not gen.empty else pd.Series()
        out.append(
            {
                **r._asdict(),
                "recommended": "; ".join(
                    f"{k} ({', '.join(v)})" for k, v in sorted(ranges.items())
                ),
                "recommended_max_most_stated": float(maxima.mode().min())
                if not maxima.empty
                else None,
                "recommended_sources": " ".join(sorted(set(" ".join(gen["source_url"]).split())))
                if not gen.empty
                else "",
            }
        )
    return pd.DataFrame(out)
