"""The article audited claim by claim: each statement judged against the pipeline's own evidence.

Verdicts (supported, partly supported, unsupported by the data, contradicted) come from the rule
set's `claims:` section (the verdict logic, the words any review uses) and the protocol's
`claims_audit:` block (the vocabulary of its own questions: effects, populations, the words of its
indications and side effects), never from a list of claims: the rules read what a claim asserts (its
kind, its direction, the figures and doses it states, the population it singles out) and the
evidence that bears on it (pooled results, trials and their directions, designs and species,
side-effect frequencies, dose sources, interaction strength). A claim with several parts (two
doses, three side effects, the rows a statement restates) takes the verdict of its weakest part.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import pandas as pd
from pydantic import Field, ValidationError, field_validator

from evidence.inputs.documents import Citations
from evidence.inputs.protocol import ClaimEffect, ClaimPopulation, ClaimsAudit
from evidence.inputs.snapshot import Snapshot
from evidence.rating.comparisons import PooledEvidence, counted_pools
from evidence.rating.features import NULL_FREE, RATIO_MEASURES
from evidence.rating.rules import Condition, RuleSet
from evidence.synthesis.pool import Analysis
from evidence.tables.claim_list import Claim, all_claims, slug, table_numbers
from evidence.tables.common import RuleSection, article_level, check_pattern
from evidence.tables.dosage import DosageRules, daily_facts
from evidence.tables.side_effects import SideEffect, primary
from evidence.tables.uses import UseRating, efficacy_pools

# Most severe first: the order in which a claim's parts are combined (weakest wins).
VERDICTS = ("contradicted", "unsupported by the data", "partly supported", "supported")
Verdict = Literal["contradicted", "unsupported by the data", "partly supported", "supported"]
CONFIDENCE = ("high", "medium", "low")
BANDS_BY_LENGTH = ("very common", "very rare", "uncommon", "common", "rare")
PERCENT = re.compile(r"(\d+(?:\.\d+)?)(?:\s*[–-]\s*(\d+(?:\.\d+)?))?\s*%")
DOSE = re.compile(
    r"(?i)(up to\s+)?(\d+(?:\.\d+)?)(?:\s*[–-]\s*(\d+(?:\.\d+)?))?"
    r"\s*(mg|ug|μg|µg)\s*/\s*(?:day|d)\b"
)
WORD = re.compile(r"[a-z][a-z_]{3,}")


def _triples(v: Any) -> Any:
    return [
        {"feature": c[0], "op": c[1], "value": c[2]} if isinstance(c, list | tuple) else c
        for c in (v or [])
    ]


class VerdictRule(RuleSection):
    verdict: Verdict
    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)

    _t = field_validator("all", "any", mode="before")(_triples)

    def matches(self, features: dict[str, Any]) -> bool:
        ok_all = all(c.holds(features) for c in self.all)
        return ok_all and (not self.any or any(c.holds(features) for c in self.any))

    def describe(self, features: dict[str, Any]) -> str:
        held = [c.describe() for c in self.all]
        if self.any:
            held.append("any of: " + "; ".join(c.describe() for c in self.any if c.holds(features)))
        return ", ".join(held) or "no other rule held"


class _Patterned(RuleSection):
    @field_validator("*")
    @classmethod
    def _compiles(cls, v: Any, info: Any) -> Any:
        if info.field_name in cls.patterns():
            check_pattern(v)
        return v

    @classmethod
    def patterns(cls) -> tuple[str, ...]:
        return ()


class KindRule(_Patterned):
    kind: str
    pattern: str

    @classmethod
    def patterns(cls) -> tuple[str, ...]:
        return ("pattern",)


class AssertionRule(_Patterned):
    assertion: str
    pattern: str

    @classmethod
    def patterns(cls) -> tuple[str, ...]:
        return ("pattern",)


class Order(RuleSection):
    verdict: dict[str, float]
    kind: dict[str, float]
    confidence: dict[str, float]

    @field_validator("verdict")
    @classmethod
    def _every_verdict(cls, v: dict[str, float]) -> dict[str, float]:
        missing = sorted(set(VERDICTS) - set(v))
        if missing:
            raise ValueError(f"order.verdict has no weight for {missing}")
        return v


class ClaimRuleSet(_Patterned):
    """The rule set's `claims` section: verdict logic and the words any review uses. Nothing in
    it names a drug, an indication or a condition; each protocol's `claims_audit` block brings
    the vocabulary of its own questions (see `ClaimRules.from_section`)."""

    restatement: str
    kinds: list[KindRule]
    fallback_kind: str
    assertions: list[AssertionRule]
    uncontrolled: str
    dose_about_studies: str
    reversible: str
    dose_dependent: str
    table_kinds: dict[str, str]
    level_columns: list[str]
    link_stopwords: list[str] = Field(default_factory=list)
    levels_rank: dict[str, int]
    interaction_human_types: list[str]
    strength_rank: dict[str, int]
    verdicts: dict[str, list[VerdictRule]]
    order: Order

    @classmethod
    def patterns(cls) -> tuple[str, ...]:
        return ("restatement", "uncontrolled", "dose_about_studies", "reversible", "dose_dependent")

    @field_validator("verdicts")
    @classmethod
    def _fallbacks(cls, v: dict[str, list[VerdictRule]]) -> dict[str, list[VerdictRule]]:
        for name, rules in v.items():
            if not rules or rules[-1].all or rules[-1].any:
                raise ValueError(f"verdicts.{name}: the last rule must have no conditions")
        return v


class ClaimRules(ClaimRuleSet):
    """The rules an audit runs with: the rule set's section joined with the protocol's
    vocabulary (its effects, populations and further words per kind)."""

    effects: list[ClaimEffect] = Field(default_factory=list)
    populations: list[ClaimPopulation] = Field(default_factory=list)
    vocabulary: bool = False  # whether the protocol gave a `claims_audit` block

    @classmethod
    def from_section(
        cls, section: dict[str, Any], vocabulary: ClaimsAudit | None = None
    ) -> ClaimRules:
        """The rule set's `claims` section (validated on its own: question-specific keys are
        refused there), with the protocol's `claims_audit` vocabulary added."""
        moved = sorted(set(section) & QUESTION_KEYS)
        if moved:
            raise ValueError(
                f"rule set section `claims`: {moved} name this drug's questions: they belong "
                "in the protocol's `claims_audit` block"
            )
        try:
            generic = ClaimRuleSet.model_validate(section)
        except ValidationError as exc:
            raise ValueError(f"rule set section `claims`: {exc}") from None
        if vocabulary is None:
            return cls.model_validate(section)
        known = [k.kind for k in generic.kinds]
        for kind in vocabulary.kind_words:
            if kind not in known:
                raise ValueError(
                    f"protocol field claims_audit.kind_words.{kind}: not a kind of the rule "
                    f"set's `claims.kinds` ({', '.join(known)})"
                )
        kinds = [*known, generic.fallback_kind]
        for n, effect in enumerate(vocabulary.effects):
            if effect.kind not in kinds:
                raise ValueError(
                    f"protocol field claims_audit.effects.{n}.kind: {effect.kind!r} is not a "
                    f"kind of the rule set's `claims` section ({', '.join(kinds)})"
                )
        joined = [
            {"kind": k.kind, "pattern": _either(k.pattern, vocabulary.kind_words.get(k.kind))}
            for k in generic.kinds
        ]
        return cls.model_validate(
            {
                **section,
                "kinds": joined,
                "effects": vocabulary.effects,
                "populations": vocabulary.populations,
                "vocabulary": True,
            }
        )


