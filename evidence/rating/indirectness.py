"""GRADE indirectness of one pool, judged from its studies' own fields against the question.

The question is the protocol's: the comparison's routes and comparator (the indication's
comparator when the comparison sets none), the indication's target population with the subgroups
it names as answering the question only indirectly, the shortest trial that answers it (the
outcome's own minimum first), and whether the outcome is a surrogate or flagged indirect. Every
source says what was checked, also when it found nothing, and a study whose field is not recorded
is stated with its share of the weight, never silently taken as direct (GRADE guidelines 8).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evidence.inputs.protocol import (
    ALL_STUDIES,
    ComparisonSpec,
    Indication,
    OutcomeSpec,
    Protocol,
)
from evidence.rating.domains import DomainJudgement
from evidence.synthesis.comparisons import comparator_of

if TYPE_CHECKING:
    from evidence.synthesis.pool import Analysis

DOMAIN = "indirectness"
SOURCES = ("population", "route", "comparator", "duration", "outcome")


class IndirectnessRules(BaseModel):
    """The rule set's `grade.indirectness` section: what makes the domain serious."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    serious_share: float = Field(gt=0, le=1)  # weight share of indirect studies that is serious
    very_serious_sources: int = Field(ge=2)  # this many serious sources: very serious
    unknown: Literal["state", "count"] = "state"  # a field not recorded: stated, or indirect

    @classmethod
    def from_grade(cls, grade: Mapping[str, Any]) -> IndirectnessRules | None:
        """The section, or None for rule sets that predate it (the outcome flag alone)."""
        section = grade.get("indirectness")
        if section is None:
            return None
        try:
            return cls.model_validate(section)
        except ValidationError as exc:
            raise ValueError(f"rule set grade.indirectness: {exc}") from None


@dataclass(frozen=True)
class Question:
    """What a pool is meant to answer, from the protocol's indication, comparison and outcome."""

    population: str = ""
    indirect_population_terms: tuple[str, ...] = ()
    routes: tuple[str, ...] | None = None  # None: any route answers the question
    comparator: str = "placebo"  # placebo | active | usual_care | dose | none
    comparator_names: tuple[str, ...] | None = None  # active/usual-care names that answer it
    min_duration_weeks: float | None = None
    outcome: str = ""
    surrogate: bool = False
    surrogate_for: str = ""
    outcome_indirect: bool = False


def question_of(
    indication: Indication, comparison: ComparisonSpec, outcome: OutcomeSpec
) -> Question:
    comparator = comparison.comparator or indication.comparator
    names = comparison.comparator_names
    if names is None and comparator == "active" and indication.active_comparators:
        names = indication.active_comparators
    weeks = outcome.min_duration_weeks
    return Question(
        population=indication.target_population,
        indirect_population_terms=tuple(indication.indirect_population_terms),
        routes=None if comparison.routes is None else tuple(comparison.routes),
        comparator=comparator,
        comparator_names=None if names is None else tuple(names),
        min_duration_weeks=weeks if weeks is not None else indication.min_duration_weeks,
        outcome=outcome.label,
        surrogate=outcome.surrogate,
        surrogate_for=outcome.surrogate_for,
        outcome_indirect=outcome.indirect,
    )


@dataclass(frozen=True)
class Finding:
    """One source of indirectness in one pool: serious or not, and what was found, in words."""

    source: str
    serious: bool
    text: str


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _weeks(value: object) -> float | None:
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return None if pd.isna(out) else out


def _included_text(population: str) -> str:
    """The population text without its exclusion clauses ("...; cirrhosis excluded"): a subgroup
    a trial left out does not make its population indirect."""
    kept = [c for c in population.split(";") if "exclud" not in c.casefold()]
    return ";".join(kept).casefold()


def _pct(share: float, threshold: float | None = None) -> str:
    """Whole percent, or one decimal where rounding would hide which side of the threshold the
    share lies on (49.6% is not "50%" when 50% is serious)."""
    text = f"{100 * share:.0f}"
    if threshold is not None and share != threshold and text == f"{100 * threshold:.0f}":
        text = f"{100 * share:.1f}"
    return f"{text}%"


class _Pool:
    """The pool's studies and their shares of its weight."""

    def __init__(
        self, ids: Sequence[str], weights: Mapping[str, float], threshold: float | None = None
    ) -> None:
        self.threshold = threshold
        self.ids = list(dict.fromkeys(ids))
        raw = {s: max(0.0, float(weights.get(s, 0.0) or 0.0)) for s in self.ids}
        total = sum(raw.values())
        if total > 0:
            self.share = {s: w / total for s, w in raw.items()}
        else:  # no weights known: every study counts the same
            self.share = {s: 1 / len(self.ids) for s in self.ids} if self.ids else {}

    def part(self, ids: Sequence[str]) -> str:
        """How many of the pool's studies `ids` are, with their share of the weight."""
        w = self.weight(ids)
        noun = "study" if len(self.ids) == 1 else "studies"
        return f"{len(ids)} of {len(self.ids)} {noun} ({_pct(w, self.threshold)} of the weight)"

    def weight(self, ids: Sequence[str]) -> float:
        return sum(self.share.get(s, 0.0) for s in ids)


