"""Table 4: each interaction with its evidence, human evidence first.

An interaction's evidence is every study the protocol names for it, every study with a result on
one of the outcomes the protocol says measure it, and the studies the article cites for it (from
the citation map). Each study gets an evidence type and a strength from the rule set's
`interactions` section, by design and species: human controlled and cohort studies and
pharmacokinetic studies come before labels, case reports, animal and mechanistic work. A study
of a type that needs a result counts only with a result the data hold (a reported effect of the
drug itself on a listed outcome, or arm counts); a large effect from an observational study
raises its strength one step (GRADE). Reviews and published syntheses are listed, never counted:
their outcomes answer other questions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from pydantic import (
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from evidence.inputs.protocol import InteractionSpec
from evidence.inputs.snapshot import Snapshot
from evidence.tables.common import RuleSection, check_pattern, source_refs

NOT_RATED = "not rated"
# Directions that say nothing about the drug's own contrast (the data's vocabulary).
UNCLEAR = "unclear"


class EvidenceType(RuleSection):
    """A kind of evidence: which designs/species it covers, and the strength it starts at
    (None: listed, never counted)."""

    type: str
    designs: list[str] = Field(default_factory=list)
    species: list[str] = Field(default_factory=list)
    strength: str | None = None
    needs_result: bool = False
    observational: bool = False

    def covers(self, design: str, species: str) -> bool:
        return (not self.designs or design in self.designs) and (
            not self.species or species in self.species
        )


class InteractionRules(RuleSection):
    """The rule set's `interactions` section."""

    strengths: list[str]
    evidence_types: list[EvidenceType]
    ratio_measure: str = r"\b(HR|RR|OR|IRR)\b"
    large_effect: float = 2.0

    @field_validator("ratio_measure")
    @classmethod
    def _compiles(cls, v: str) -> str:
        check_pattern(v)
        return v

    @model_validator(mode="after")
    def _known_strengths(self) -> InteractionRules:
        unknown = sorted(
            {t.strength for t in self.evidence_types if t.strength is not None}
            - set(self.strengths)
        )
        if unknown:
            raise ValueError(f"evidence types name strengths not in `strengths`: {unknown}")
        if self.large_effect <= 1:
            raise ValueError(f"large_effect must exceed 1, got {self.large_effect}")
        return self

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> InteractionRules:
        if not section:
            raise ValueError("the rule set has no `interactions` section")
        try:
            return cls.model_validate(section)
        except ValidationError as exc:
            raise ValueError(f"rule set section `interactions`: {exc}") from None

    def type_of(self, design: str, species: str) -> EvidenceType | None:
        for t in self.evidence_types:
            if t.covers(design, species):
                return t
        return None

    def rank(self, strength: str | None) -> int:
        """Lower is stronger; unrated evidence ranks after every strength."""
        return self.strengths.index(strength) if strength in self.strengths else len(self.strengths)

    def raised(self, strength: str) -> str:
        return self.strengths[max(self.rank(strength) - 1, 0)]


@dataclass
class Item:
    """One study's evidence on one interaction."""

    study_id: str
    type: str
    type_rank: int
    strength: str | None
    results: list[str] = field(default_factory=list)
    directions: list[str] = field(default_factory=list)
    note: str = ""
    participants: int | None = None


def _num(v: object) -> str:
    return "" if v is None or (pd.api.types.is_scalar(v) and pd.isna(v)) else str(v)


def _effect_text(e: dict[str, Any]) -> str:
    est, lo, hi = _num(e.get("estimate")), _num(e.get("ci_low")), _num(e.get("ci_high"))
    measure, seen = _num(e.get("measure")), _num(e.get("text_seen"))
    head = f"{e['outcome']}: " + (f"{measure} {est}".strip() if est else e["direction"])
    ci = f" ({lo}–{hi})" if lo and hi else ""
    return f"{head}{ci}" + (f", {seen}" if seen else "")