# Keys of the protocol's `claims_audit` block, refused in the rule set's `claims` section.
QUESTION_KEYS = frozenset({"effects", "populations", "kind_words"})


def _either(generic: str, extra: str | None) -> str:
    """One pattern that matches where either does (a search, so the union is exact)."""
    return generic if not extra else f"(?:{generic})|(?:{extra})"


@dataclass(frozen=True)
class RouteDoses:
    """A route's doses a dose claim is held against."""

    recommended: list[tuple[Any, Any, str, str]]  # (min, max, row, source type)
    recommended_max: Any  # None or NA when no recommended dose states a maximum
    studied: float | None  # highest daily dose of a human study, in the route's unit
    top_studies: list[str]  # the study dosed highest (at most one)
    others: list[tuple[Any, str, str]]  # (max, row, source type) of the other statements


@dataclass(frozen=True)
class AuditEvidence:
    """What the verdicts may read: the run's own results and the inputs behind them."""

    studies: pd.DataFrame
    effects: pd.DataFrame
    syntheses: pd.DataFrame
    pools: dict[str, list[PooledEvidence]]  # indication → counted efficacy pools
    levels: dict[str, str]  # indication → our evidence level
    row_indications: dict[str, tuple[str, ...]]  # uses-table row → its indications
    indications: tuple[str, ...]  # the protocol's indications (not its topics)
    side_effects: list[SideEffect]
    facts: pd.DataFrame  # daily dosing facts with their source_type (dosage.daily_facts)
    statements: pd.DataFrame  # every dosing fact with its source_type (dosage.typed_facts)
    recommend_from: tuple[str, ...]
    units: dict[str, str]  # route → daily-dose unit of the protocol
    interactions: pd.DataFrame  # table_interactions
    citations: Citations | None
    design_groups: dict[str, list[str]]
    harm_prefixes: tuple[str, ...] = ()
    bands: tuple[str, ...] = ()  # frequency bands, most frequent first
    tables: dict[int, str] = field(default_factory=dict)  # table number → claims table

    # Views of the frames read claim after claim, made once per audit: filtering a frame per
    # claim cost more than judging the claims.

    @cached_property
    def study_rows(self) -> list[Any]:
        return list(self.studies.itertuples(index=False))

    @cached_property
    def synthesis_rows(self) -> list[Any]:
        return list(self.syntheses.itertuples(index=False))

    @cached_property
    def statement_rows(self) -> list[Any]:
        return list(self.statements.itertuples(index=False))

    @cached_property
    def interaction_rows(self) -> list[dict[str, Any]]:
        return self.interactions.to_dict("records")

    @cached_property
    def indication_of(self) -> dict[str, Any]:
        return self.studies.set_index("study_id")["indication"].to_dict()

    @cached_property
    def study_directions(self) -> dict[str, str]:
        """Each study's majority direction over its effects (harm outcomes left out)."""
        eff = self.effects
        groups: dict[str, list[str]] = {}
        for study, outcome, direction in zip(
            eff["study_id"], eff["outcome"], eff["direction"], strict=True
        ):
            harm = isinstance(outcome, str) and outcome.startswith(self.harm_prefixes)
            if harm or pd.isna(study):  # startswith(()) is False: no prefixes, no harm
                continue
            groups.setdefault(study, []).append(direction)
        return {s: _majority(d) for s, d in sorted(groups.items())}

    @cached_property
    def published_rows(self) -> list[tuple[Any, str, str]]:
        """(review, row quoted, 'excludes'/'includes') of every published row with an interval."""
        out = []
        for r in self.synthesis_rows:
            if pd.isna(r.estimate) or pd.isna(r.ci_low) or pd.isna(r.ci_high):
                continue
            measure = _text(r.measure)
            if any(word in measure for word in NULL_FREE):
                continue
            ref = 1.0 if measure.split(" ")[0] in RATIO_MEASURES else 0.0
            said = "excludes" if (r.ci_low > ref or r.ci_high < ref) else "includes"
            k = f", k={int(r.k)}" if not pd.isna(r.k) else ""
            quote = f"{r.row_id}: {measure} {r.estimate:g} ({r.ci_low:g}–{r.ci_high:g}){k}"
            out.append((r.review_id, f"{quote}, {said} no effect", said))
        return out

    @cached_property
    def study_bodies(self) -> list[tuple[str, str, bool, str]]:
        """(study, design, human, title + population + notes + effects' text) per study."""
        eff_text = self.effects.groupby("study_id")["text_seen"].agg(
            lambda s: " ".join(_text(x) for x in s)
        )
        return [
            (
                r.study_id,
                r.design,
                r.species == "human",
                " ".join(
                    _text(x) for x in (r.title, r.population, r.notes, eff_text.get(r.study_id))
                ),
            )
            for r in self.study_rows
        ]

    @cached_property
    def route_doses(self) -> dict[str, RouteDoses]:
        """Per route: its recommended doses and its human study dosed highest."""
        out = {}
        for route, unit in self.units.items():
            facts = self.facts[self.facts["formulation"] == route]
            rec = facts[
                facts["source_type"].isin(self.recommend_from) & (facts["population"] == "general")
            ]
            rec_max = pd.to_numeric(rec["value_max"]).max() if not rec.empty else None
            st = self.studies[
                (self.studies["route"] == route)
                & (self.studies["dose_unit"] == unit)
                & (self.studies["species"] == "human")
            ]
            st = st.dropna(subset=["dose_max"])
            top = st.sort_values(["dose_max", "study_id"], ascending=[False, True]).head(1)
            others = facts[~facts["source_type"].isin(self.recommend_from)]
            out[route] = RouteDoses(
                recommended=list(
                    zip(
                        rec["value_min"],
                        rec["value_max"],
                        rec["row_id"],
                        rec["source_type"],
                        strict=True,
                    )
                ),
                recommended_max=rec_max,
                studied=float(top["dose_max"].iloc[0]) if not top.empty else None,
                top_studies=list(top["study_id"]),
                others=list(
                    zip(
                        pd.to_numeric(others["value_max"]),
                        others["row_id"],
                        others["source_type"],
                        strict=True,
                    )
                ),
            )
        return out


