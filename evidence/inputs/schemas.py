"""Row schemas of the input tables: types, vocabularies and units, as pydantic models.

Values arrive as the text of a CSV cell; an empty cell means unknown (None). Numbers keep their
printed text in the tables; these models only decide whether the text is acceptable.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict

from evidence.inputs.textfile import parse_number
from evidence.safepath import PMID_RE

DESIGNS = (
    "rct crossover_rct nonrandomised_controlled single_arm cohort case_control case_series "
    "case_report animal in_vitro human_lab systematic_review meta_analysis narrative_review "
    "guideline drug_label expert_consensus other"
).split()
SPECIES = ("human", "animal", "in_vitro")
ROUTES = ("oral", "intrathecal", "intravenous", "intracerebral", "other")
DOSE_UNITS = ("mg/day", "ug/day", "mg/kg")
ARM_ROLES = ("treatment", "control", "single")
# `favours_<drug>` names the protocol's drug (checked across files); the others are fixed.
DIRECTIONS = ("favours_control", "no_difference", "unclear")
FAVOURS_DRUG_RE = re.compile(r"^favours_[a-z0-9_]+$")
CONFIDENCE = ("high", "medium", "low")
FORMULATIONS = ("oral", "intrathecal")
# Risk of bias (RoB 2): the judgement of each domain and overall, and the signals a page states.
ROB_JUDGEMENTS = ("low", "some_concerns", "high", "no_information")
ROB_DOMAINS = (
    "domain_randomisation",
    "domain_deviations",
    "domain_missing_data",
    "domain_measurement",
    "domain_selection",
)
BLINDING = ("double_blind", "single_blind", "open_label")
ANALYSIS_POPULATIONS = ("itt", "modified_itt", "per_protocol", "completers")
YES_NO = ("yes", "no")
# RoB 2 is a tool for randomised trials: a judgement belongs to a study of these designs.
RANDOMISED_DESIGNS = ("rct", "crossover_rct")
# Which dose column / unit each route may carry.
ROUTE_DOSE_FIELD = {
    "oral": "dose_mg_day",
    "intravenous": "dose_mg_day",
    "intrathecal": "dose_ug_day",
}
ROUTE_DOSE_UNITS = {
    "oral": {"mg/day", "mg/kg"},
    "intravenous": {"mg/day", "mg/kg"},
    "intrathecal": {"ug/day"},
    "intracerebral": {"ug/day", "mg/kg"},
    "other": {"mg/day", "ug/day", "mg/kg"},
}

# A DOI: `10.`, a registrant code of 4-9 digits, `/`, then a suffix of Crossref's recommended
# characters (letters, digits and - . _ ; ( ) / :), which covers nearly every DOI registered and
# every one in the bundled data. Whitespace, quotes, < > [ ] { } | \ ^ ` # ? % and non-ASCII
# are refused: they break links in HTML and Markdown, and a DOI needing them is rare enough to
# be checked by hand (e.g. old Wiley SICI DOIs with < >).
DOI_RE = re.compile(r"^10\.[0-9]{4,9}/[A-Za-z0-9\-._;()/:]+$")
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# An http(s) URL of plain shape: a host name (a trailing dot allowed) or IPv4 address (no user
# name, no IPv6), an optional port, then path, query and fragment in the characters RFC 3986
# allows, `%` only as `%XX`. Anything else (javascript:, data:, spaces, quotes, < >) is refused.
_URL_CHAR = r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})"
URL_RE = re.compile(
    rf"^https?://[A-Za-z0-9](?:[A-Za-z0-9\-.]*[A-Za-z0-9])?\.?(?::[0-9]{{1,5}})?"
    rf"(?:/{_URL_CHAR}*)?(?:\?(?:{_URL_CHAR}|\?)*)?(?:#(?:{_URL_CHAR}|\?)*)?$"
)


def is_doi(value: object) -> bool:
    return isinstance(value, str) and DOI_RE.fullmatch(value) is not None


def is_http_url(value: object) -> bool:
    """True for a URL a reader can safely follow: http(s) only, and of the shape above."""
    return isinstance(value, str) and URL_RE.fullmatch(value) is not None


def _blank(v: Any) -> Any:
    return None if v is None or (isinstance(v, str) and v.strip() == "") else v


def _num(kind: type, lo: float | None = None, lo_open: bool = False, hi: float | None = None):
    """Parse a number from text (`textfile.parse_number`, the one parser a run uses too), with
    bounds, giving the expectation in the error."""
    bound = ""
    if lo is not None:
        bound = f" {'>' if lo_open else '≥'} {lo:g}"
    if hi is not None:
        bound += f"{' and' if bound else ''} ≤ {hi:g}"
    what = ("an integer" if kind is int else "a number") + bound

    def parse(v: Any) -> Any:
        v = _blank(v)
        if v is None:
            return None
        if not isinstance(v, str):
            raise ValueError(f"expected {what}")
        try:
            x = parse_number(v, integer=kind is int)
        except ValueError as exc:
            raise ValueError(f"expected {what}: {exc}") from None
        if lo is not None and (x <= lo if lo_open else x < lo):
            raise ValueError(f"expected {what}")
        if hi is not None and x > hi:
            raise ValueError(f"expected {what}")
        return x

    return BeforeValidator(parse)


def _vocab(values: tuple[str, ...] | list[str], what: str = "one of") -> BeforeValidator:
    def parse(v: Any) -> Any:
        v = _blank(v)
        if v is None or v in values:
            return v
        raise ValueError(f"expected {what}: {', '.join(values)}")

    return BeforeValidator(parse)


def _pattern(rx: re.Pattern[str], what: str, split: bool = False) -> BeforeValidator:
    def parse(v: Any) -> Any:
        v = _blank(v)
        if v is None:
            return None
        parts = str(v).split() if split else [str(v)]
        for part in parts:
            if not rx.fullmatch(part):
                raise ValueError(f"expected {what}")
        return v

    return BeforeValidator(parse)


def _required(v: Any) -> Any:
    if _blank(v) is None:
        raise ValueError("expected a value (the field is required)")
    return v


def _bool(v: Any) -> Any:
    v = _blank(v)
    if v is None or v in ("true", "false"):
        return v
    raise ValueError("expected true or false")


def _direction(v: Any) -> Any:
    if v in DIRECTIONS or (isinstance(v, str) and FAVOURS_DRUG_RE.fullmatch(v)):
        return v
    raise ValueError(f"expected favours_<drug> or one of: {', '.join(DIRECTIONS)}")


def _comparator(v: Any) -> Any:
    v = _blank(v)
    if (
        v is None
        or v in ("placebo", "none")
        or (isinstance(v, str) and re.fullmatch(r"active:.+", v))
    ):
        return v
    raise ValueError("expected placebo, none or active:NAME")


Text = Annotated[str | None, BeforeValidator(_blank)]
Req = Annotated[str, BeforeValidator(_required)]
Id = Annotated[
    str, _pattern(ID_RE, "a lower-case id of letters, digits and _"), BeforeValidator(_required)
]
Pmid = Annotated[str | None, _pattern(PMID_RE, "a PMID: digits only, no leading zero")]
Doi = Annotated[
    str | None,
    _pattern(
        DOI_RE,
        "a DOI such as 10.1000/xyz (no URL prefix; suffix of letters, digits and - . _ ; ( ) / :)",
    ),
]
Urls = Annotated[
    str,
    _pattern(
        URL_RE,
        "space-separated http(s) URLs (host name, then characters RFC 3986 allows)",
        split=True,
    ),
    BeforeValidator(_required),
]
Year = Annotated[int | None, _num(int, 1900, hi=2100)]
PosInt = Annotated[int | None, _num(int, 0, lo_open=True)]
NonNegInt = Annotated[int | None, _num(int, 0)]
NonNeg = Annotated[float | None, _num(float, 0)]
Pos = Annotated[float | None, _num(float, 0, lo_open=True)]
Number = Annotated[float | None, _num(float)]
Pct = Annotated[float | None, _num(float, 0, hi=100)]
Bool = Annotated[str | None, BeforeValidator(_bool)]
ReqBool = Annotated[str, BeforeValidator(_bool), BeforeValidator(_required)]


def vocab(values: tuple[str, ...] | list[str], required: bool = False) -> Any:
    if required:
        return Annotated[str, _vocab(values), BeforeValidator(_required)]
    return Annotated[str | None, _vocab(values)]


class Row(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class StudyRow(Row):
    study_id: Id
    first_author: Text = None
    year: Year = None
    title: Text = None
    journal: Text = None
    pmid: Pmid = None
    doi: Doi = None
    registration: Text = None
    design: vocab(DESIGNS, required=True)  # type: ignore[valid-type]
    species: vocab(SPECIES)  # type: ignore[valid-type]
    indication: Req  # checked against the protocol's questions
    population: Text = None
    route: vocab(ROUTES)  # type: ignore[valid-type]
    comparator: Annotated[str | None, BeforeValidator(_comparator)] = None
    n_total: NonNegInt = None  # 0 for trials withdrawn before enrolment
    dose_min: NonNeg = None
    dose_max: NonNeg = None
    dose_unit: vocab(DOSE_UNITS)  # type: ignore[valid-type]
    duration_weeks: Pos = None
    country: Text = None
    source_urls: Urls
    confidence: vocab(CONFIDENCE)  # type: ignore[valid-type]
    notes: Text = None


class OutcomeRow(Row):
    row_id: Req
    study_id: Id
    outcome: Id
    outcome_definition: Text = None
    timepoint_weeks: NonNeg = None
    arm: Req
    arm_role: vocab(ARM_ROLES, required=True)  # type: ignore[valid-type]
    dose_mg_day: Pos = None
    dose_ug_day: Pos = None
    n: PosInt = None
    events: NonNegInt = None
    mean: Number = None
    sd: NonNeg = None
    se: NonNeg = None
    pct: Pct = None
    derived: ReqBool
    derived_how: Text = None
    source_url: Urls
    note: Text = None


class StudyEffectRow(Row):
    row_id: Req
    study_id: Id
    outcome: Id
    measure: Text = None  # empty for conclusions reported without a statistic
    estimate: Number = None
    ci_low: Number = None
    ci_high: Number = None
    p_value: Text = None
    direction: Annotated[str, BeforeValidator(_direction), BeforeValidator(_required)]
    text_seen: Text = None
    source_url: Urls


class PublishedSynthesisRow(Row):
    row_id: Req
    review_id: Id
    first_author: Text = None
    year: Year = None
    journal: Text = None
    pmid: Pmid = None
    doi: Doi = None
    question: Text = None
    outcome: Text = None
    measure: Text = None
    estimate: Number = None
    ci_low: Number = None
    ci_high: Number = None
    k: PosInt = None
    participants: PosInt = None
    i2: Pct = None
    model: Text = None
    subgroup: Text = None
    source_url: Urls
    notes: Text = None


class DosingFactRow(Row):
    row_id: Req
    formulation: vocab(FORMULATIONS, required=True)  # type: ignore[valid-type]
    population: Text = None
    statement: Req
    value_min: Number = None
    value_max: Number = None
    unit: Text = None
    source_url: Urls
    notes: Text = None


class PubmedRecordRow(Row):
    study_id: Id
    pmid: Pmid = None  # empty where the page showed the record but not its PMID
    title: Text = None
    journal: Text = None
    year: Year = None
    doi: Doi = None
    publication_types: Text = None
    mesh_headings: Text = None
    humans: Bool = None
    animals: Bool = None
    source_url: Urls
    note: Text = None


class MissingRow(Row):
    item: Req
    what_is_missing: Req
    where_looked_note: Text = None


class RiskOfBiasRow(Row):
    study_id: Id
    randomisation_method: Text = None
    allocation_concealment: Text = None
    blinding: vocab(BLINDING)  # type: ignore[valid-type]
    analysis_population: vocab(ANALYSIS_POPULATIONS)  # type: ignore[valid-type]
    attrition: Text = None
    registration: Text = None
    industry_funding: vocab(YES_NO)  # type: ignore[valid-type]
    domain_randomisation: vocab(ROB_JUDGEMENTS, required=True)  # type: ignore[valid-type]
    domain_deviations: vocab(ROB_JUDGEMENTS, required=True)  # type: ignore[valid-type]
    domain_missing_data: vocab(ROB_JUDGEMENTS, required=True)  # type: ignore[valid-type]
    domain_measurement: vocab(ROB_JUDGEMENTS, required=True)  # type: ignore[valid-type]
    domain_selection: vocab(ROB_JUDGEMENTS, required=True)  # type: ignore[valid-type]
    overall: vocab(ROB_JUDGEMENTS, required=True)  # type: ignore[valid-type]
    text_seen: Text = None
    source_url: Urls
    note: Text = None


# file key in the protocol → (row model, primary key columns)
TABLES: dict[str, tuple[type[Row], tuple[str, ...]]] = {
    "studies": (StudyRow, ("study_id",)),
    "outcomes": (OutcomeRow, ("row_id",)),
    "study_effects": (StudyEffectRow, ("row_id",)),
    "published_syntheses": (PublishedSynthesisRow, ("row_id",)),
    "dosing_facts": (DosingFactRow, ("row_id",)),
    "pubmed_records": (PubmedRecordRow, ("study_id", "pmid")),
    "missing": (MissingRow, ("item", "what_is_missing")),
    "risk_of_bias": (RiskOfBiasRow, ("study_id",)),  # optional: a protocol may have none
}