def _count(v: object) -> int | None:
    n = pd.to_numeric(_num(v), errors="coerce")
    return None if pd.isna(n) else int(n)


def _large(e: dict[str, Any], rules: InteractionRules) -> bool:
    """A ratio whose whole interval lies beyond the rule set's large-effect threshold."""
    if not re.search(rules.ratio_measure, _num(e.get("measure"))):
        return False
    lo, hi = (
        pd.to_numeric(e.get("ci_low"), errors="coerce"),
        pd.to_numeric(e.get("ci_high"), errors="coerce"),
    )
    return bool(
        (pd.notna(lo) and lo >= rules.large_effect)
        or (pd.notna(hi) and hi <= 1 / rules.large_effect)
    )


def _arm_text(outcome: str, arms: pd.DataFrame) -> str:
    parts = [
        f"{_num(a.events)}/{_num(a.n)} ({a.arm_role}: {a.arm})"
        for a in arms.sort_values(["arm_role", "row_id"], ascending=[False, True]).itertuples()
        if _num(a.events) and _num(a.n)
    ]
    return f"{outcome}: " + " vs ".join(parts) if parts else ""


def supporting_ids(snapshot: Snapshot, sources: list[int]) -> list[str]:
    if snapshot.citations is None:
        return []
    ids: set[str] = set()
    for cite in snapshot.citations.citations:
        if cite.number in sources:
            ids.update(c.study_id for c in cite.candidates)
    return sorted(ids)


def evidence_items(
    studies: pd.DataFrame,
    effects: pd.DataFrame,
    outcomes: pd.DataFrame,
    ids: list[str],
    spec: InteractionSpec | None,
    rules: InteractionRules,
) -> list[Item]:
    """Each study's type, strength and results on the interaction, strongest first."""
    measured = set(spec.outcomes) if spec else set()
    ids = sorted(set(ids) | (set(spec.studies) if spec else set()))
    eff = effects[effects["outcome"].isin(measured)] if measured else effects.iloc[0:0]
    arms = outcomes[outcomes["outcome"].isin(measured)] if measured else outcomes.iloc[0:0]
    ids = sorted(set(ids) | set(eff["study_id"]) | set(arms["study_id"]))
    # Each study's design, species and size, read once: a row lookup per study cost more.
    known = dict(
        zip(
            studies["study_id"],
            zip(studies["design"], studies["species"], studies["n_total"], strict=True),
            strict=True,
        )
    )
    missing = sorted(set(spec.studies) - set(known)) if spec else []
    if missing:
        raise ValueError(
            f"protocol field interactions, row {spec.row!r}: "  # type: ignore[union-attr]
            f"studies not in the studies table: {missing}"
        )
    by_study: dict[str, list[dict[str, Any]]] = {}
    for e in eff.to_dict("records"):
        by_study.setdefault(e["study_id"], []).append(e)
    with_arms = set(arms["study_id"])
    items = []
    for sid in ids:
        if sid not in known:
            continue
        design, species, n_total = known[sid]
        kind = rules.type_of(str(design), str(species))
        if kind is None:
            continue
        own = by_study.get(sid, [])
        usable = [e for e in own if e["direction"] != UNCLEAR]
        results = [_effect_text(e) for e in usable]
        if sid in with_arms:
            sid_arms = arms[arms["study_id"] == sid]
            for out in sorted(set(sid_arms["outcome"])):
                text = _arm_text(out, sid_arms[sid_arms["outcome"] == out])
                if text:
                    results.append(text)
        strength = kind.strength
        notes = []
        if len(own) > len(usable):
            notes.append(f"{len(own) - len(usable)} contrasts not of the drug itself left out")
        if strength is not None and kind.needs_result and not results:
            strength = None
            notes.append("no result on the interaction in the data")
        if strength is not None and kind.observational and any(_large(e, rules) for e in usable):
            strength = rules.raised(strength)
            notes.append(f"raised one step: a ratio beyond {rules.large_effect:g}")
        items.append(
            Item(
                study_id=sid,
                type=kind.type,
                type_rank=rules.evidence_types.index(kind),
                strength=strength,
                results=results,
                directions=[e["direction"] for e in usable],
                note="; ".join(notes),
                participants=_count(n_total),
            )
        )
    return sorted(items, key=lambda i: (rules.rank(i.strength), i.type_rank, i.study_id))