@dataclass(frozen=True)
class Part:
    verdict: str
    decided_by: str
    evidence: str
    studies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Audited:
    claim: Claim
    kind: str
    assertion: str
    verdict: str
    decided_by: str
    evidence: str
    studies: tuple[str, ...]
    confidence: str
    cited: str
    weight: float


def decide(
    rules: ClaimRules,
    assertion: str,
    features: dict[str, Any],
    evidence: str,
    studies: Sequence[str] = (),
) -> Part:
    """The first rule of the assertion's list whose conditions hold."""
    if assertion not in rules.verdicts:
        raise KeyError(f"rule set section `claims`: no verdict rules for {assertion!r}")
    for rule in rules.verdicts[assertion]:
        if rule.matches(features):
            return Part(
                rule.verdict,
                f"{assertion}: {rule.describe(features)}",
                evidence,
                tuple(sorted(set(studies))),
            )
    raise AssertionError("unreachable: the last rule always matches")


def weakest(parts: Sequence[Part]) -> Part:
    """A claim with several parts is as strong as its weakest: that part decides."""
    return min(parts, key=lambda p: VERDICTS.index(p.verdict))


def _search(pattern: str, text: str) -> bool:
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def _text(v: Any) -> str:
    return "" if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v)


def _words(text: str, stop: set[str]) -> set[str]:
    return {w for w in WORD.findall(text.lower().replace("_", " ")) if w not in stop}


