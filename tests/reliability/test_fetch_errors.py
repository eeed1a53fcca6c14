"""Fetch errors raise, retries fire, transient `<ERROR>` payloads are retried, and queued records
left without metadata by a failed fetch are fetched on the next run (issue #15, item 3)."""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from evidence.pubmed import refresh
from evidence.pubmed.cache import cached_pmids, read_record
from evidence.pubmed.client import ClientConfig, EutilsClient, EutilsError, EutilsHTTPError
from evidence.pubmed.ratelimit import RateLimiter
from evidence.pubmed.search import (
    QUEUE_FILE,
    IndicationOutcome,
    IndicationQuery,
    ProtocolSearch,
    QueueRow,
    load_queue,
    write_queue,
)
from tests.pubmed.eutils_server import Fault, StandIn

TODAY = date(2026, 11, 27)
EMAIL = "fetch-errors@example.org"
KEY = "fetcherrorskey0123456789abcdef01234"
BACKEND_FAILED = (
    b'<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult>\n\t<ERROR>Search Backend failed: '
    b"Unable to open connection to #PMQuerySrv?dbaf=pubmed</ERROR>\n</eSearchResult>\n"
)
NO_QUERY = b"<eFetchResult><ERROR>Unable to obtain query #1</ERROR></eFetchResult>"


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


def _client(standin: StandIn, **overrides: object) -> EutilsClient:
    values: dict[str, object] = {
        "base_url": standin.url,
        "email": EMAIL,
        "api_key": KEY,
        "timeout": 2.0,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "max_tries": 4,
        "rate": 50.0,
    }
    values.update(overrides)
    config = ClientConfig(**values)  # type: ignore[arg-type]
    return EutilsClient(config, limiter=RateLimiter(config.effective_rate))


def _pmids(standin: StandIn, count: int = 6) -> list[str]:
    return sorted(standin.state.articles, key=int)[:count]


def _files(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _spec() -> ProtocolSearch:
    return ProtocolSearch("proto", (IndicationQuery("ind", "Indication", "x[ti]"),))


def test_a_500_that_heals_is_retried_and_the_fetch_succeeds(
    standin: StandIn, tmp_path: Path
) -> None:
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=500, times=2))
    pmids = _pmids(standin)
    out = refresh.fetch(_client(standin), tmp_path, pmids, TODAY)
    assert sorted(out.fetched, key=int) == pmids and not out.error
    assert [s.status for s in standin.state.requests("efetch.fcgi")] == [500, 500, 200]
    assert all(read_record(tmp_path, p) is not None for p in pmids)


def test_a_fetch_that_fails_every_time_raises_and_writes_nothing(
    standin: StandIn, tmp_path: Path
) -> None:
    queue = tmp_path / QUEUE_FILE
    write_queue(queue, [QueueRow("12345", "proto", "ind", "2026-11-20")])
    before = _files(tmp_path)
    # The error body quotes the request, key and email included, as NCBI's can.
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=503, times=100, echo=True))
    with pytest.raises(refresh.FetchFailed) as caught:
        refresh.fetch(_client(standin), tmp_path, _pmids(standin), TODAY)
    assert isinstance(caught.value, RuntimeError)
    assert "gave up after 4 tries" in str(caught.value)
    assert KEY not in str(caught.value) and EMAIL not in str(caught.value)
    assert caught.value.outcome.fetched == [] and caught.value.outcome.error
    copy = pickle.loads(pickle.dumps(caught.value))  # as a task runner hands it back
    assert str(copy) == str(caught.value) and copy.outcome == caught.value.outcome
    assert len(standin.state.requests("efetch.fcgi")) == 4
    assert _files(tmp_path) == before  # no record, no temporary file; the queue as it was


def test_a_failure_part_way_keeps_the_batches_stored_before_it(
    standin: StandIn, tmp_path: Path
) -> None:
    pmids = standin.state.add_clones(250, 75_000_000)
    standin.state.add_fault(
        Fault("status", "efetch.fcgi", status=500, times=100, when_id=pmids[-1])
    )
    with pytest.raises(refresh.FetchFailed) as caught:
        refresh.fetch(_client(standin), tmp_path, pmids, TODAY)
    stored = caught.value.outcome.fetched
    assert sorted(stored, key=int) == pmids[:200]
    assert "200 record(s) stored before it are kept" in str(caught.value)
    assert set(cached_pmids(tmp_path)) == set(pmids[:200])


@pytest.mark.parametrize(
    ("endpoint", "body"), [("esearch.fcgi", BACKEND_FAILED), ("efetch.fcgi", NO_QUERY)]
)
def test_a_transient_error_payload_in_a_200_is_retried(
    standin: StandIn, endpoint: str, body: bytes
) -> None:
    standin.state.add_fault(Fault("payload", endpoint, body=body))
    client = _client(standin)
    pmids = _pmids(standin, 3)
    if endpoint == "esearch.fcgi":
        standin.state.queries["aspirin"] = pmids
        assert client.esearch("aspirin", usehistory=False).ids == tuple(pmids)
    else:
        assert sorted(r.pmid for r in client.fetch(pmids).records) == sorted(pmids)
    assert len(standin.state.requests(endpoint)) == 2


