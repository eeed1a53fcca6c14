"""Snapshot seeding: one record per curated study with a PMID, byte-identical on reruns."""

from __future__ import annotations

import csv
from pathlib import Path

from evidence.pubmed import store
from evidence.pubmed.cache import iter_cached, write_records
from evidence.pubmed.snapshot import known_pmids, snapshot_records


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_records_come_from_the_tables(data_copy: Path) -> None:
    studies = _rows(data_copy / "studies.csv")
    pages = {r["study_id"]: r for r in _rows(data_copy / "pubmed_records.csv") if r["pmid"]}
    records, unfilled = snapshot_records(data_copy, "2031-01-02")
    by_study = {r.study_id: r for r in records}
    expected_pmids = set()
    for study in studies:
        pmid = study["pmid"] or pages.get(study["study_id"], {}).get("pmid", "")
        if not pmid:
            continue
        expected_pmids.add(pmid)
        record = by_study.get(study["study_id"])
        if record is None:  # a second study naming the same PMID
            assert pmid in {r.pmid for r in records}
            continue
        page = (
            pages.get(study["study_id"])
            if pages.get(study["study_id"], {}).get("pmid") == pmid
            else None
        )
        assert record.pmid == pmid
        assert record.source == "snapshot" and record.retrieved == "2031-01-02"
        assert record.title == ((page or {}).get("title") or study["title"])
        assert record.doi == ((page or {}).get("doi") or study["doi"])
        if page:
            assert record.source_url == page["source_url"]
            names = [n.strip() for n in page["publication_types"].split(";") if n.strip()]
            assert list(record.publication_type_names) == names
            assert record.humans == {"true": True, "false": False}.get(page["humans"])
    assert {r.pmid for r in records} == expected_pmids == known_pmids(data_copy) & expected_pmids
    no_pmid = {s["study_id"] for s in studies} - {
        s["study_id"] for s in studies if s["pmid"] or pages.get(s["study_id"])
    }
    assert {u.study_id for u in unfilled} == no_pmid


def test_seeding_twice_gives_the_same_bytes(data_copy: Path, tmp_path: Path) -> None:
    records, _ = snapshot_records(data_copy)
    first, second = tmp_path / "a", tmp_path / "b"
    write_records(first, records)
    write_records(second, snapshot_records(data_copy)[0])
    for folder in (first, second):
        with store.connect(folder) as con:
            store.export_jsonl(folder, con)
    assert store.jsonl_path(first).read_bytes() == store.jsonl_path(second).read_bytes()
    assert [r.pmid for r in iter_cached(first)] == sorted((r.pmid for r in records), key=int)
    assert all(r.retrieved == "2026-11-25" for r in iter_cached(first))