def _links(claim_text: str, words: set[str]) -> bool:
    low = claim_text.lower()
    return any(re.search(rf"\b{re.escape(w)}", low) for w in words)


def _majority(directions: Sequence[str]) -> str:
    c = Counter(directions)
    f = sum(v for k, v in c.items() if k.startswith("favours_") and k != "favours_control")
    n, h = c["no_difference"], c["favours_control"]
    if f > n + h:
        return "favours"
    if n > f + h:
        return "no_difference"
    if h > f + n:
        return "favours_control"
    return "mixed" if f + n + h else "unclear"


def _directions(ev: AuditEvidence, ids: set[str]) -> dict[str, str]:
    return {s: d for s, d in ev.study_directions.items() if s in ids}


def _synthesis_rows(ev: AuditEvidence, ids: set[str]) -> list[tuple[str, str]]:
    """Published rows of these reviews with an interval: (row quoted, 'excludes'/'includes')."""
    return [(quote, said) for review, quote, said in ev.published_rows if review in ids]


# --- the claim's citations ---------------------------------------------------------------


def cited(ev: AuditEvidence, numbers: Sequence[int]) -> tuple[str, str, list[str]]:
    """Best confidence among the cited numbers, their top candidates, and every candidate."""
    if ev.citations is None:
        return "none", "", []
    by_number = {c.number: c for c in ev.citations.citations}
    conf, shown, ids = [], [], []
    for n in numbers:
        c = by_number.get(n)
        if c is None:
            shown.append(f"{n}: not in the citation map")
            continue
        conf.append(_text(c.best_guess_confidence))
        best = ev.citations.best(n)
        if best is not None:
            shown.append(f"{n}: {best.study_id} ({_text(c.best_guess_confidence) or 'unrated'})")
        ids += [x.study_id for x in sorted(c.candidates, key=lambda x: x.rank)]
    ranked = [x for x in CONFIDENCE if x in conf]
    return (ranked[0] if ranked else "none"), "; ".join(shown), ids


# --- efficacy --------------------------------------------------------------------------------


def _figure_sources(
    ev: AuditEvidence, rules: ClaimRules, text: str, cands: list[str]
) -> tuple[int, int, list[str]]:
    """Percentages the claim states, traced to its cited studies and their published rows."""
    figures = [
        m.group(1) + (f"-{m.group(2)}" if m.group(2) else "") for m in PERCENT.finditer(text)
    ]
    if not figures:
        return 0, 0, []
    obs = set(ev.design_groups.get("observational", []))
    sources: list[tuple[str, str, bool]] = []  # (where, text, uncontrolled)
    wanted = set(cands)
    for r in ev.study_rows:
        if r.study_id not in wanted:
            continue
        body = f"{_text(r.title)} {_text(r.notes)}"
        sources.append((f"{r.study_id} ({r.design})", body, r.design in obs))
    design = {r.study_id: r.design for r in ev.study_rows}
    for r in ev.synthesis_rows:
        if r.review_id not in wanted:
            continue
        body = f"{_text(r.question)} {_text(r.notes)}"
        sources.append(
            (
                f"{r.row_id} ({design.get(r.review_id, 'review')})",
                body,
                design.get(r.review_id) in obs,
            )
        )
    unc = ctl = 0
    said = []
    for fig in figures:
        found = [
            (where, flag or _search(rules.uncontrolled, body))
            for where, body, flag in sources
            if fig in re.sub(r"\s*[–-]\s*", "-", body)
        ]
        if not found:
            continue
        if all(u for _, u in found):
            unc += 1
            said.append(f"{fig}% from uncontrolled studies: " + ", ".join(w for w, _ in found))
        else:
            ctl += 1
            said.append(f"{fig}% from " + ", ".join(w for w, _ in found))
    return unc, ctl, said


