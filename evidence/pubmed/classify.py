"""Study design from PubMed indexing, in the project's design vocabulary.

PubMed's publication types and MeSH headings say a lot about design but not everything (a
curated `design` in studies.csv always wins where one exists). The rules go from the most
specific evidence to the least: syntheses and guidance first (a review of animal work is still
a review), then laboratory work, then trials, observational designs and case reports. Rules
match on MeSH UIs, with names as the fallback for sources that carry names only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from evidence.pubmed import vocab as v
from evidence.pubmed.records import PubmedRecord

DESIGNS: tuple[str, ...] = (
    "rct",
    "crossover_rct",
    "nonrandomised_controlled",
    "single_arm",
    "cohort",
    "case_control",
    "case_series",
    "case_report",
    "animal",
    "in_vitro",
    "human_lab",
    "systematic_review",
    "meta_analysis",
    "narrative_review",
    "guideline",
    "drug_label",
    "expert_consensus",
    "other",
)

NO_EVIDENCE = "no publication type or MeSH heading that indicates a design"


@dataclass(frozen=True)
class _Term:
    """A vocabulary entry matched by UI, or by name when the source gave no UI."""

    name: str
    ui: str = ""


def _pt(name: str) -> _Term:
    return _Term(name, v.publication_type_ui(name))


def _mh(name: str) -> _Term:
    return _Term(name, v.mesh_ui(name))


PT_META = (_pt("Meta-Analysis"), _Term("Network Meta-Analysis"))
PT_SYSTEMATIC = (_pt("Systematic Review"),)
PT_GUIDELINE = (_pt("Practice Guideline"), _pt("Guideline"))
PT_CONSENSUS = (
    _pt("Consensus Development Conference"),
    _Term("Consensus Development Conference, NIH"),
    _Term("Consensus Statement"),
)
PT_REVIEW = (_pt("Review"), _Term("Scoping Review"))
PT_VETERINARY = (
    _Term("Randomized Controlled Trial, Veterinary"),
    _Term("Clinical Trial, Veterinary"),
)
PT_RCT = (_pt("Randomized Controlled Trial"), _Term("Equivalence Trial"))
PT_CCT = (_pt("Controlled Clinical Trial"),)
PT_TRIAL = (
    _pt("Clinical Trial"),
    _Term("Clinical Trial, Phase I"),
    _pt("Clinical Trial, Phase II"),
    _pt("Clinical Trial, Phase III"),
    _Term("Clinical Trial, Phase IV"),
    _Term("Pragmatic Clinical Trial"),
    _Term("Adaptive Clinical Trial"),
)
PT_CASE_REPORT = (_pt("Case Reports"),)
PT_OBSERVATIONAL = (_pt("Observational Study"),)
PT_NON_RESEARCH = (_pt("Letter"), _pt("Editorial"), _pt("Comment"), _pt("News"))

MH_CROSSOVER = (_mh("Cross-Over Studies"),)
MH_IN_VITRO = (_mh("In Vitro Techniques"), _mh("Cells, Cultured"))
MH_RANDOM = (_Term("Random Allocation"),)
MH_CONTROL = (_Term("Double-Blind Method"), _Term("Single-Blind Method"), _Term("Placebos"))
MH_CASE_CONTROL = (_mh("Case-Control Studies"),)
MH_COHORT = (
    _mh("Cohort Studies"),
    _mh("Prospective Studies"),
    _Term("Retrospective Studies"),
    _Term("Longitudinal Studies"),
    _mh("Follow-Up Studies"),
)


@dataclass(frozen=True)
class Disagreement:
    """A record whose indexing suggests another design than the curated one."""

    study_id: str
    pmid: str
    curated: str
    pubmed: str
    reason: str


def _hits(pairs: Iterable[tuple[str, str]], terms: Iterable[_Term]) -> list[str]:
    """Names of `terms` present among (name, ui) pairs, matching UIs first, else names."""
    pairs = list(pairs)
    uis = {ui for _, ui in pairs if ui}
    names = {name.casefold() for name, _ in pairs}
    return [t.name for t in terms if (t.ui and t.ui in uis) or t.name.casefold() in names]


def _explain(kind: str, found: list[str]) -> str:
    return f"{kind} " + " + ".join(found)


def classify_design(record: PubmedRecord) -> tuple[str, str]:
    """(design, reason) from the record's publication types and MeSH headings.

    `design` is one of DESIGNS; `reason` names the evidence used. With nothing design-bearing
    the answer is ("other", NO_EVIDENCE).
    """
    pts = [(p.name, p.ui) for p in record.publication_types]
    mesh = [(m.descriptor, m.ui) for m in record.mesh_headings]

    def pt(terms: tuple[_Term, ...]) -> list[str]:
        return _hits(pts, terms)

    def mh(terms: tuple[_Term, ...]) -> list[str]:
        return _hits(mesh, terms)

    if found := pt(PT_META):
        return "meta_analysis", _explain("publication type", found)
    if found := pt(PT_SYSTEMATIC):
        return "systematic_review", _explain("publication type", found)
    if found := pt(PT_GUIDELINE):
        return "guideline", _explain("publication type", found)
    if found := pt(PT_CONSENSUS):
        return "expert_consensus", _explain("publication type", found)
    if found := pt(PT_REVIEW):
        return "narrative_review", _explain("publication type", found)
    if found := mh(MH_IN_VITRO):
        return "in_vitro", _explain("MeSH", found)
    if found := pt(PT_VETERINARY):
        return "animal", _explain("publication type", found)
    if record.animals and not record.humans:
        return "animal", "MeSH check tag Animals without Humans"
    if found := mh(MH_CROSSOVER):
        return "crossover_rct", _explain("MeSH", found)
    if found := pt(PT_RCT):
        return "rct", _explain("publication type", found)
    if found := pt(PT_CCT):
        if random := mh(MH_RANDOM):
            return "rct", _explain("publication type", found) + " with MeSH " + random[0]
        return "nonrandomised_controlled", _explain("publication type", found)
    if found := pt(PT_TRIAL):
        if control := mh(MH_CONTROL + MH_RANDOM):
            return "nonrandomised_controlled", (
                _explain("publication type", found) + " with MeSH " + " + ".join(control)
            )
        return "single_arm", _explain("publication type", found) + " without a control heading"
    if found := mh(MH_CASE_CONTROL):
        return "case_control", _explain("MeSH", found)
    if found := pt(PT_CASE_REPORT):
        return "case_report", _explain("publication type", found)
    if found := mh(MH_COHORT) or pt(PT_OBSERVATIONAL):
        return "cohort", _explain("MeSH/publication type", found)
    if found := pt(PT_NON_RESEARCH):
        return "other", _explain("publication type", found)
    return "other", NO_EVIDENCE


def effective_design(curated: str | None, record: PubmedRecord | None) -> tuple[str, str]:
    """(design, origin): the curated design where there is one, else PubMed's, else empty."""
    if curated:
        return curated, "curated"
    if record is not None:
        design, reason = classify_design(record)
        if reason != NO_EVIDENCE:
            return design, "pubmed"
    return "", ""


def design_disagreements(
    records: Iterable[PubmedRecord], curated: Mapping[str, str], pmid_to_study: Mapping[str, str]
) -> list[Disagreement]:
    """Records whose PubMed design differs from the curated design of their study.

    `curated` maps study_id -> design (studies.csv); a record's study is its own `study_id`
    or, failing that, `pmid_to_study`. Records without design-bearing indexing are skipped:
    silence in PubMed is not a disagreement.
    """
    out: list[Disagreement] = []
    for record in records:
        study_id = record.study_id or pmid_to_study.get(record.pmid, "")
        wanted = curated.get(study_id, "") if study_id else ""
        if not wanted:
            continue
        design, reason = classify_design(record)
        if reason == NO_EVIDENCE or design == wanted:
            continue
        out.append(Disagreement(study_id, record.pmid, wanted, design, reason))
    return sorted(out, key=lambda d: (d.study_id, int(d.pmid)))
