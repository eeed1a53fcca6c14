"""For every row of the review's four tables: its label, ours, whether they agree, and why not."""

from __future__ import annotations

import re

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.tables.dosage import DosageRules, recommended_doses
from evidence.tables.side_effects import SideEffect, primary
from evidence.tables.uses import UseRating, uses_agreement

NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def _numbers(text: str) -> list[float]:
    return [float(x.replace(",", "")) for x in NUMBER.findall(text)]


def _range(lo: float | None, hi: float | None, unit: str) -> str:
    if lo is None and hi is None:
        return ""
    if lo is None:
        return f"up to {hi:g} {unit}"
    return f"{lo:g}–{hi:g} {unit}"


def dosage_agreement(
    snapshot: Snapshot, dosage: pd.DataFrame, facts: pd.DataFrame, rules: DosageRules
) -> list[dict]:
    """`facts` carry their source type (`typed_facts`); only recommendation types count."""
    if snapshot.claims is None or "dosage" not in snapshot.claims.tables:
        return []
    specs = {d.row: d for d in snapshot.protocol.dosage_rows}
    out = []
    for row in snapshot.claims.tables["dosage"].rows:
        name = str(row.get("formulation"))
        printed = str(row.get("typical_dose_range", ""))
        spec = specs.get(name)
        rec = {"table": "dosage", "row": name, "article": printed, "article_label": printed}
        if spec is None:
            out.append(
                rec
                | {
                    "ours": "",
                    "equal": "no",
                    "why_different": "the protocol does not say how to regenerate it",
                }
            )
            continue
        unit = snapshot.protocol.dose_tiers[spec.formulation].unit
        own = dosage[dosage["formulation"] == spec.formulation] if not dosage.empty else dosage
        nums = _numbers(printed)
        if spec.compare == "studied":
            lo = float(own["studied_min"].min()) if not own.empty else None
            hi = float(own["studied_max"].max()) if not own.empty else None
            ours = _range(lo, hi, unit) + " studied in trials"
            top = ", ".join(
                f"{r.indication} {r.studied_min:g}–{r.studied_max:g}"
                for r in own.itertuples(index=False)
            )
            equal = (
                bool(nums)
                and hi is not None
                and max(nums) == hi
                and (len(nums) < 2 or lo == min(nums))
            )
            why = "" if equal else f"trial doses by indication: {top}"
        elif spec.compare == "recommended":
            rec_rows = recommended_doses(facts, snapshot.protocol, rules)
            gen = rec_rows[
                (rec_rows["formulation"] == spec.formulation)
                & (rec_rows["population"] == "general")
            ]
            lo_v = pd.to_numeric(gen["value_min"]).dropna()
            hi_v = pd.to_numeric(gen["value_max"]).dropna()
            most = float(hi_v.mode().min()) if not hi_v.empty else None
            ours = (
                _range(float(lo_v.min()) if not lo_v.empty else None, most, unit)
                + " (lowest stated daily dose to most often stated maximum; "
                + "/".join(rules.recommend_from)
                + " sources only)"
            )
            equal = (
                bool(nums)
                and most is not None
                and max(nums) == most
                and (not lo_v.empty and min(nums) == float(lo_v.min()))
            )
            listed = "; ".join(
                f"{_range(a if pd.notna(a) else None, b, unit)} ({rid}, {kind})"
                for a, b, rid, kind in zip(
                    gen["value_min"],
                    gen["value_max"],
                    gen["row_id"],
                    gen["source_type"],
                    strict=True,
                )
            )
            left = facts[
                (facts["formulation"] == spec.formulation)
                & facts["population"].isna()
                & (facts["unit"] == unit)
                & ~facts["source_type"].isin(rules.recommend_from)
            ]
            left_out = "; ".join(
                f"{rid} ({kind})"
                for rid, kind in zip(left["row_id"], left["source_type"], strict=True)
            )
            why = (
                ""
                if equal
                else f"daily-dose recommendations without a named population: {listed}"
                + (f"; not recommendations: {left_out}" if left_out else "")
            )
        else:
            pops = facts[(facts["formulation"] == spec.formulation) & facts["population"].notna()]
            ours = f"{len(pops)} statements for named populations"
            equal = None
            why = "printed as text, not a range: " + "; ".join(
                f"{p} ({rid}, {kind})"
                for p, rid, kind in zip(
                    pops["population"], pops["row_id"], pops["source_type"], strict=True
                )
            )
        out.append(
            rec
            | {
                "ours": ours,
                "equal": "n/a" if equal is None else ("yes" if equal else "no"),
                "why_different": why,
            }
        )
    return out