def efficacy_part(
    ev: AuditEvidence,
    rules: ClaimRules,
    claim: Claim,
    assertion: str,
    indications: Sequence[str],
    cands: list[str],
) -> tuple[str, Part]:
    """(the assertion judged, its part): a claim singling out a population asserts a benefit
    there, judged on that population's studies only."""
    population = next((p for p in rules.populations if _search(p.claim, claim.text)), None)
    inds = set(indications)
    st = [r for r in ev.study_rows if r.indication in inds]
    scope = ", ".join(indications) or "no indication of the protocol"
    if population is not None:
        st = [r for r in st if _search(population.studies, _text(r.population))]
        assertion = "benefit"
        scope += f", population: {population.population}"
    ids = {r.study_id for r in st}
    pools = [
        p
        for i in indications
        for p in ev.pools.get(i, [])
        if population is None or set(p.study_ids) <= ids
    ]
    verdicts = Counter(p.signal.verdict for p in pools)
    g = ev.design_groups
    human = [r for r in st if r.species == "human"]
    trial_designs = set(g.get("placebo_rct", [])) | set(g.get("active_rct", []))
    dirs = _directions(ev, {r.study_id for r in human if r.design in trial_designs})
    by = {d: sorted(s for s, x in dirs.items() if x == d) for d in set(dirs.values())}
    fav, null, against = (
        by.get("favours", []),
        by.get("no_difference", []),
        by.get("favours_control", []),
    )
    observational = set(g.get("observational", []))
    unc_dirs = _directions(ev, {r.study_id for r in human if r.design in observational})
    unc_fav = sorted(s for s, d in unc_dirs.items() if d == "favours")
    preclinical = set(g.get("preclinical", []))
    pre = sorted(r.study_id for r in st if r.design in preclinical)
    syn = _synthesis_rows(ev, ids)
    f_unc, f_ctl, f_said = _figure_sources(ev, rules, claim.text, cands)
    features = {
        "pool_benefit": verdicts["benefit"],
        "pool_null": verdicts["null"],
        "pool_harm": verdicts["harm"],
        "trials_favour": len(fav),
        "trials_null": len(null),
        "trials_against": len(against),
        "trials_against_only": bool(against) and not fav and not verdicts["benefit"],
        "controlled_favour": verdicts["benefit"] + len(fav),
        "controlled_not_favour": verdicts["null"] + verdicts["harm"] + len(null) + len(against),
        "uncontrolled_favour": len(unc_fav),
        "preclinical": len(pre),
        "human_studies": len(human),
        "syntheses_excluding_null": sum(1 for _, s in syn if s == "excludes"),
        "syntheses_including_null": sum(1 for _, s in syn if s == "includes"),
        "figures_uncontrolled": f_unc,
        "figures_controlled": f_ctl,
    }
    said = [f"scope: {scope}"]
    said += [f"{p.comparison_label or p.comparison}: {p.quote()}" for p in pools]
    for word, group in (
        ("favour the drug", fav),
        ("no difference", null),
        ("favour the comparator", against),
    ):
        if group:
            said.append(f"controlled trials that {word}: {' '.join(group)}")
    if unc_fav:
        said.append(f"uncontrolled studies that favour the drug: {' '.join(unc_fav)}")
    if pre:
        said.append(f"animal or in-vitro studies: {len(pre)}")
    said += [f"published: {q}" for q, _ in syn]
    said += f_said
    if not pools and not dirs:
        said.append("no counted pool and no controlled trial with a direction")
    ids_shown = [*fav, *null, *against, *unc_fav]
    return assertion, decide(rules, assertion, features, "; ".join(said), ids_shown)


def level_part(ev: AuditEvidence, rules: ClaimRules, claim: Claim) -> Part:
    inds = ev.row_indications.get(claim.row, ())
    theirs = article_level(claim.text)
    ours = {i: ev.levels[i] for i in inds if i in ev.levels}
    ranks = [rules.levels_rank.get(v) for v in ours.values()]
    known = [r for r in ranks if r is not None]
    mine = max(known) if known else None
    claimed = rules.levels_rank.get(theirs)
    features = {
        "same_level": theirs in ours.values(),
        "overstated_by": None if mine is None or claimed is None else claimed - mine,
    }
    shown = "; ".join(f"{i}={lv}" for i, lv in ours.items()) or "no indication of ours"
    return decide(rules, "level", features, f"table_uses: {shown}; the article: {theirs}")


# --- effects (physiology) ------------------------------------------------------------------


def effect_part(ev: AuditEvidence, rules: ClaimRules, claim: Claim, rule: ClaimEffect) -> Part:
    # A claim that says the effect is absent or lower is read as such; otherwise it says more.
    claimed = "down" if _search(rule.down, claim.text) else "up"
    same: dict[bool, list[str]] = {True: [], False: []}
    opposite: dict[bool, list[str]] = {True: [], False: []}
    for study_id, design, human, body in ev.study_bodies:
        up, down = _search(rule.up, body), _search(rule.down, body)
        if up == down:
            continue
        found = "up" if up else "down"
        (same if found == claimed else opposite)[human].append(f"{study_id} ({design})")
    features = {
        "human_same": len(same[True]),
        "human_opposite": len(opposite[True]),
        "nonhuman_same": len(same[False]),
        "nonhuman_opposite": len(opposite[False]),
    }
    word = "more" if claimed == "up" else "none or less"
    said = [f"effect: {rule.effect} (the claim says {word})"]
    for label, group in (
        ("human studies that agree", same[True]),
        ("human studies that find the opposite", opposite[True]),
        ("non-human studies that agree", same[False]),
        ("non-human studies that find the opposite", opposite[False]),
    ):
        if group:
            said.append(f"{label}: {', '.join(group)}")
    ids = [s.split(" ")[0] for s in same[True] + opposite[True] + same[False] + opposite[False]]
    return decide(rules, "effect", features, "; ".join(said), ids)


