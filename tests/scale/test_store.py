"""The SQLite store of the PubMed cache: WAL, one writer with readers never blocked, the
per-file migration, the JSONL kept in git."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest

from evidence.pubmed import bulk, store
from evidence.pubmed import cache as c
from evidence.pubmed.parse import parse_records
from evidence.pubmed.records import PubmedRecord
from tests.pubmed import rawfacts as raw
from tests.pubmed.eutils_server import clone_article, efetch_header, fixture_articles

TRIAL = "29768149"  # a real efetch fixture


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


def _dump(folder: Path) -> dict[str, list[tuple]]:
    con = sqlite3.connect(store.store_path(folder))
    try:
        return {
            t: sorted(con.execute(f"SELECT * FROM {t}")) for t in ("records", *store.CHILD_COLUMNS)
        }
    finally:
        con.close()


def _deleting_file(tmp_path: Path, pmids: list[str], deleted: list[str]) -> Path:
    articles = fixture_articles()
    body = (
        efetch_header() + b"\n<PubmedArticleSet>\n"
        + b"\n".join(clone_article(articles[TRIAL], p) for p in pmids)
        + b"\n<DeleteCitation>"
        + b"".join(f'<PMID Version="1">{p}</PMID>'.encode() for p in deleted)
        + b"</DeleteCitation>\n</PubmedArticleSet>\n"
    )  # fmt: skip
    path = tmp_path / "pubmed26n0002.xml"
    path.write_bytes(body)
    return path


def test_a_bulk_import_from_parquet_equals_the_per_record_import(tmp_path: Path) -> None:
    live = _records("live", "2026-11-20")[:2]
    update = _deleting_file(tmp_path, ["90000001", "90000002", "90000001"], ["90000002"])
    files = [raw.BASELINE, *raw.EFETCH[:3], update]
    for folder in (tmp_path / "one", tmp_path / "bulk"):
        c.write_records(folder, live)  # a live record is kept unless --force
    for path in files:
        c.import_file(tmp_path / "one", path, retrieved="2026-11-26")
    report = bulk.import_files(tmp_path / "bulk", files, retrieved="2026-11-26")
    assert not [f.error for f in report.files if f.error]
    assert _dump(tmp_path / "bulk") == _dump(tmp_path / "one")
    assert report.kept == len({r.pmid for r in live} & set(c.cached_pmids(tmp_path / "bulk")))
    assert c.read_record(tmp_path / "bulk", "90000002") is None  # deleted after its record
    assert report.written > 600 and c.read_record(tmp_path / "bulk", "90000001") is not None
    assert [p for p in (tmp_path / "bulk").iterdir() if p.name.startswith(c.STAGING_PREFIX)] == []
    # a second load changes nothing (the deleted record is added and deleted again)
    again = bulk.import_files(tmp_path / "bulk", files, retrieved="2026-11-26")
    assert again.written == len(again.deleted) == 1
    assert _dump(tmp_path / "bulk") == _dump(tmp_path / "one")


def test_delete_citation_removes_stored_records_whatever_their_source(tmp_path: Path) -> None:
    live = _records("live", "2026-11-20")[0]
    c.write_record(tmp_path, live)
    path = _deleting_file(tmp_path, ["90000003"], [live.pmid, "99999998"])
    report = bulk.import_files(tmp_path / "x", [path], retrieved="2026-11-26")
    assert report.deleted == []  # nothing of it was stored there
    report = bulk.import_files(tmp_path, [path], retrieved="2026-11-26")
    assert report.deleted == [live.pmid] and c.read_record(tmp_path, live.pmid) is None
    assert _dump(tmp_path)["mesh"] == [m for m in _dump(tmp_path)["mesh"] if m[0] != int(live.pmid)]


def test_a_file_that_does_not_parse_loads_nothing_and_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(raw.EFETCH[3].read_bytes()[:-300])
    report = bulk.import_files(tmp_path / "c", [broken, raw.EFETCH[0]], retrieved="2026-11-26")
    errors = [f for f in report.files if f.error]
    assert len(errors) == 1 and str(broken) in errors[0].error
    assert c.cached_pmids(tmp_path / "c") == sorted(
        {r.pmid for r in parse_records(raw.EFETCH[0])}, key=int
    )


def test_import_pubmed_on_a_local_dask_cluster(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from evidence.cli import app

    data = tmp_path / "raw"
    result = CliRunner().invoke(
        app,
        ["import-pubmed", str(raw.BASELINE), str(raw.EFETCH[0]), "--workers", "2",
         "--data", str(data), "--processed", str(tmp_path / "p"), "--reports", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "2 file(s) loaded" in result.output
    one = tmp_path / "one"
    for path in (raw.BASELINE, raw.EFETCH[0]):
        c.import_file(one, path, retrieved="2026-11-26")
    assert c.cached_pmids(data / "pubmed") == c.cached_pmids(one)


def test_a_parse_task_writes_its_partition_and_returns_only_counts(tmp_path: Path) -> None:
    """What a Dask worker sends back is a few counts and timings, never the parsed records."""
    import pickle

    bulk.warm()  # what every worker runs before its first task
    result = bulk.parse_to_parquet(str(raw.BASELINE), str(tmp_path / "00000"), "2026-11-26")
    assert not result.error and result.records == 604 and result.deleted == 1
    assert (tmp_path / "00000" / "records.parquet").is_file()
    assert result.cpu > 0 and result.seconds > 0
    assert len(pickle.dumps(result)) < 1_000  # against ~1.3 MB of record JSON in the partition