def _frequency_word(text: str) -> str | None:
    low = text.lower()
    for word in ("very common", "common", "uncommon", "very rare", "rare"):
        if low.startswith(word):
            return word
    return None


def side_effect_agreement(snapshot: Snapshot, found: list[SideEffect]) -> list[dict]:
    if snapshot.claims is None or "side_effects" not in snapshot.claims.tables:
        return []
    out = []
    for row in snapshot.claims.tables["side_effects"].rows:
        name = str(row.get("side_effect"))
        printed = str(row.get("frequency_severity", ""))
        theirs = _frequency_word(printed)
        mine = primary(found, name)
        their_rev = str(row.get("reversibility") or "")
        rec = {
            "table": "side_effects",
            "row": name,
            "article": f"{printed}; reversibility: {their_rev}" if their_rev else printed,
            "article_label": theirs or "",
        }
        if mine is None:
            out.append(
                rec
                | {
                    "ours": "",
                    "equal": "no",
                    "why_different": "no outcome of the protocol measures it",
                }
            )
            continue
        ours = "; ".join(
            f"{s.band} ({s.route})" if s.route else s.band for s in found if s.row == name
        )
        if theirs is None:
            equal, why = "n/a", "the article prints no frequency band"
        elif mine.band == "not assessable":
            signals = "; signals only" if mine.signals else ""
            equal, why = "no", f"no frequency from exposed participants{signals}"
        else:
            equal = "yes" if mine.band == theirs else "no"
            why = "" if equal == "yes" else f"{mine.route}: {mine.band_basis}"
            if equal == "no" and mine.incidence_pct is not None:
                why += (
                    f"; pooled incidence {mine.incidence_pct:.1f}% ({mine.ci_low_pct:.1f}–"
                    f"{mine.ci_high_pct:.1f}) from {mine.arms} arms"
                )
        if "dose-dependent" in printed.lower() and not mine.dose_dependence.startswith("dose-dep"):
            why = "; ".join(x for x in (why, f"dose-dependence: {mine.dose_dependence}") if x)
            equal = "no" if equal == "yes" else equal
        said = [
            f"{s.route}: {s.reversibility}" if s.route else s.reversibility
            for s in found
            if s.row == name and s.reversibility != "not reported"
        ]
        ours += f"; {mine.dose_dependence}; reversibility: {'; '.join(said) or 'not reported'}"
        out.append(rec | {"ours": ours, "equal": equal, "why_different": why})
    return out


def interaction_agreement(interactions: pd.DataFrame) -> list[dict]:
    return [
        {
            "table": "interactions",
            "row": r.interaction_type,
            "article": r.description,
            "article_label": "",
            "ours": f"{r.evidence_type}, {r.strength}",
            "equal": "n/a",
            "why_different": "the article prints no evidence type or strength for interactions",
        }
        for r in interactions.itertuples(index=False)
    ]


def agreement_frame(
    snapshot: Snapshot,
    uses: list[UseRating],
    dosage: pd.DataFrame,
    side_effects: list[SideEffect],
    interactions: pd.DataFrame,
    dosing_facts: pd.DataFrame,
    dosage_rules: DosageRules,
) -> pd.DataFrame:
    """`dosing_facts` as `typed_facts` returns them, typed by `dosage_rules`."""
    rows = uses_agreement(snapshot, uses).to_dict("records")
    for r in rows:
        r["equal"] = "yes" if r["equal"] else "no"
    rows += dosage_agreement(snapshot, dosage, dosing_facts, dosage_rules)
    rows += side_effect_agreement(snapshot, side_effects)
    rows += interaction_agreement(interactions)
    cols = ["table", "row", "article", "article_label", "ours", "equal", "why_different"]
    return pd.DataFrame(rows, columns=cols)