# --- dose -----------------------------------------------------------------------------------


def dose_parts(ev: AuditEvidence, rules: ClaimRules, claim: Claim, route_hint: str) -> list[Part]:
    about = _search(rules.dose_about_studies, claim.text)
    parts = []
    units = {u: r for r, u in ev.units.items()}
    for m in DOSE.finditer(claim.text):
        lo, hi = float(m.group(2)), float(m.group(3) or m.group(2))
        unit = "mg/day" if m.group(4).lower() == "mg" else "ug/day"
        route = units.get(unit)
        label = f"{'up to ' if m.group(1) else ''}{m.group(0).strip()}"
        if route is None:
            parts.append(
                decide(
                    rules,
                    "dose",
                    {
                        "about_studies": about,
                        "within_studied": None,
                        "within_recommended": None,
                        "linked_recommendations": None,
                        "linked_statements": None,
                    },
                    f"{label}: no route of the protocol is dosed in {unit}",
                )
            )
            continue
        doses = ev.route_doses[route]
        rec_max, studied = doses.recommended_max, doses.studied
        beyond = [(rid, t) for most, rid, t in doses.others if not pd.isna(most) and most >= hi]
        features = {
            "about_studies": about,
            "within_recommended": None
            if pd.isna(rec_max) or rec_max is None
            else bool(hi <= rec_max),
            "within_studied": None if studied is None else hi <= studied,
            "linked_recommendations": None,
            "linked_statements": None,
        }
        said = [
            f"claimed {lo:g}–{hi:g} {unit} ({route})"
            if lo != hi
            else f"claimed {hi:g} {unit} ({route})"
        ]
        said.append(
            "recommended ("
            + "/".join(ev.recommend_from)
            + "): "
            + (
                "; ".join(f"{_range(a, b)} ({rid}, {t})" for a, b, rid, t in doses.recommended)
                or "none"
            )
        )
        if studied is not None:
            said.append(f"studied up to {studied:g} {unit} ({doses.top_studies[0]})")
        if beyond:
            said.append(
                "other statements reaching it: " + "; ".join(f"{rid} ({t})" for rid, t in beyond)
            )
        parts.append(decide(rules, "dose", features, "; ".join(said), doses.top_studies))
    if parts:
        return parts
    stop = set(rules.link_stopwords)
    words = _words(claim.text, stop)
    hits = [
        r
        for r in ev.statement_rows
        if (not route_hint or r.formulation == route_hint)
        and words & _words(f"{_text(r.population)} {_text(r.statement)}", stop)
    ]
    rec = [r for r in hits if r.source_type in ev.recommend_from]
    features = {
        "about_studies": about,
        "within_recommended": None,
        "within_studied": None,
        "linked_recommendations": len(rec),
        "linked_statements": len(hits),
    }
    said = "dosing statements sharing its words: " + (
        "; ".join(f"{r.row_id} ({r.source_type})" for r in hits) or "none"
    )
    return [decide(rules, "dose", features, said)]


def _range(lo: Any, hi: Any) -> str:
    if pd.isna(lo):
        return f"up to {float(hi):g}"
    return f"{float(lo):g}–{float(hi):g}"


# --- side effects and interactions ----------------------------------------------------------


def _band_rank(ev: AuditEvidence, band: str | None) -> int | None:
    return ev.bands.index(band) if band in ev.bands else None


def safety_part(ev: AuditEvidence, rules: ClaimRules, claim: Claim, row: str) -> Part:
    mine = primary(ev.side_effects, row)
    low = claim.text.lower()
    claimed = next((b for b in BANDS_BY_LENGTH if re.search(rf"\b{b}\b", low)), None)
    claims_dd = _search(rules.dose_dependent, claim.text)
    claims_rev = _search(rules.reversible, claim.text)
    if mine is None:
        features = {
            "band_gap": None,
            "claims_reversible": claims_rev,
            "reversibility_reported": False,
            "assessable": False,
            "dose_dependence_unshown": claims_dd,
            "signals": False,
        }
        return decide(rules, "safety", features, f"{row}: no outcome of the protocol measures it")
    assessable = mine.band != "not assessable"
    ours, theirs = _band_rank(ev, mine.band), _band_rank(ev, claimed)
    gap = None if not assessable else (0 if theirs is None or ours is None else abs(ours - theirs))
    rev = [s for s in ev.side_effects if s.row == row and s.reversibility != "not reported"]
    features = {
        "band_gap": gap,
        "claims_reversible": claims_rev,
        "reversibility_reported": bool(rev),
        "assessable": assessable,
        "dose_dependence_unshown": claims_dd and not mine.dose_dependence.startswith("dose-dep"),
        "signals": bool(mine.signals),
    }
    said = [f"{row}: {mine.band}" + (f" ({mine.route})" if mine.route else "")]
    if assessable:
        said.append(mine.band_basis)
    if claimed:
        said.append(f"the claim says {claimed}")
    if claims_dd:
        said.append(f"dose-dependence: {mine.dose_dependence}")
    if claims_rev:
        said.append("reversibility: " + ("; ".join(s.reversibility for s in rev) or "not reported"))
    if mine.signals:
        said.append(f"signals: {mine.signals}")
    studies = [s for x in ev.side_effects if x.row == row for s in x.studies]
    return decide(rules, "safety", features, "; ".join(said), studies)


