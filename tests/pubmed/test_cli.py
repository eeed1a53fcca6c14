"""The PubMed commands end to end, offline and against the stand-in server."""

from __future__ import annotations

import csv
import hashlib
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed import store
from evidence.pubmed.cache import cached_pmids, iter_cached, read_record
from evidence.pubmed.search import load_protocol_search, load_queue, load_state
from evidence.pubmed.snapshot import known_pmids, snapshot_records
from tests.pubmed import rawfacts as raw
from tests.pubmed.conftest import EMAIL
from tests.pubmed.eutils_server import Fault, StandIn, clone_article

COMMANDS = ["search", "fetch", "seed-cache", "import-pubmed", "records", "resolve", "designs"]
runner = CliRunner()


def _run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def _dirs(data: Path, tmp: Path) -> list[str]:
    return [
        "--data",
        str(data),
        "--processed",
        str(tmp / "processed"),
        "--reports",
        str(tmp / "reports"),
    ]


def _jsonl(cache: Path) -> str:
    with store.connect(cache) as con:
        return store.jsonl_bytes(con).decode("utf-8")


def _digest(cache: Path) -> str:
    """The store's records as the JSONL in git would hold them."""
    with store.connect(cache) as con:
        return hashlib.sha256(store.jsonl_bytes(con)).hexdigest()


@pytest.fixture
def live_env(standin: StandIn, monkeypatch: pytest.MonkeyPatch) -> StandIn:
    monkeypatch.setenv("EVIDENCE_EUTILS_URL", standin.url)
    monkeypatch.setenv("NCBI_EMAIL", EMAIL)
    monkeypatch.setenv("NCBI_API_KEY", "cli-secret-key-77")
    monkeypatch.setenv("EVIDENCE_EUTILS_TIMEOUT", "0.5")
    monkeypatch.setenv("EVIDENCE_EUTILS_BACKOFF", "0.01")
    monkeypatch.setenv("EVIDENCE_EUTILS_MAX_TRIES", "3")
    return standin


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    code, out, _ = _run(command, "--help")
    assert code == 0
    for option in ("--data", "--processed", "--reports"):
        assert option in out