def _assess(
    pool: _Pool,
    rules: IndirectnessRules,
    source: str,
    indirect: list[str],
    unknown: list[str],
    found: str,
    none_found: str,
    not_recorded: str,
) -> Finding:
    """A source's finding: serious when its indirect studies (with unknown ones, if the rule set
    counts them) hold at least the serious share of the weight."""
    counted = indirect + (unknown if rules.unknown == "count" else [])
    share = pool.weight(counted)
    serious = bool(counted) and share >= rules.serious_share
    parts = []
    if indirect:
        parts.append(f"{pool.part(indirect)} {found} ({', '.join(indirect)})")
    else:
        parts.append(none_found)
    if unknown:
        how = "counted as indirect" if rules.unknown == "count" else "not counted"
        parts.append(f"{not_recorded} for {pool.part(unknown)}: {', '.join(unknown)} ({how})")
    if counted and not serious:
        parts.append(f"below the {_pct(rules.serious_share)} of the weight that is serious")
    return Finding(source, serious, f"{source}: " + "; ".join(parts))


def _population(
    q: Question, rows: Mapping[str, Mapping[str, object]], pool: _Pool, rules: IndirectnessRules
) -> Finding:
    target = f"the question is {q.population}" if q.population else ""
    if not q.indirect_population_terms:
        text = "the protocol names no subgroup as indirect for this question"
        return Finding(
            "population", False, f"population: {text}" + (f" ({target})" if target else "")
        )
    indirect, unknown, matched = [], [], []
    for sid in pool.ids:
        text = _text(rows.get(sid, {}).get("population"))
        if not text:
            unknown.append(sid)
            continue
        hits = [t for t in q.indirect_population_terms if t.casefold() in _included_text(text)]
        if hits:
            indirect.append(sid)
            matched.extend(h for h in hits if h not in matched)
    terms = "/".join(q.indirect_population_terms)
    finding = _assess(
        pool,
        rules,
        "population",
        indirect,
        unknown,
        f"in {'/'.join(matched)} populations",
        f"no study in a subgroup the protocol names as indirect ({terms})",
        "population not recorded",
    )
    if target:
        return Finding(finding.source, finding.serious, f"{finding.text}; {target}")
    return finding


def _route(
    q: Question, rows: Mapping[str, Mapping[str, object]], pool: _Pool, rules: IndirectnessRules
) -> Finding:
    if q.routes is None:
        return Finding("route", False, "route: the question accepts any route")
    wanted = "/".join(q.routes)
    indirect, unknown, other = [], [], []
    for sid in pool.ids:
        route = _text(rows.get(sid, {}).get("route"))
        if not route:
            unknown.append(sid)
        elif route not in q.routes:
            indirect.append(sid)
            other.append(route)
    shown = "/".join(dict.fromkeys(other))
    return _assess(
        pool,
        rules,
        "route",
        indirect,
        unknown,
        f"{shown} where the question is {wanted}",
        f"every study {wanted}, as the question",
        "route not recorded",
    )


def _comparator(
    q: Question,
    rows: Mapping[str, Mapping[str, object]],
    pool: _Pool,
    rules: IndirectnessRules,
    usual_care_terms: Sequence[str],
    drug: str,
) -> Finding:
    wanted = q.comparator.replace("_", " ")
    if q.comparator_names:
        wanted += f" ({'/'.join(q.comparator_names)})"
    indirect, unknown, other = [], [], []
    names = [n.casefold() for n in q.comparator_names or ()]
    for sid in pool.ids:
        raw = rows.get(sid, {}).get("comparator")
        comp = comparator_of(raw, usual_care_terms, drug)
        if comp.kind == "unknown":
            unknown.append(sid)
        elif comp.kind != q.comparator or (
            names and not any(n.casefold().startswith(w) for n in comp.names for w in names)
        ):
            indirect.append(sid)
            other.append(_text(raw))
    shown = ", ".join(dict.fromkeys(other))
    return _assess(
        pool,
        rules,
        "comparator",
        indirect,
        unknown,
        f"against {shown} where the question is {wanted}",
        f"every study against {wanted}, as the question",
        "comparator not recorded",
    )