def interaction_part(ev: AuditEvidence, rules: ClaimRules, row: str) -> Part:
    r = next((x for x in ev.interaction_rows if x["interaction_type"] == row), None)
    if r is None:
        features = {"human_evidence": False, "strength_rank": None}
        return decide(rules, "interaction", features, f"{row}: not in table_interactions")
    kind, strength = _text(r["evidence_type"]), _text(r["strength"])
    features = {
        "human_evidence": kind in rules.interaction_human_types,
        "strength_rank": rules.strength_rank.get(strength),
    }
    said = f"table_interactions {row}: {kind or 'no evidence'}, {strength or 'no strength'}"
    if _text(r.get("evidence")):
        said += f"; studies by type: {_text(r['evidence'])}"
    return decide(rules, "interaction", features, said)


# --- claims to verdicts ---------------------------------------------------------------------


def _kind(rules: ClaimRules, claim: Claim) -> str:
    if claim.source == "table":
        return rules.table_kinds.get(claim.table, rules.fallback_kind)
    for rule in rules.kinds:
        if _search(rule.pattern, claim.text):
            return rule.kind
    return rules.fallback_kind


def _assertion(rules: ClaimRules, text: str) -> str:
    return next((a.assertion for a in rules.assertions if _search(a.pattern, text)), "benefit")


def _linked_rows(ev: AuditEvidence, rules: ClaimRules, text: str, kind: str) -> list[str]:
    stop = set(rules.link_stopwords)
    if kind == "safety":
        rows = {s.row: _words(f"{s.row} {' '.join(s.outcomes)}", stop) for s in ev.side_effects}
    else:
        rows = {
            _text(r["interaction_type"]): _words(
                f"{_text(r['interaction_type'])} {_text(r.get('description'))}", stop
            )
            for r in ev.interaction_rows
        }
    return sorted(row for row, words in rows.items() if words and _links(text, words))


def _restated(
    ev: AuditEvidence, rules: ClaimRules, claim: Claim, done: dict[str, Audited]
) -> list[Audited]:
    """Table cells a text claim restates: rows named in it, in the table it names."""
    if claim.source != "text" or not _search(rules.restatement, claim.text):
        return []
    numbers = {int(n) for n in re.findall(r"(?i)\btable\s+(\d+)", claim.text)}
    tables = {ev.tables[n] for n in numbers if n in ev.tables}
    low = claim.text.lower()
    return [
        a
        for a in done.values()
        if a.claim.source == "table"
        and (not tables or a.claim.table in tables)
        and re.search(rf"(?<![\w-]){re.escape(a.claim.row.lower())}(?![\w-])", low)
    ]


def judge(
    ev: AuditEvidence, rules: ClaimRules, claim: Claim, done: dict[str, Audited]
) -> tuple[str, str, Part]:
    """(kind, assertion, deciding part) of one claim."""
    restated = _restated(ev, rules, claim, done)
    if restated:
        worst = min(restated, key=lambda a: (VERDICTS.index(a.verdict), a.claim.claim_id))
        ids = " ".join(sorted(a.claim.claim_id for a in restated))
        return (
            worst.kind,
            "restatement",
            Part(
                worst.verdict,
                f"restates {ids}; weakest: {worst.claim.claim_id}",
                worst.evidence,
                worst.studies,
            ),
        )
    _, _, cands = cited(ev, claim.citations)
    for rule in rules.effects:
        if claim.source == "text" and _search(rule.claim, claim.text):
            return rule.kind, "effect", effect_part(ev, rules, claim, rule)
    kind = _kind(rules, claim)
    if kind == "efficacy":
        if claim.column in rules.level_columns:
            return kind, "level", level_part(ev, rules, claim)
        if claim.source == "table":
            inds = ev.row_indications.get(claim.row, ())
        else:
            design = ev.indication_of
            inds = tuple(sorted({design[c] for c in cands if design.get(c) in ev.indications}))
        judged, part = efficacy_part(ev, rules, claim, _assertion(rules, claim.text), inds, cands)
        return kind, judged, part
    if kind == "dose":
        hint = claim.row if claim.source == "table" else ""
        route = next((r for r in ev.units if slug(r) in slug(hint)), "") if hint else ""
        return kind, "dose", weakest(dose_parts(ev, rules, claim, route))
    if kind in ("safety", "interaction"):
        rows = [claim.row] if claim.source == "table" else _linked_rows(ev, rules, claim.text, kind)
        if not rows:
            return kind, kind, decide(rules, "other", {}, f"links to no {kind} row of the tables")
        each = [
            safety_part(ev, rules, claim, r) if kind == "safety" else interaction_part(ev, rules, r)
            for r in rows
        ]
        return kind, kind, weakest(each)
    said = "no rule links it to the data"
    if not rules.vocabulary:
        said += " (the protocol has no claims_audit block: only the rule set's generic words apply)"
    return kind, "other", decide(rules, "other", {}, said)


