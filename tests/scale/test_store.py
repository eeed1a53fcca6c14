"""The SQLite store of the PubMed cache: WAL, one writer with readers never blocked, the
per-file migration, the JSONL kept in git."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from evidence.pubmed import cache as c
from evidence.pubmed import store
from evidence.pubmed.parse import parse_records
from evidence.pubmed.records import PubmedRecord
from tests.pubmed import rawfacts as raw


def _records(source: str = "file", retrieved: str = "2026-11-26") -> list[PubmedRecord]:
    return [r.with_provenance(source, retrieved) for p in raw.EFETCH[:4] for r in parse_records(p)]


def test_the_store_is_sqlite_in_wal_mode(tmp_path: Path) -> None:
    c.write_records(tmp_path, _records())
    con = sqlite3.connect(store.store_path(tmp_path))
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        indexes = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert set(store.INDEXES) <= indexes
        assert con.execute("SELECT count(*) FROM mesh").fetchone()[0] > 0
        assert con.execute("SELECT count(*) FROM publication_types").fetchone()[0] > 0
    finally:
        con.close()


def test_a_reader_is_not_blocked_by_a_writer_and_writers_take_turns(tmp_path: Path) -> None:
    old = _records("snapshot", "2026-11-25")[0]
    c.write_record(tmp_path, old)
    new = old.with_provenance("live", "2026-11-27")
    writer = sqlite3.connect(store.store_path(tmp_path), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute(
        "UPDATE records SET data = ?, source = 'live' WHERE pmid = ?",
        (store.record_text(new), int(old.pmid)),
    )
    seen: list[PubmedRecord | None] = []
    reader = threading.Thread(target=lambda: seen.append(c.read_record(tmp_path, old.pmid)))
    reader.start()
    reader.join(timeout=30)
    alive = reader.is_alive()
    # a second writer must wait for the first: without waiting it is told the store is locked
    impatient = sqlite3.connect(store.store_path(tmp_path), timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        impatient.execute("BEGIN IMMEDIATE")
    writer.execute("COMMIT")
    impatient.execute("BEGIN IMMEDIATE")  # now it may
    impatient.execute("ROLLBACK")
    impatient.close()
    writer.close()
    assert not alive and seen == [old]  # the committed record, while the write was open
    assert c.read_record(tmp_path, old.pmid) == new


def _legacy(folder: Path, records: list[PubmedRecord]) -> None:
    """The former cache: one indented JSON file per PMID."""
    (folder / store.LEGACY_DIR).mkdir(parents=True)
    for r in records:
        text = json.dumps(r.to_dict(), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        (folder / store.LEGACY_DIR / f"{r.pmid}.json").write_text(text, encoding="utf-8")


def test_a_per_file_cache_is_migrated_on_first_use(tmp_path: Path) -> None:
    records = _records("snapshot", "2026-11-25")
    _legacy(tmp_path, records)
    assert c.read_record(tmp_path, records[0].pmid) == records[0]
    assert not (tmp_path / store.LEGACY_DIR).exists()
    pmids = sorted({r.pmid for r in records}, key=int)
    assert c.cached_pmids(tmp_path) == pmids
    lines = store.jsonl_path(tmp_path).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["pmid"] for line in lines] == pmids
    assert {r.pmid: r for r in records} == {r.pmid: r for r in c.iter_cached(tmp_path)}


def test_a_bad_per_file_record_stops_the_migration_and_removes_nothing(tmp_path: Path) -> None:
    _legacy(tmp_path, _records("snapshot", "2026-11-25"))
    bad = tmp_path / store.LEGACY_DIR / "123.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=str(bad)):
        c.read_record(tmp_path, "123")
    assert bad.is_file() and len(list((tmp_path / store.LEGACY_DIR).iterdir())) > 1
    assert not store.jsonl_path(tmp_path).exists()


def test_the_jsonl_round_trip_is_byte_stable_and_sorted(tmp_path: Path) -> None:
    records = _records()
    c.write_records(tmp_path, reversed(records))
    with store.connect(tmp_path) as con:
        store.export_jsonl(tmp_path, con)
    first = store.jsonl_path(tmp_path).read_bytes()
    pmids = [json.loads(line)["pmid"] for line in first.splitlines()]
    assert pmids == sorted(pmids, key=int) and len(pmids) == len({r.pmid for r in records})
    store.remove_store(tmp_path)  # a fresh clone: the store is rebuilt from the JSONL
    assert c.cached_pmids(tmp_path) == pmids
    with store.connect(tmp_path) as con:
        store.export_jsonl(tmp_path, con)
    assert store.jsonl_path(tmp_path).read_bytes() == first


def test_a_changed_jsonl_is_loaded_again_and_local_fetches_stay(tmp_path: Path) -> None:
    records = _records("snapshot", "2026-11-25")
    c.write_records(tmp_path, records)
    with store.connect(tmp_path) as con:
        store.export_jsonl(tmp_path, con)
    first, second, third = sorted({r.pmid for r in records}, key=int)[:3]
    live = c.read_record(tmp_path, second).with_provenance("live", "2026-11-27")
    c.write_record(tmp_path, live)  # fetched here, not exported
    # a pull brings a JSONL with one title changed and one record gone
    path = store.jsonl_path(tmp_path)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows:
        if row["pmid"] in (first, second):
            row["title"] = "Corrected title"
    rows = [row for row in rows if row["pmid"] != third]
    path.write_text(
        "".join(json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in rows),
        encoding="utf-8",
    )
    assert c.read_record(tmp_path, first).title == "Corrected title"
    assert c.read_record(tmp_path, second) == live  # the newer live record stays
    assert c.read_record(tmp_path, third) is None  # gone from the JSONL, gone from the store


def test_reading_an_empty_folder_creates_nothing(tmp_path: Path) -> None:
    assert c.read_record(tmp_path, "123") is None
    assert c.pmids_to_fetch(tmp_path, ["1", "2"]) == ["1", "2"]
    assert c.cached_pmids(tmp_path) == [] and list(tmp_path.iterdir()) == []


def test_cached_since_and_doi_queries_use_the_columns(tmp_path: Path) -> None:
    older = _records("file", "2026-11-20")
    c.write_records(tmp_path, older[:3])
    c.write_records(tmp_path, [r.with_provenance("live", "2026-11-26") for r in older[3:]])
    with store.connect(tmp_path) as con:
        since = store.retrieved_since(con, "2026-11-25")
        plan = " ".join(
            str(r)
            for r in con.execute(
                "EXPLAIN QUERY PLAN SELECT pmid FROM records WHERE retrieved >= ?", ("x",)
            )
        )
    assert since == sorted({r.pmid for r in older[3:]}, key=int)
    assert "records_retrieved" in plan