def test_a_transient_error_payload_uses_the_same_attempt_budget(standin: StandIn) -> None:
    standin.state.add_fault(Fault("payload", "esearch.fcgi", body=BACKEND_FAILED, times=100))
    with pytest.raises(EutilsError, match=r"gave up after 3 tries.*Search Backend failed"):
        _client(standin, max_tries=3).esearch("aspirin", usehistory=False)
    assert len(standin.state.requests("esearch.fcgi")) == 3


@pytest.mark.parametrize(
    "body",
    [
        b"<eSearchResult><Count>0</Count><IdList/><ErrorList><PhraseNotFound>abcXYZ"
        b"</PhraseNotFound></ErrorList></eSearchResult>",
        b"<eSearchResult><ERROR>Invalid query: unbalanced parentheses</ERROR></eSearchResult>",
    ],
)
def test_a_permanent_error_payload_raises_at_once(standin: StandIn, body: bytes) -> None:
    standin.state.add_fault(Fault("payload", "esearch.fcgi", body=body, times=100))
    with pytest.raises(EutilsError, match="NCBI reported"):
        _client(standin).esearch("aspirin", usehistory=False)
    assert len(standin.state.requests("esearch.fcgi")) == 1


def test_a_redirect_is_not_followed_outside_the_limiter(standin: StandIn) -> None:
    elsewhere = standin.url + "moved/"
    standin.state.add_fault(Fault("status", "esearch.fcgi", status=302, location=elsewhere))
    with pytest.raises(EutilsHTTPError, match=r"HTTP 302.*redirects are not followed"):
        _client(standin).esearch("aspirin", usehistory=False)
    assert len(standin.state.requests()) == 1


def test_queued_records_without_metadata_are_fetched_next_time_and_gain_title(
    standin: StandIn, data_copy: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "pubmed"
    queued, tonight = _pmids(standin, 2)
    # Last night's fetch failed: the PMID was queued without a title or design.
    write_queue(cache / QUEUE_FILE, [QueueRow(queued, "proto", "ind", "2026-11-26")])
    outcome = IndicationOutcome("ind", "x[ti]", None, TODAY, found=(tonight,), new=(tonight,))
    wanted = refresh.fetch_list(cache, None, [outcome])
    assert wanted == sorted([queued, tonight], key=int)
    assert refresh.fetch_list(cache, cache / QUEUE_FILE, []) == [queued]

    refresh.fetch(_client(standin), cache, wanted, TODAY)
    designs = refresh.classify(cache, [tonight])
    rows = {
        r.pmid: r
        for r in refresh.update_queue(cache, data_copy, _spec(), [outcome], TODAY, designs)
    }
    stored = {r.pmid: r for r in load_queue(cache / QUEUE_FILE)}
    for pmid in (queued, tonight):
        record = read_record(cache, pmid)
        assert record is not None and record.title
        assert rows[pmid].title == stored[pmid].title == record.title
        assert stored[pmid].design and stored[pmid].design_reason
    assert stored[queued].found == "2026-11-26"  # an old row keeps its found date
    assert refresh.fetch_list(cache, None, []) == []  # nothing left to fetch


def test_search_live_with_a_failing_fetch_exits_1_and_the_next_run_fetches_the_queue(
    standin: StandIn, data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from evidence.cli import app
    from evidence.pubmed.search import load_protocol_search

    monkeypatch.setenv("EVIDENCE_EUTILS_URL", standin.url)
    monkeypatch.setenv("NCBI_EMAIL", EMAIL)
    monkeypatch.setenv("NCBI_API_KEY", KEY)
    monkeypatch.setenv("EVIDENCE_EUTILS_TIMEOUT", "2")
    monkeypatch.setenv("EVIDENCE_EUTILS_BACKOFF", "0.01")
    monkeypatch.setenv("EVIDENCE_EUTILS_MAX_TRIES", "2")
    spec = load_protocol_search(data_copy / "protocols" / "baclofen.yaml")
    (first,) = _pmids(standin, 1)
    for query in spec.queries:
        standin.state.queries[query.term] = [first]
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=500, times=100, echo=True))
    args = ["search", "--protocol", "baclofen", "--live", "--data", str(data_copy)]
    args += ["--processed", str(tmp_path / "p"), "--reports", str(tmp_path / "r")]
    runner = CliRunner()

    failed = runner.invoke(app, args)
    assert failed.exit_code == 1
    lines = [line for line in failed.stderr.splitlines() if "fetching" in line]
    assert len(lines) == 1 and "failed" in lines[0] and "queued" in lines[0]
    assert KEY not in failed.output and EMAIL not in failed.output
    cache = data_copy / "pubmed"
    assert read_record(cache, first) is None
    assert {(r.pmid, r.title) for r in load_queue(cache / QUEUE_FILE)} == {(first, "")}

    # The server heals. The next night's window finds nothing new (the record's Entrez date
    # is before it), yet the queued record is fetched and its row filled in.
    standin.state.faults.clear()
    before = len(standin.state.requests("efetch.fcgi"))
    healed = runner.invoke(app, args)
    assert healed.exit_code == 0, healed.output
    assert len(standin.state.requests("efetch.fcgi")) == before + 1
    record = read_record(cache, first)
    rows = load_queue(cache / QUEUE_FILE)  # one row per indication that found it
    assert record is not None and record.title and rows
    assert all((r.pmid, r.title) == (first, record.title) and r.design for r in rows)