def _duration(
    q: Question, rows: Mapping[str, Mapping[str, object]], pool: _Pool, rules: IndirectnessRules
) -> Finding:
    if q.min_duration_weeks is None:
        return Finding(
            "duration", False, "duration: the protocol sets no minimum for this question"
        )
    least = f"{q.min_duration_weeks:g} weeks"
    indirect, unknown, short = [], [], []
    for sid in pool.ids:
        weeks = _weeks(rows.get(sid, {}).get("duration_weeks"))
        if weeks is None:
            unknown.append(sid)
        elif weeks < q.min_duration_weeks:
            indirect.append(sid)
            short.append(f"{weeks:g}")
    return _assess(
        pool,
        rules,
        "duration",
        indirect,
        unknown,
        f"shorter than the question's {least} ({'/'.join(short)} weeks)",
        f"no study shorter than the question's {least}",
        "duration not recorded",
    )


def _outcome(q: Question) -> Finding:
    name = q.outcome or "the outcome"
    if q.surrogate:
        stands = f" for {q.surrogate_for}" if q.surrogate_for else ""
        return Finding("outcome", True, f"outcome: {name} is a surrogate{stands} (protocol)")
    if q.outcome_indirect:
        return Finding("outcome", True, f"outcome: {name} is flagged indirect in the protocol")
    return Finding("outcome", False, f"outcome: {name} is not a surrogate (protocol)")


# The studies.csv fields the checks read.
FIELDS = ("study_id", "population", "route", "comparator", "duration_weeks")


def _study_rows(studies: pd.DataFrame, ids: Sequence[str]) -> dict[str, Mapping[str, object]]:
    """The pool's studies' fields by study id (a repeated id: its last row), read column-wise:
    far cheaper than selecting rows of the whole frame for each pool."""
    if "study_id" not in studies:
        return {str(r["study_id"]): r for r in studies.to_dict("records")}
    wanted = set(ids)
    cols = [c for c in FIELDS if c in studies.columns]
    out: dict[str, Mapping[str, object]] = {}
    for values in zip(*(studies[c].tolist() for c in cols), strict=True):
        if values[0] in wanted:
            out[str(values[0])] = dict(zip(cols, values, strict=True))
    return out


def judge_indirectness(
    question: Question,
    studies: pd.DataFrame,
    study_ids: Sequence[str],
    weights: Mapping[str, float],
    rules: IndirectnessRules,
    *,
    usual_care_terms: Sequence[str] = (),
    drug: str = "",
) -> DomainJudgement:
    """Indirectness of one pool from its studies' population, route, comparator and duration
    (studies.csv fields), weighted by their shares of the pool's weight, and its outcome."""
    pool = _Pool(study_ids, weights, rules.serious_share)
    if not pool.ids:
        return DomainJudgement(DOMAIN, "not judgeable", "no studies in the pool")
    rows = _study_rows(studies, pool.ids)
    findings = [
        _population(question, rows, pool, rules),
        _route(question, rows, pool, rules),
        _comparator(question, rows, pool, rules, usual_care_terms, drug),
        _duration(question, rows, pool, rules),
        _outcome(question),
    ]
    missing = [s for s in pool.ids if s not in rows]
    serious = [f for f in findings if f.serious]
    if len(serious) >= rules.very_serious_sources:
        judgement = "very serious"
    elif serious:
        judgement = "serious"
    else:
        judgement = "no concern"
    parts = [f.text for f in serious] + [f.text for f in findings if not f.serious]
    if missing:
        parts.append(f"no study record for {', '.join(missing)}")
    lead = (
        f"{len(serious)} serious source{'s' if len(serious) != 1 else ''} of indirectness"
        if serious
        else "checked population, route, comparator, duration and outcome"
    )
    return DomainJudgement(DOMAIN, judgement, f"{lead}: " + " | ".join(parts))


def pool_indirectness(
    analysis: Analysis, protocol: Protocol, studies: pd.DataFrame, grade: Mapping[str, Any]
) -> DomainJudgement | None:
    """Indirectness of a pooled analysis (`evidence.synthesis.pool.Analysis`), or None when the
    rule set has no `grade.indirectness` section (older rule sets keep the outcome flag alone)."""
    rules = IndirectnessRules.from_grade(grade)
    if rules is None:
        return None
    indication = protocol.indication(analysis.indication)
    spec = indication.comparison(analysis.comparison) if analysis.comparison else ALL_STUDIES
    result = analysis.result
    weights: dict[str, float] = {}
    for sid, w in zip(result.studies, result.weights, strict=True):
        weights[sid] = weights.get(sid, 0.0) + float(w)
    return judge_indirectness(
        question_of(indication, spec, analysis.outcome),
        studies,
        analysis.study_ids,
        weights,
        rules,
        usual_care_terms=protocol.usual_care_terms,
        drug=protocol.drug.name,
    )