def audit(ev: AuditEvidence, rules: ClaimRules, claims: Sequence[Claim]) -> list[Audited]:
    """Every claim's verdict, most consequential first (the rule set's `order` weights)."""
    done: dict[str, Audited] = {}
    for claim in sorted(claims, key=lambda c: (c.source != "table", c.claim_id)):
        kind, assertion, part = judge(ev, rules, claim, done)
        conf, shown, _ = cited(ev, claim.citations)
        o = rules.order
        weight = o.verdict[part.verdict] * o.kind.get(kind, 1.0) * o.confidence.get(conf, 1.0)
        done[claim.claim_id] = Audited(
            claim,
            kind,
            assertion,
            part.verdict,
            part.decided_by,
            part.evidence,
            part.studies,
            conf,
            shown,
            round(weight, 6),
        )
    return sorted(done.values(), key=lambda a: (-a.weight, a.claim.claim_id))


COLUMNS = [
    "rank",
    "claim_id",
    "source",
    "table",
    "row",
    "column",
    "kind",
    "assertion",
    "claim",
    "citations",
    "citation_confidence",
    "cited_studies",
    "verdict",
    "decided_by",
    "evidence",
    "studies",
    "weight",
]


def audit_frame(audited: Sequence[Audited]) -> pd.DataFrame:
    rows = [
        {
            "rank": n,
            "claim_id": a.claim.claim_id,
            "source": a.claim.source,
            "table": a.claim.table,
            "row": a.claim.row,
            "column": a.claim.column,
            "kind": a.kind,
            "assertion": a.assertion,
            "claim": a.claim.text,
            "citations": " ".join(str(n) for n in a.claim.citations),
            "citation_confidence": a.confidence,
            "cited_studies": a.cited,
            "verdict": a.verdict,
            "decided_by": a.decided_by,
            "evidence": a.evidence,
            "studies": " ".join(a.studies),
            "weight": a.weight,
        }
        for n, a in enumerate(audited, start=1)
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def verdict_counts(frame: pd.DataFrame) -> dict[str, int]:
    """Claims per verdict, every verdict named (most severe first)."""
    got = Counter(frame["verdict"]) if not frame.empty else Counter()
    return {v: int(got.get(v, 0)) for v in VERDICTS}


def claims_audit(
    snapshot: Snapshot,
    analyses: list[Analysis],
    rules: RuleSet,
    uses: list[UseRating],
    side_effects: list[SideEffect],
    facts: pd.DataFrame,
    interactions: pd.DataFrame,
) -> pd.DataFrame | None:
    """The audit table of a run, or None when the rule set has no `claims` section (older
    rule sets) or the protocol names no claims and no citations."""
    if not rules.claims or (snapshot.claims is None and snapshot.citations is None):
        return None
    p = snapshot.protocol
    topics = set(p.topics)
    row_inds: dict[str, list[str]] = {}
    for ind in p.indications:
        if ind.article_row:
            row_inds.setdefault(ind.article_row, []).append(ind.id)
    ev = AuditEvidence(
        studies=snapshot.studies,
        effects=snapshot.study_effects,
        syntheses=snapshot.published_syntheses,
        pools={
            ind.id: counted_pools(rules, efficacy_pools(analyses, ind.id, rules, snapshot))
            for ind in p.indications
        },
        levels={u.indication: u.rating.level for u in uses},
        row_indications={k: tuple(v) for k, v in row_inds.items()},
        indications=tuple(i.id for i in p.indications if i.id not in topics),
        side_effects=side_effects,
        facts=daily_facts(facts, p),
        statements=facts,
        recommend_from=tuple(DosageRules.from_section(rules.dosage).recommend_from),
        units={route: spec.unit for route, spec in p.dose_tiers.items()},
        interactions=interactions,
        citations=snapshot.citations,
        design_groups=rules.design_groups,
        harm_prefixes=tuple(rules.harm_outcome_prefixes),
        bands=tuple(str(b["label"]) for b in rules.frequency_bands),
        tables=table_numbers(snapshot.claims) if snapshot.claims is not None else {},
    )
    claim_rules = ClaimRules.from_section(rules.claims, p.claims_audit)
    return audit_frame(audit(ev, claim_rules, all_claims(snapshot.claims, snapshot.citations)))
