"""The review protocol: what a synthesis covers, as data (one YAML file per drug)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from evidence.inputs.schemas import ROUTES
from evidence.inputs.textfile import InputFileError
from evidence.inputs.yamlfile import load_yaml
from evidence.safepath import ID_RULE, is_id, relative_name

Measure = Literal["RR", "OR", "RD", "MD", "SMD", "PLO", "PR", "GEN"]


def _id(value: str) -> str:
    """Ids become file names and markup ids (`reports/<protocol>/figures/<ind>-<out>-forest.svg`,
    `id="fig-..."`), so they are plain names, never paths or markup."""
    if not is_id(value):
        raise ValueError(ID_RULE)
    return value


def _data_file(value: str) -> str:
    """Protocol file names are read from the data folder and nowhere else."""
    try:
        relative_name(value)
    except ValueError:
        raise ValueError(
            "must be a relative path inside the data folder (no leading '/', no '..', "
            "no empty or '.' parts, no backslashes)"
        ) from None
    return value


def _terms(value: list[str]) -> list[str]:
    """A blank term would be found in every population text."""
    if any(not t.strip() for t in value):
        raise ValueError("terms must not be blank")
    return value


def _pattern(value: str) -> str:
    """A claims-audit pattern is read as a case-insensitive regular expression: it must compile,
    and one that matches the empty string would link every claim and every study."""
    try:
        compiled = re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"pattern {value!r} does not compile: {exc}") from None
    if compiled.search("") is not None:
        raise ValueError(f"pattern {value!r} matches every text (it matches the empty string)")
    return value


Id = Annotated[str, AfterValidator(_id)]
Terms = Annotated[list[str], AfterValidator(_terms)]
Pattern = Annotated[str, AfterValidator(_pattern)]
DataFile = Annotated[str, AfterValidator(_data_file)]


def _repeated(values: Iterable[str]) -> list[str]:
    """The values given more than once, sorted."""
    return sorted(v for v, n in Counter(values).items() if n > 1)


class ProtocolError(ValueError):
    """A protocol file that cannot be used, with the file and field named."""


class _Model(BaseModel):
    # No NaN or infinity anywhere in a protocol: a cut point, threshold or tolerance that is not
    # finite compares false with everything and silently changes a tier, a rating or a diff.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class DrugSpec(_Model):
    name: str
    pubmed_term: str


class DecisionThreshold(_Model):
    """The smallest effect that would change a decision about the outcome (GRADE's threshold for
    rating imprecision), mirrored for harm. Give exactly one of `effect` (on the outcome's
    measure: a ratio such as 1.25, or a difference in the outcome's units) and `per_1000` (an
    absolute risk difference per 1,000 people, converted with the pool's control risk), and
    where the number comes from."""

    effect: float | None = None
    per_1000: float | None = Field(default=None, gt=0, lt=1000)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _one(self) -> DecisionThreshold:
        if (self.effect is None) == (self.per_1000 is None):
            raise ValueError("give exactly one of `effect` and `per_1000`")
        if self.effect is not None and self.effect <= 0:
            raise ValueError("`effect` must be > 0 (a ratio above 0, or a difference's size)")
        return self


class Mid(_Model):
    """A minimal important difference in the outcome's own units, with its source."""

    value: float = Field(gt=0)
    source: str = Field(min_length=1)


class OutcomeSpec(_Model):
    id: Id
    measure: Measure
    benefit: Literal["higher", "lower"]
    label: str
    indirect: bool = False  # GRADE indirectness: the outcome stands in for the one that matters
    # Imprecision is judged against these; without them, against "no effect" (and says so).
    decision_threshold: DecisionThreshold | None = None
    mid: Mid | None = None  # continuous outcomes: also the threshold when none is given
    # A surrogate (a measurement standing in for a patient-important outcome, GRADE
    # indirectness of outcome), and what it stands in for, said in the judgement's reason.
    surrogate: bool = False
    surrogate_for: str = ""
    # Shortest trial that answers the question for this outcome; overrides the indication's.
    min_duration_weeks: float | None = Field(default=None, gt=0)


ComparatorClass = Literal["placebo", "active", "usual_care", "dose", "none"]

# Designs the pooling knows how to count: parallel groups, crossover (counted once, see
# `crossover`), and single groups (rates). Anything else (cluster trials, ...) is refused.
PARALLEL_DESIGNS = frozenset({"rct", "nonrandomised_controlled", "cohort"})
CROSSOVER_DESIGNS = frozenset({"crossover_rct"})
SINGLE_GROUP_DESIGNS = frozenset({"single_arm", "case_series"})
SUPPORTED_DESIGNS = PARALLEL_DESIGNS | CROSSOVER_DESIGNS | SINGLE_GROUP_DESIGNS


def _designs(value: list[str] | None) -> list[str] | None:
    """A comparison may only allow designs the pooling counts correctly."""
    if value is None:
        return None
    bad = sorted(set(value) - SUPPORTED_DESIGNS)
    if bad:
        raise ValueError(
            f"design(s) {bad} cannot be pooled yet (supported: {sorted(SUPPORTED_DESIGNS)})"
        )
    return value


def _routes(value: list[str] | None) -> list[str] | None:
    """A route the data's `route` column cannot hold would make the comparison empty."""
    if value is not None and (bad := sorted(set(value) - set(ROUTES))):
        raise ValueError(f"unknown route(s) {bad} (the data's routes: {', '.join(ROUTES)})")
    return value


class ComparisonSpec(_Model):
    """One PICO comparison of an indication: which studies may pool together.

    A filter left out (None) accepts any value; a study is assigned to the first comparison of
    its indication that it fits, and a study that fits none is listed with the reasons.
    """

    id: Id
    label: str
    routes: Annotated[list[str] | None, AfterValidator(_routes)] = None  # studies.route
    comparator: ComparatorClass | None = None
    comparator_names: list[str] | None = None  # active/usual-care names accepted (prefix match)
    designs: Annotated[list[str] | None, AfterValidator(_designs)] = None
    population_terms: list[str] | None = None  # the population text must contain one
    exclude_population_terms: list[str] = Field(default_factory=list)
    min_duration_weeks: float | None = None  # design window, e.g. no single-bolus tests
    duration_unknown: Literal["include", "exclude"] = "include"
    # Multi-arm trials: control arms named with one of these are this comparison's; other
    # control arms of such a study (another drug beside placebo) are left out of it.
    control_arm_terms: list[str] | None = None


# Used when an indication declares no comparisons: every study of the indication pools together.
ALL_STUDIES = ComparisonSpec(id="all", label="all studies (no comparisons declared)")


class Indication(_Model):
    id: Id
    label: str
    pubmed_query: str
    article_row: str | None = None
    comparator: ComparatorClass = "placebo"  # the question's, where a comparison sets none
    active_comparators: list[str] = Field(default_factory=list)
    outcomes: list[OutcomeSpec] = Field(default_factory=list)
    comparisons: list[ComparisonSpec] = Field(default_factory=list)
    # The question's population in words (quoted in the indirectness reason), the subgroups
    # whose trials answer it only indirectly (terms matched in a study's population text,
    # outside clauses that say "excluded"), and the shortest trial that answers it. These
    # judge indirectness; unlike a comparison's filters they never keep a study out of a pool.
    target_population: str = ""
    indirect_population_terms: Terms = Field(default_factory=list)
    min_duration_weeks: float | None = Field(default=None, gt=0)

    @property
    def comparison_specs(self) -> list[ComparisonSpec]:
        """The declared comparisons, or one that takes every study when none is declared."""
        return list(self.comparisons) or [ALL_STUDIES]

    def comparison(self, comparison_id: str) -> ComparisonSpec:
        for spec in self.comparison_specs:
            if spec.id == comparison_id:
                return spec
        raise KeyError(comparison_id)


class Tier(_Model):
    label: str = Field(min_length=1)
    max: float | None = Field(default=None, gt=0)  # a daily dose: a cut point at or below 0 is
    # a tier no study falls into


class RouteTiers(_Model):
    unit: str
    field: Literal["dose_mg_day", "dose_ug_day"]
    tiers: list[Tier]

    @model_validator(mode="after")
    def _ordered(self) -> RouteTiers:
        cuts = [t.max for t in self.tiers]
        if not cuts or cuts[-1] is not None or any(c is None for c in cuts[:-1]):
            raise ValueError("every tier but the last needs a `max`; the last has none")
        bounded = [c for c in cuts if c is not None]
        if bounded != sorted(bounded) or len(set(bounded)) != len(bounded):
            raise ValueError(f"tier cut points must increase, got {bounded}")
        if dupes := _repeated(t.label for t in self.tiers):
            raise ValueError(f"tier labels repeat: {dupes}")
        return self

    def tier_of(self, dose: float) -> str:
        """The tier holding `dose`: above the previous cut point, up to and including its own."""
        for tier in self.tiers:
            if tier.max is None or dose <= tier.max:
                return tier.label
        raise AssertionError("unreachable: the last tier is unbounded")


class DoseResponseSpec(_Model):
    """When a dose-response meta-regression is attempted: the fewest studies with a known arm
    dose, and the fewest distinct daily doses, within one indication, outcome and route."""

    min_studies: int = Field(ge=3)
    min_doses: int = Field(ge=2)


class SideEffectRow(_Model):
    row: str
    outcomes: list[str]
    # Outcomes that name the effect but count something other than its incidence (people who
    # stopped because of it): listed as signals with their counts, never as a frequency.
    signal_outcomes: list[str] = Field(default_factory=list)
    # Outcomes that say how the effect resolved (recovery on stopping, on reintroduction).
    reversibility_outcomes: list[str] = Field(default_factory=list)


class DosageRow(_Model):
    row: str
    formulation: str
    compare: Literal["recommended", "studied", "populations"]


class InteractionSpec(_Model):
    """An interaction and where its evidence lies in the data: the outcome names that measure it
    (study_effects.csv, outcomes.csv) and further studies that report it. `description` is used
    for an interaction the article's table does not print."""

    row: str
    description: str = ""
    outcomes: list[str] = Field(default_factory=list)
    studies: list[str] = Field(default_factory=list)


class ClaimEffect(_Model):
    """A physiological effect the review may assert (e.g. that the drug raises a secretion).
    A text claim matching `claim` is audited on the studies whose text (title, population, notes,
    reported effects) reports the effect one way: `up` (more) or `down` (none or less); a study
    matching both says neither. `kind` orders the verdict like a claim of that kind."""

    effect: str = Field(min_length=1)
    kind: str = Field(min_length=1)
    claim: Pattern
    up: Pattern
    down: Pattern


class ClaimPopulation(_Model):
    """A population the review may single out: a claim matching `claim` asserts a benefit there
    and is judged on the studies whose `population` text matches `studies`."""

    population: str = Field(min_length=1)
    claim: Pattern
    studies: Pattern


class ClaimsAudit(_Model):
    """The claims audit's vocabulary for this protocol's questions. The rule set's `claims`
    section holds the verdict logic and the words any review uses; what is specific to this
    drug's questions (its effects, the populations its review singles out, the words of its
    indications and side effects) is here, so a second drug brings its own."""

    effects: list[ClaimEffect] = Field(default_factory=list)
    populations: list[ClaimPopulation] = Field(default_factory=list)
    # Kind (one of the rule set's `claims.kinds`) → further words that give a text claim that
    # kind, tried with the rule set's own words for it, in the rule set's order.
    kind_words: dict[str, Pattern] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> ClaimsAudit:
        if dupes := _repeated(e.effect for e in self.effects):
            raise ValueError(f"effects repeat: {dupes}")
        if dupes := _repeated(p.population for p in self.populations):
            raise ValueError(f"populations repeat: {dupes}")
        return self


class RatingSpec(_Model):
    rule_set: DataFile
    rule_set_version: str
    model: dict[str, str] = Field(default_factory=lambda: {"method": "REML", "test": "knha"})


class SmallK(_Model):
    """One interval rule for small pools, used by every figure, table and rating reason.

    `test` is the test of pools with k >= 3 (metafor's "adhoc" keeps Knapp-Hartung from giving
    an interval narrower than the z interval); `k2_test` decides pools of exactly two studies,
    where Knapp-Hartung's t with 1 df gives intervals too wide to inform anyone.
    """

    test: Literal["z", "knha", "adhoc"] = "adhoc"
    k2_test: Literal["z", "knha", "adhoc"] = "z"

    def test_for(self, k: int) -> str:
        if k < 2:
            return "z"
        return self.k2_test if k == 2 else self.test


class Crossover(_Model):
    """How crossover trials count once (Cochrane Handbook 23.2): without within-patient data,
    both periods' arms are analysed as paired with this assumed within-patient correlation,
    and a sensitivity analysis treats them as parallel groups of half their size."""

    correlation: float = Field(default=0.5, ge=0.0, lt=1.0)


class ProtocolFiles(_Model):
    """Input files, relative to the data folder (checked again, symlinks resolved, when read)."""

    studies: DataFile = "studies.csv"
    outcomes: DataFile = "outcomes.csv"
    study_effects: DataFile = "study_effects.csv"
    published_syntheses: DataFile = "published_syntheses.csv"
    dosing_facts: DataFile = "dosing_facts.csv"
    pubmed_records: DataFile = "pubmed_records.csv"
    missing: DataFile = "missing.csv"
    claims: DataFile | None = None
    citations: DataFile | None = None
    # Per-trial risk-of-bias judgements; without it the pools simply have none.
    risk_of_bias: DataFile | None = None
    # Hosts whose pages are mirrors, aggregators or AI-generated: marked in the references.
    source_hosts: DataFile | None = None
    # Screening decisions (evidence.inputs.screening); without it no record counts as screened.
    screening: DataFile | None = None


class ExclusionReason(_Model):
    id: Id
    label: str = Field(min_length=1)


class ScreeningSpec(_Model):
    """The reasons a record or report may be excluded for: the PRISMA flow counts each."""

    exclusion_reasons: list[ExclusionReason] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> ScreeningSpec:
        if dupes := _repeated(r.id for r in self.exclusion_reasons):
            raise ValueError(f"exclusion reason ids repeat: {dupes}")
        return self

    @property
    def reasons(self) -> dict[str, str]:
        return {r.id: r.label for r in self.exclusion_reasons}


class Protocol(_Model):
    protocol_id: Id
    version: str
    title: str
    drug: DrugSpec
    files: ProtocolFiles = Field(default_factory=ProtocolFiles)
    topics: list[Id] = Field(default_factory=list)
    trial_filter: str = ""
    indications: list[Indication]
    dose_tiers: dict[str, RouteTiers]
    # Absent: no dose-response analysis is attempted, and the table says so.
    dose_response: DoseResponseSpec | None = None
    side_effects: list[SideEffectRow] = Field(default_factory=list)
    dosage_rows: list[DosageRow] = Field(default_factory=list)
    rating: RatingSpec
    small_k: SmallK | None = None  # None: the rating model's test for every k (older protocols)
    crossover: Crossover = Field(default_factory=Crossover)
    # An active comparator whose name starts with one of these is usual care, not a drug.
    usual_care_terms: list[str] = Field(default_factory=list)
    # A pooled estimate "moved" between runs when it changes by more than this (analysis scale).
    change_tolerance: float = 0.05
    # Where the data hold each interaction's evidence (see InteractionSpec).
    interactions: list[InteractionSpec] = Field(default_factory=list)
    # The claims audit's words for this drug's questions; absent: only the rule set's generic
    # words link claims to the data, and the audit says which claims it could not link.
    claims_audit: ClaimsAudit | None = None
    screening: ScreeningSpec = Field(default_factory=ScreeningSpec)
    # A study whose PubMed record is retracted leaves every pool, vote count and rating input;
    # false keeps it in (it is still listed as retracted).
    exclude_retracted: bool = True

    @model_validator(mode="after")
    def _unique_ids(self) -> Protocol:
        ids = [i.id for i in self.indications]
        if dupes := _repeated(ids):
            raise ValueError(f"indication ids must be unique, repeated: {dupes}")
        overlap = sorted(set(ids) & set(self.topics))
        if overlap:
            raise ValueError(f"ids are both indications and topics: {overlap}")
        for ind in self.indications:
            if dupes := _repeated(o.id for o in ind.outcomes):
                raise ValueError(f"outcome ids of indication {ind.id} repeat: {dupes}")
            if dupes := _repeated(c.id for c in ind.comparisons):
                raise ValueError(f"comparison ids of indication {ind.id} repeat: {dupes}")
        # Figure files are named `<indication>-<comparison>-<outcome>-<kind>.svg`; no clashes.
        keys = [
            f"{i.id}-{c.id}-{o.id}"
            for i in self.indications
            for c in i.comparison_specs
            for o in i.outcomes
        ]
        if clash := _repeated(keys):
            raise ValueError(f"indication and outcome ids give the same figure name: {clash}")
        if dupes := _repeated(i.row for i in self.interactions):
            raise ValueError(f"interaction rows repeat: {dupes}")
        return self

    @property
    def question_ids(self) -> set[str]:
        """Every value the data's `indication` column may take under this protocol."""
        return {i.id for i in self.indications} | set(self.topics)

    def indication(self, indication_id: str) -> Indication:
        for ind in self.indications:
            if ind.id == indication_id:
                return ind
        raise KeyError(indication_id)


def _shown(value: object) -> str:
    """The offending value, cut short: a whole nested section helps nobody."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def parse_protocol(data: object, source: str = "<protocol>") -> Protocol:
    """The protocol in `data`, checked strictly: each value of its own type (no text for a
    number, no number for text or a flag), finite, in range, known and unique."""
    if not isinstance(data, dict):
        raise ProtocolError(
            f"{source}: expected a mapping of protocol fields, found {_shown(data)}"
        )
    try:
        return Protocol.model_validate(data, strict=True)
    except ValidationError as exc:
        lines = [
            f"{source}: field {'.'.join(str(p) for p in err['loc']) or '(top)'}: "
            f"{str(err['msg']).removeprefix('Value error, ')}"
            + (f" (found {_shown(err.get('input'))})" if err["loc"] else "")
            for err in exc.errors()
        ]
        raise ProtocolError("\n".join(lines)) from None


def load_protocol(path: str | Path) -> Protocol:
    path = Path(path)
    if not path.is_file():
        raise ProtocolError(f"{path}: protocol file not found")
    try:
        data = load_yaml(path)
    except InputFileError as exc:
        raise ProtocolError(str(exc)) from None
    return parse_protocol(data, str(path))
