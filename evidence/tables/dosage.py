"""Table 2: doses studied in the included trials beside the recommended ranges.

Studied doses come from the trials' daily target or maintenance ranges and the arms' printed
daily doses, per route and indication. A dosing fact is a recommendation only when its source
type (decided by the rule set's `dosage` section, from the fact's own columns) is one the rule set
accepts, such as a label or a monograph: ranges seen in studies and reviews sit in their own
column, and facts whose source is flagged (e.g. low reliability) are shown apart, never as
recommendations.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
from pydantic import Field, ValidationError, field_validator

from evidence.inputs.protocol import Protocol
from evidence.tables.common import RuleSection, check_pattern, source_refs

TRIAL_DESIGNS = ("rct", "crossover_rct", "nonrandomised_controlled", "single_arm")
UNCLASSIFIED = "unclassified"
MATCHED_COLUMNS = ("notes", "population", "statement")


class SourceTypeRule(RuleSection):
    """A source type and when a dosing fact has it: every given pattern (case-insensitive regular
    expression on that column) must match, and one of `hosts` must be a source address's host."""

    type: str
    notes: str | None = None
    population: str | None = None
    statement: str | None = None
    hosts: list[str] = Field(default_factory=list)

    @field_validator("notes", "population", "statement")
    @classmethod
    def _compiles(cls, v: str | None) -> str | None:
        if v is not None:
            check_pattern(v)
        return v

    def matches(self, fact: dict[str, Any]) -> bool:
        given = [c for c in MATCHED_COLUMNS if getattr(self, c) is not None]
        if not given and not self.hosts:
            return False
        for col in given:
            text = fact.get(col)
            text = "" if text is None or (isinstance(text, float) and pd.isna(text)) else str(text)
            if not re.search(str(getattr(self, col)), text, flags=re.IGNORECASE):
                return False
        return not self.hosts or any(_on_host(h, self.hosts) for h in _hosts(fact))


class DosageRules(RuleSection):
    """The rule set's `dosage` section."""

    recommend_from: list[str] = Field(default_factory=list)
    flagged: list[str] = Field(default_factory=list)
    study_types: list[str] = Field(default_factory=list)
    source_types: list[SourceTypeRule] = Field(default_factory=list)

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> DosageRules:
        """No section: no source type is recognised, so nothing is a recommendation."""
        try:
            return cls.model_validate(section or {})
        except ValidationError as exc:
            raise ValueError(f"rule set section `dosage`: {exc}") from None

    def source_type(self, fact: dict[str, Any]) -> str:
        """The first matching rule's type; a fact no rule recognises is never a recommendation."""
        for rule in self.source_types:
            if rule.matches(fact):
                return rule.type
        return UNCLASSIFIED


def _hosts(fact: dict[str, Any]) -> list[str]:
    urls = fact.get("source_url")
    if not isinstance(urls, str):
        return []
    return [(urlsplit(u).hostname or "").lower() for u in urls.split()]


def _on_host(host: str, allowed: list[str]) -> bool:
    return any(host == a.lower() or host.endswith("." + a.lower()) for a in allowed)


def typed_facts(facts: pd.DataFrame, rules: DosageRules) -> pd.DataFrame:
    """The dosing facts with their `source_type` column, as the rule set decides it."""
    out = facts.copy()
    types = [rules.source_type(r) for r in facts.to_dict("records")]
    out["source_type"] = pd.Series(types, index=facts.index, dtype=object)
    return out


def studied_doses(
    studies: pd.DataFrame, outcomes: pd.DataFrame, protocol: Protocol, refs: dict[str, str]
) -> pd.DataFrame:
    rows = []
    trials = studies[studies["design"].isin(TRIAL_DESIGNS)]
    for route, spec in sorted(protocol.dose_tiers.items()):
        on_route = trials[(trials["route"] == route) & (trials["dose_unit"] == spec.unit)]
        arm_doses = outcomes[["study_id", spec.field]].merge(
            trials[["study_id", "route", "indication"]], on="study_id"
        )
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