def test_help_does_not_import_the_heavy_modules() -> None:
    code = (
        "import sys, evidence.cli.pubmed_cmds; "
        "print(sorted(m for m in sys.modules if m.startswith(('Bio', 'evidence.pubmed', 'xml'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_seed_cache_and_records_listing(data_copy: Path, tmp_path: Path) -> None:
    code, out, _ = _run("seed-cache", *_dirs(data_copy, tmp_path))
    assert code == 0
    records, unfilled = snapshot_records(data_copy)
    folder = data_copy / "pubmed"
    assert cached_pmids(folder) == sorted((r.pmid for r in records), key=int)
    assert f"{len(unfilled)} stud" in out
    before = _digest(folder)
    assert _run("seed-cache", *_dirs(data_copy, tmp_path))[0] == 0
    assert _digest(folder) == before

    code, out, _ = _run("records", "--format", "json", *_dirs(data_copy, tmp_path))
    listed = json.loads(out)
    assert [r["pmid"] for r in listed] == sorted((r.pmid for r in records), key=int)
    for row in listed:
        assert {
            "pmid",
            "title",
            "year",
            "publication_types",
            "design",
            "source",
            "retrieved",
        } <= set(row)
        assert row["source"] == "snapshot" and row["retrieved"] == "2026-11-25"
    with (data_copy / "studies.csv").open(encoding="utf-8", newline="") as handle:
        curated = {r["study_id"]: r["design"] for r in csv.DictReader(handle)}
    for row in listed:
        if curated.get(row["study_id"]):
            assert row["design"] == curated[row["study_id"]]
    code, out, _ = _run("designs", *_dirs(data_copy, tmp_path))
    assert code == 0 and (tmp_path / "processed" / "pubmed_design_disagreements.csv").is_file()


def test_offline_fetch_seeds_and_lists_what_it_could_not_fill(
    data_copy: Path, tmp_path: Path
) -> None:
    code, out, _ = _run("fetch", "--protocol", "baclofen", *_dirs(data_copy, tmp_path))
    assert code == 0
    assert "No PubMed request was made (offline)" in out
    _, unfilled = snapshot_records(data_copy)
    for item in unfilled:
        assert item.study_id in out
    assert len(list(iter_cached(data_copy / "pubmed"))) == len(known_pmids(data_copy))


def test_live_fetch_replaces_snapshot_records_and_lists_missing(
    live_env: StandIn, data_copy: Path, tmp_path: Path
) -> None:
    _run("seed-cache", *_dirs(data_copy, tmp_path))
    records, _ = snapshot_records(data_copy)
    source = raw.articles(raw.EFETCH[0])[0].encode()
    served = [r.pmid for r in records[:5]]
    for pmid in served:
        live_env.state.articles[pmid] = clone_article(source, pmid)
    gone = records[5].pmid
    wanted = [*served, gone]
    code, out, err = _run(
        "fetch", "--live", "--pmids", ",".join(wanted), *_dirs(data_copy, tmp_path)
    )
    assert code == 0, err
    cache = data_copy / "pubmed"
    for pmid in served:
        record = read_record(cache, pmid)
        assert record is not None and record.source == "live"
        assert record.retrieved == date.today().isoformat()
    assert read_record(cache, gone).source == "snapshot"
    assert f"not returned by NCBI (kept as they were): {gone}" in out
    assert len(live_env.state.requests("efetch.fcgi")) == 1

    # Cached live records are not fetched again unless --refresh.
    code, out, _ = _run("fetch", "--live", "--pmids", ",".join(served), *_dirs(data_copy, tmp_path))
    assert "0 of 5 PMID(s) to fetch" in out and len(live_env.state.requests("efetch.fcgi")) == 1
    _run("fetch", "--live", "--refresh", "--pmids", ",".join(served), *_dirs(data_copy, tmp_path))
    assert len(live_env.state.requests("efetch.fcgi")) == 2

    text = out + err + _jsonl(cache)
    assert "cli-secret-key-77" not in text and EMAIL not in text


def test_live_fetch_failure_keeps_finished_batches_and_resumes(
    live_env: StandIn, data_copy: Path, tmp_path: Path
) -> None:
    pmids = live_env.state.add_clones(420, 74_000_000)
    live_env.state.add_fault(
        Fault("status", "efetch.fcgi", status=502, times=10, when_id=pmids[400])
    )
    args = ["fetch", "--live", "--pmids", ",".join(pmids), *_dirs(data_copy, tmp_path)]
    code, _, err = _run(*args)
    assert code == 1 and "rerun to resume" in err
    cache = data_copy / "pubmed"
    assert cached_pmids(cache) == sorted(pmids[:400], key=int)
    live_env.state.faults.clear()
    code, out, _ = _run(*args)
    assert code == 0 and "20 of 420 PMID(s) to fetch" in out
    assert all(read_record(cache, p) is not None for p in pmids)


def test_live_needs_an_email(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NCBI_EMAIL", raising=False)
    code, _, err = _run("fetch", "--live", "--pmids", "1", *_dirs(data_copy, tmp_path))
    assert code == 1 and "NCBI_EMAIL" in err


def test_import_pubmed_files(data_copy: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_bytes(raw.EFETCH[2].read_bytes()[:5000])
    files = [str(p) for p in [*raw.EFETCH, raw.BASELINE, *raw.MEDLINE_TEXT]]
    code, _, err = _run("import-pubmed", *files, str(broken), *_dirs(data_copy, tmp_path))
    assert code == 1 and str(broken) in err
    cached = list(iter_cached(data_copy / "pubmed"))
    expected = {
        p for f in [*raw.EFETCH, raw.BASELINE, *raw.MEDLINE_TEXT] for p in raw.record_pmids(f)
    }
    assert {r.pmid for r in cached} == expected
    assert {r.source for r in cached} == {"file"}


def test_search_offline_says_no_search_was_made(data_copy: Path, tmp_path: Path) -> None:
    code, out, _ = _run("search", "--protocol", "baclofen", *_dirs(data_copy, tmp_path))
    assert code == 0
    assert "No PubMed search was made" in out and "never" in out
    assert not (data_copy / "pubmed" / "queue.csv").exists()


def test_search_live_queues_new_pmids_and_advances_the_state(
    live_env: StandIn, data_copy: Path, tmp_path: Path
) -> None:
    spec = load_protocol_search(data_copy / "protocols" / "baclofen.yaml")
    fixture_pmids = [raw.pmid_of(a) for p in raw.EFETCH for a in raw.articles(p)]
    for i, query in enumerate(spec.queries):
        live_env.state.queries[query.term] = fixture_pmids[i : i + 4]
    code, out, err = _run("search", "--protocol", "baclofen", "--live", *_dirs(data_copy, tmp_path))
    assert code == 0, err
    cache = data_copy / "pubmed"
    rows = load_queue(cache / "queue.csv")
    expected = {(q.id, p) for i, q in enumerate(spec.queries) for p in fixture_pmids[i : i + 4]}
    assert {(r.indication, r.pmid) for r in rows} == expected
    assert all(r.title == read_record(cache, r.pmid).title for r in rows)
    state = load_state(cache / "search_state.json")
    assert {k: v["last_search"] for k, v in state[spec.protocol_id].items()} == {
        q.id: date.today().isoformat() for q in spec.queries
    }
    searches = live_env.state.requests("esearch.fcgi")
    assert len(searches) == len(spec.queries)
    assert all(s.params["datetype"] == "edat" for s in searches)
    fetches = live_env.state.requests("efetch.fcgi")
    assert len(fetches) == 1  # all new records in one batch

    code, out, _ = _run(
        "search", "--protocol", "baclofen", "--format", "json", *_dirs(data_copy, tmp_path)
    )
    shown = json.loads(out)
    assert shown["searched"] is False
    assert set(shown["last_live_search"].values()) == {date.today().isoformat()}
    assert len(shown["queue"]) == len(rows)


def _keep_studies(data: Path, count: int) -> None:
    """Cut studies.csv to its header and the first `count` rows (keeps the suite fast)."""
    path = data / "studies.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle, lineterminator="\r\n").writerows(rows[: count + 1])


def test_resolve_offline_and_live(live_env: StandIn, data_copy: Path, tmp_path: Path) -> None:
    _keep_studies(data_copy, 12)
    code, out, _ = _run("resolve", "--format", "json", *_dirs(data_copy, tmp_path))
    offline = json.loads(out)
    assert code == 0 and offline and {r["status"] for r in offline} <= {"offline", "unresolvable"}
    assert not (data_copy / "pubmed" / "resolutions.csv").exists()
    code, out, err = _run("resolve", "--live", "--format", "json", *_dirs(data_copy, tmp_path))
    assert code == 0, err
    live = json.loads(out)
    assert [r["study_id"] for r in live] == [r["study_id"] for r in offline]
    assert {r["status"] for r in live} <= {
        "missing",
        "unresolvable",
        "matched",
        "ambiguous",
        "error",
    }
    written = (data_copy / "pubmed" / "resolutions.csv").read_text(encoding="utf-8")
    assert written.splitlines()[0].startswith("study_id,status,method,pmid")
    assert len(written.splitlines()) == len(live) + 1