def _studies(items: list[Item]) -> str:
    """`3 (12 participants where stated)`: studies, and participants where records give them."""
    known = [i.participants for i in items if i.participants is not None]
    if not known:
        return str(len(items))
    where = "" if len(known) == len(items) else f" in {len(known)}"
    return f"{len(items)} ({sum(known)} participants{where})"


def interaction_row(
    name: str,
    description: str,
    article_sources: list[int],
    items: list[Item],
    rules: InteractionRules,
    refs: dict[str, str],
) -> dict[str, Any]:
    counted = [i for i in items if i.strength is not None]
    lead = counted[0] if counted else None
    by_type: dict[tuple[int, str], list[Item]] = {}
    for i in items:
        by_type.setdefault((i.type_rank, i.type), []).append(i)
    directions: dict[str, int] = {}
    for i in counted:
        for d in i.directions:
            directions[d] = directions.get(d, 0) + 1
    listed = [i for i in items if i.strength is None]
    reasons = []
    if lead is not None:
        same = [i.study_id for i in counted if (i.strength, i.type) == (lead.strength, lead.type)]
        reasons.append(f"strongest: {lead.type}, {lead.strength} ({', '.join(same)})")
    else:
        reasons.append("no study of a counted type with a result")
    reasons += [f"{i.study_id}: {i.note}" for i in items if i.note]
    if listed:
        reasons.append(
            "listed, not counted: " + ", ".join(f"{i.study_id} ({i.type})" for i in listed)
        )
    return {
        "interaction_type": name,
        "description": description,
        "article_sources": " ".join(str(s) for s in article_sources),
        "evidence_type": lead.type if lead else NOT_RATED,
        "strength": lead.strength if lead else NOT_RATED,
        "results": " | ".join(
            f"{i.study_id} ({i.type}, {i.strength}): {'; '.join(i.results)}"
            for i in counted
            if i.results
        ),
        "directions": "; ".join(f"{d} {n}" for d, n in sorted(directions.items())),
        "evidence": "; ".join(f"{t} {_studies(its)}" for (_, t), its in sorted(by_type.items())),
        "supporting_studies": len(items),
        "reasons": "; ".join(reasons),
        "sources": source_refs(refs, [i.study_id for i in items]),
    }


def interactions_frame(snapshot: Snapshot, rules: InteractionRules) -> pd.DataFrame:
    """The article's interaction rows in its order, then the protocol's further rows."""
    specs = {s.row: s for s in snapshot.protocol.interactions}
    printed = []
    if snapshot.claims is not None and "interactions" in snapshot.claims.tables:
        printed = snapshot.claims.tables["interactions"].rows
    rows, seen = [], set()
    for row in printed:
        name = str(row.get("interaction_type"))
        sources = [int(x) for x in row.get("sources", []) or []]  # type: ignore[union-attr]
        items = evidence_items(
            snapshot.studies,
            snapshot.study_effects,
            snapshot.outcomes,
            supporting_ids(snapshot, sources),
            specs.get(name),
            rules,
        )
        rows.append(
            interaction_row(
                name, str(row.get("description", "")), sources, items, rules, snapshot.refs
            )
        )
        seen.add(name)
    for name, spec in specs.items():
        if name in seen:
            continue
        items = evidence_items(
            snapshot.studies, snapshot.study_effects, snapshot.outcomes, [], spec, rules
        )
        rows.append(interaction_row(name, spec.description, [], items, rules, snapshot.refs))
    return pd.DataFrame(rows)