def daily_facts(facts: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """Typed dosing facts stated as a daily dose in their formulation's unit, with a number."""
    rows = []
    for route, spec in sorted(protocol.dose_tiers.items()):
        sub = facts[(facts["formulation"] == route) & (facts["unit"] == spec.unit)]
        for r in sub.itertuples(index=False):
            if pd.isna(r.value_min) and pd.isna(r.value_max):
                continue  # a statement without a number (e.g. means printed in the text)
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
                    "source_type": r.source_type,
                    "notes": "" if pd.isna(r.notes) else r.notes,
                }
            )
    cols = ["formulation", "population", "statement", "value_min", "value_max", "unit"]
    cols += ["row_id", "source_url", "source_type", "notes"]
    return pd.DataFrame(rows, columns=cols)


def recommended_doses(facts: pd.DataFrame, protocol: Protocol, rules: DosageRules) -> pd.DataFrame:
    """Daily-dose ranges from the source types the rule set accepts as recommendations."""
    daily = daily_facts(facts, protocol)
    return daily[daily["source_type"].isin(rules.recommend_from)].reset_index(drop=True)


def fmt_range(lo: object, hi: object) -> str:
    lo_na, hi_na = pd.isna(lo), pd.isna(hi)
    if lo_na and hi_na:
        return ""
    if lo_na:
        return f"≤{float(hi):g}"  # type: ignore[arg-type]
    if hi_na:
        return f"≥{float(lo):g}"  # type: ignore[arg-type]
    return f"{float(lo):g}–{float(hi):g}"  # type: ignore[arg-type]


def _listed(rows: pd.DataFrame, named: bool, why: bool = False) -> str:
    """`range [population] (row ids; source type)`, one entry per range and type."""
    ranges: dict[tuple[str, str], list[str]] = {}
    cols = ("value_min", "value_max", "population", "source_type", "notes", "row_id")
    for lo, hi, population, source_type, notes, row_id in zip(
        *(rows[c] for c in cols), strict=True
    ):
        key = fmt_range(lo, hi) + (f" [{population}]" if named and population != "general" else "")
        tail = f"{source_type}; note: {notes}" if why and notes else source_type
        ranges.setdefault((key, tail), []).append(row_id)
    return "; ".join(f"{k} ({', '.join(v)}; {t})" for (k, t), v in sorted(ranges.items()))


def dosage_frame(
    studies: pd.DataFrame,
    outcomes: pd.DataFrame,
    facts: pd.DataFrame,
    protocol: Protocol,
    refs: dict[str, str],
    rules: DosageRules,
) -> pd.DataFrame:
    """One row per formulation × indication studied, beside the formulation's recommended ranges
    (general statements; where it has none, every population's, named), the ranges stated by
    studies and reviews, other statements, and flagged statements, each with row ids and type.

    `facts` are the dosing facts as `typed_facts` returns them."""
    studied = studied_doses(studies, outcomes, protocol, refs)
    daily = daily_facts(facts, protocol)
    shown = set(rules.recommend_from) | set(rules.study_types) | set(rules.flagged)
    stated: dict[str, dict[str, object]] = {}  # formulation → its statements' columns

    def statements(formulation: str) -> dict[str, object]:
        own = daily[daily["formulation"] == formulation]
        rec = own[own["source_type"].isin(rules.recommend_from)]
        gen = rec[rec["population"] == "general"]
        named = gen.empty  # no general statement: show each population's range, named
        gen = rec if named else gen
        maxima = pd.to_numeric(gen["value_max"]).dropna()
        studies_said = own[own["source_type"].isin(rules.study_types)]
        flagged = own[own["source_type"].isin(rules.flagged)]
        other = own[~own["source_type"].isin(shown)]
        return {
            "recommended": _listed(gen, named),
            "recommended_max_most_stated": float(maxima.mode().min()) if not maxima.empty else None,
            "recommended_sources": " ".join(sorted(set(" ".join(gen["source_url"]).split()))),
            "study_ranges": _listed(studies_said, True),
            "other_statements": _listed(other, True),
            "flagged": _listed(flagged, True, why=True),
        }

    out = []
    for r in studied.itertuples(index=False):
        if r.formulation not in stated:  # the same for every indication of a formulation
            stated[r.formulation] = statements(r.formulation)
        out.append({**r._asdict(), **stated[r.formulation]})
    return pd.DataFrame(out)
