"""The E-utilities client against the stand-in server: etiquette, batching, faults, rate."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest

from evidence.pubmed.cache import cached_pmids, read_record, write_records
from evidence.pubmed.client import (
    ClientConfig,
    EutilsClient,
    EutilsError,
    EutilsQueryError,
)
from evidence.pubmed.ratelimit import RateLimiter, shared_limiter
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.store import STORE_FILE
from tests.pubmed import rawfacts as raw
from tests.pubmed.conftest import EMAIL
from tests.pubmed.eutils_server import Fault, StandIn

Build = Callable[..., EutilsClient]


def _fixture_pmids() -> list[str]:
    return [raw.pmid_of(a) for p in raw.EFETCH for a in raw.articles(p)]


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    """Most request starts inside any half-open window of `window` seconds."""
    times = sorted(times)
    best = 0
    j = 0
    for i, start in enumerate(times):
        while j < len(times) and times[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


def test_every_request_carries_tool_and_email(standin: StandIn, make_client: Build) -> None:
    standin.state.queries["baclofen"] = _fixture_pmids()
    client = make_client()
    client.fetch(_fixture_pmids())
    client.esearch("baclofen")
    seen = standin.state.requests()
    assert len(seen) >= 2
    for request in seen:
        assert request.params["tool"] == "evidence"
        assert request.params["email"] == EMAIL
        assert "api_key" not in request.params


def test_base_url_comes_from_the_environment(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_EUTILS_URL", standin.url)
    monkeypatch.setenv("NCBI_EMAIL", EMAIL)
    monkeypatch.delenv("NCBI_API_KEY", raising=False)
    config = ClientConfig.from_env(rate=50.0)
    assert config.base_url == standin.url
    client = EutilsClient(config, limiter=RateLimiter(50.0))
    records = client.fetch(_fixture_pmids()[:3]).records
    assert len(records) == 3
    assert {s.endpoint for s in standin.state.requests()} == {"efetch.fcgi"}


def test_a_client_needs_an_email() -> None:
    with pytest.raises(EutilsError, match="NCBI_EMAIL"):
        EutilsClient(ClientConfig(email=None))


def test_fixture_records_come_back_parsed(standin: StandIn, make_client: Build) -> None:
    pmids = _fixture_pmids()
    result = make_client().fetch(pmids)
    assert sorted(r.pmid for r in result.records) == sorted(pmids)
    assert result.missing == []
    by_pmid = {r.pmid: r for r in result.records}
    for path in raw.EFETCH:
        for article in raw.articles(path):
            assert by_pmid[raw.pmid_of(article)].title == raw.title(article)


def test_batches_of_at_most_200_ids_by_post(standin: StandIn, make_client: Build) -> None:
    pmids = standin.state.add_clones(450, 70_000_000)
    result = make_client().fetch(pmids)
    assert len(result.records) == 450 and result.missing == []
    fetches = standin.state.requests("efetch.fcgi")
    assert len(fetches) == 3 == result.requests
    assert all(r.method == "POST" for r in fetches)
    sizes = [len(r.params["id"].split(",")) for r in fetches]
    assert sizes == [200, 200, 50]


def test_history_server_mode(standin: StandIn, make_client: Build) -> None:
    pmids = standin.state.add_clones(1000, 71_000_000)
    result = make_client().fetch(pmids, use_history=True)
    assert len(result.records) == 1000 and result.missing == []
    assert [r.endpoint for r in standin.state.requests()] == ["epost.fcgi"] + ["efetch.fcgi"] * 2


def test_a_pmid_ncbi_no_longer_returns_is_missing_not_an_error(
    standin: StandIn, make_client: Build
) -> None:
    pmids = _fixture_pmids()
    gone = pmids[3]
    standin.state.gone.add(gone)
    result = make_client().fetch(pmids)
    assert result.missing == [gone]
    assert sorted(r.pmid for r in result.records) == sorted(set(pmids) - {gone})


def test_429_waits_for_retry_after(standin: StandIn, make_client: Build) -> None:
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=429, retry_after="1"))
    result = make_client().fetch(_fixture_pmids()[:2])
    assert len(result.records) == 2
    first, second = standin.state.requests("efetch.fcgi")
    assert first.status == 429
    assert second.t - first.t >= 0.95


def test_5xx_is_retried_with_backoff(standin: StandIn, make_client: Build) -> None:
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=500))
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=503))
    result = make_client().fetch(_fixture_pmids()[:2])
    assert len(result.records) == 2
    assert [r.status for r in standin.state.requests("efetch.fcgi")] == [500, 503, 200]


def test_a_timeout_is_retried(standin: StandIn, make_client: Build) -> None:
    standin.state.add_fault(Fault("sleep", "efetch.fcgi", seconds=1.0))
    client = make_client(timeout=0.3)
    start = time.monotonic()
    result = client.fetch(_fixture_pmids()[:2])
    assert len(result.records) == 2
    assert len(standin.state.requests("efetch.fcgi")) == 2
    assert time.monotonic() - start < 1.0  # did not wait for the slow answer


def test_non_retryable_http_errors_raise_at_once(standin: StandIn, make_client: Build) -> None:
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=400, times=5))
    with pytest.raises(EutilsError, match="HTTP 400"):
        make_client().fetch(_fixture_pmids()[:2])
    assert len(standin.state.requests()) == 1


def test_an_http_error_quotes_the_start_of_its_body(standin: StandIn, make_client: Build) -> None:
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=400))
    with pytest.raises(EutilsError, match=r"HTTP 400 \(Server error\)"):
        make_client().fetch(_fixture_pmids()[:2])


def test_an_answer_larger_than_the_bound_is_refused(standin: StandIn, make_client: Build) -> None:
    with pytest.raises(EutilsError, match="answer larger than 5000 bytes; refused"):
        make_client(max_response_bytes=5000).fetch(_fixture_pmids())
    assert len(standin.state.requests("efetch.fcgi")) == 1  # the same answer would come again


@pytest.mark.parametrize("kind", ["truncate", "html"])
def test_a_corrupt_answer_is_fetched_again(standin: StandIn, make_client: Build, kind: str) -> None:
    standin.state.add_fault(Fault(kind, "efetch.fcgi"))
    result = make_client().fetch(_fixture_pmids())
    assert len(result.records) == len(_fixture_pmids())
    assert len(standin.state.requests("efetch.fcgi")) == 2


def test_error_payload_in_efetch_raises_without_retry(standin: StandIn, make_client: Build) -> None:
    body = b"<eFetchResult><ERROR>Empty id list - nothing todo</ERROR></eFetchResult>"
    standin.state.add_fault(Fault("payload", "efetch.fcgi", body=body))
    with pytest.raises(EutilsQueryError, match="Empty id list"):
        make_client().fetch(_fixture_pmids()[:1])
    assert len(standin.state.requests()) == 1


def test_esearch_error_and_warning_payloads_are_errors(
    standin: StandIn, make_client: Build
) -> None:
    fixture = raw.FIXTURES / "esearch" / "biopython-esearch8.xml"
    standin.state.add_fault(Fault("payload", "esearch.fcgi", body=fixture.read_bytes()))
    with pytest.raises(EutilsQueryError) as info:
        make_client().esearch("abcXYZ")
    kinds = {kind for kind, _ in info.value.messages}
    assert {"PhraseNotFound", "OutputMessage"} <= kinds
    # The same payload arrives for a term the server does not know.
    with pytest.raises(EutilsQueryError, match="PhraseNotFound"):
        make_client().search("no such phrase", mindate=date(2020, 1, 1), maxdate=date(2020, 2, 1))


def test_an_empty_window_is_zero_results(standin: StandIn, make_client: Build) -> None:
    standin.state.queries["baclofen"] = _fixture_pmids()
    result = make_client().search("baclofen", mindate=date(1700, 1, 1), maxdate=date(1700, 1, 2))
    assert result.ids == () and result.count == 0


def test_unseen_dtd_version_in_live_answers(standin: StandIn, make_client: Build) -> None:
    standin.state.set_doctype("pubmed_270101")
    assert b"pubmed_270101.dtd" in standin.state.header
    result = make_client().fetch(_fixture_pmids())
    assert len(result.records) == len(_fixture_pmids())


def test_search_uses_history_and_entrez_dates(standin: StandIn, make_client: Build) -> None:
    pmids = _fixture_pmids()
    standin.state.queries["baclofen"] = pmids
    days = sorted(standin.state.edat[p] for p in pmids)
    lo, hi = days[2], days[-3]
    result = make_client().search("baclofen", mindate=lo, maxdate=hi)
    expected = {p for p in pmids if lo <= standin.state.edat[p] <= hi}
    assert set(result.ids) == expected and result.count == len(expected)
    (request,) = standin.state.requests("esearch.fcgi")
    assert request.params["usehistory"] == "y"
    assert request.params["datetype"] == "edat"
    assert request.params["mindate"] == lo.strftime("%Y/%m/%d")
    assert request.params["maxdate"] == hi.strftime("%Y/%m/%d")


def test_search_splits_windows_past_the_10000_cap(standin: StandIn, make_client: Build) -> None:
    start = date(2020, 1, 1)
    ids = [str(80_000_000 + i) for i in range(23_456)]
    for i, pmid in enumerate(ids):
        standin.state.edat[pmid] = start + timedelta(days=i % 731)
    standin.state.queries["big"] = ids
    result = make_client().search("big", mindate=start, maxdate=start + timedelta(days=730))
    assert sorted(result.ids) == sorted(ids)
    assert result.count == len(ids) and len(result.windows) >= 3
    assert all(w.count <= 10_000 for w in result.windows)
    requests = standin.state.requests("esearch.fcgi")
    assert all(int(r.params["retmax"]) <= 10_000 for r in requests)
    covered = sorted((w.mindate, w.maxdate) for w in result.windows)
    assert covered[0][0] == start and covered[-1][1] == start + timedelta(days=730)
    for (_, end), (nxt, _) in itertools.pairwise(covered):
        assert nxt == end + timedelta(days=1)


def test_search_refuses_fewer_ids_than_count(standin: StandIn, make_client: Build) -> None:
    standin.state.queries["baclofen"] = _fixture_pmids()
    standin.state.add_fault(Fault("short", "esearch.fcgi", times=10))
    with pytest.raises(EutilsError, match="refusing a partial result"):
        make_client().search("baclofen", mindate=date(1900, 1, 1), maxdate=date(2030, 1, 1))


def test_rate_limit_holds_across_threads(standin: StandIn, make_client: Build) -> None:
    limiter = RateLimiter(3.0)
    clients = [make_client(rate=3.0, limiter=limiter) for _ in range(4)]
    pmids = _fixture_pmids()

    def work(client: EutilsClient) -> None:
        client.fetch(pmids[:2])
        client.fetch(pmids[2:4])

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    times = [s.t for s in standin.state.requests()]
    assert len(times) == 8
    # Counted as NCBI counts: requests per sliding second at the server. (Gaps between single
    # arrivals are not asserted: a send the OS delays may arrive close to the next one, and the
    # limiter keeps the per-second count, not the spacing, under the limit.)
    assert _max_in_window(times) <= 3


def test_an_api_key_raises_the_rate_to_ten(
    standin: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NCBI_API_KEY", "k-test-rate")
    config = ClientConfig.from_env(base_url=standin.url, email=EMAIL)
    assert config.effective_rate == 10.0
    assert shared_limiter(10.0) is shared_limiter(10.0)
    client = EutilsClient(config, limiter=RateLimiter(config.effective_rate))
    with __import__("concurrent.futures").futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda _: client.esearch("x[ti]", usehistory=False), range(14)))
    seen = standin.state.requests()
    assert all(s.params["api_key"] == "k-test-rate" for s in seen)
    times = [s.t for s in seen]
    assert _max_in_window(times) <= 10
    assert max(times) - min(times) >= 1.0  # 14 requests cannot fit in one second


def test_workers_share_the_limiter(standin: StandIn, make_client: Build) -> None:
    pmids = standin.state.add_clones(800, 72_000_000)
    client = make_client(rate=5.0)
    result = client.fetch(pmids, workers=4)
    assert len(result.records) == 800
    times = [s.t for s in standin.state.requests()]
    assert len(times) == 4 and _max_in_window(times) <= 5


def test_a_failing_batch_leaves_earlier_batches_and_nothing_partial(
    standin: StandIn, make_client: Build, tmp_path: Path
) -> None:
    pmids = standin.state.add_clones(450, 73_000_000)
    cache = tmp_path / "pubmed"
    # Batch 1 is fine; batch 2 is truncated on every try.
    standin.state.add_fault(Fault("truncate", "efetch.fcgi", times=3, when_id=pmids[200]))
    client = make_client(max_tries=3)

    def store(records: list[PubmedRecord]) -> None:
        write_records(cache, [r.with_provenance("live", "2026-11-26") for r in records])

    with pytest.raises(EutilsError, match="gave up after 3 tries"):
        client.fetch(pmids, on_batch=store)
    assert cached_pmids(cache) == sorted(pmids[:200], key=int)
    assert {p.name for p in cache.iterdir()} <= {
        STORE_FILE,
        f"{STORE_FILE}-wal",
        f"{STORE_FILE}-shm",
    }

    # A rerun fetches only what is missing and completes.
    before = len(standin.state.requests("efetch.fcgi"))
    todo = [p for p in pmids if read_record(cache, p) is None]
    assert len(todo) == 250
    make_client().fetch(todo, on_batch=store)
    assert len(standin.state.requests("efetch.fcgi")) - before == 2
    assert cached_pmids(cache) == sorted(pmids, key=int)


def test_secrets_never_reach_logs_errors_or_cache(
    standin: StandIn,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    key, email = "SECRET-key-3f9a71", "secret.person@example.org"
    monkeypatch.setenv("NCBI_API_KEY", key)
    monkeypatch.setenv("NCBI_EMAIL", email)
    config = ClientConfig.from_env(
        base_url=standin.url, timeout=0.3, backoff=0.01, max_backoff=0.02, max_tries=2
    )
    client = EutilsClient(config, limiter=RateLimiter(50.0))
    standin.state.add_fault(Fault("status", "efetch.fcgi", status=500))
    standin.state.add_fault(Fault("sleep", "esearch.fcgi", seconds=0.6, times=2))
    standin.state.add_fault(Fault("status", "epost.fcgi", status=403))
    caplog.set_level(logging.DEBUG)
    cache = tmp_path / "pubmed"
    messages = [repr(client), repr(config), str(config)]
    result = client.fetch(
        _fixture_pmids(),
        on_batch=lambda rs: write_records(cache, [r.with_provenance("live", "x") for r in rs]),
    )
    for call in (lambda: client.esearch("baclofen"), lambda: client.epost(["1"])):
        with pytest.raises(EutilsError) as info:
            call()
        messages.append(str(info.value))
    text = caplog.text + "\n".join(messages)
    # every byte the store holds, its database and journal files included
    text += "".join(p.read_bytes().decode("utf-8", "replace") for p in cache.iterdir())
    assert result.records and caplog.records  # the retries were logged
    assert key not in text and email not in text
    assert all(s.params.get("api_key") == key for s in standin.state.requests())


def test_bio_entrez_dtd_cache_stays_off_home(tmp_path: Path) -> None:
    """Bio.Entrez creates its DTD cache on first parse; the client points it at a temp dir."""
    import os
    import subprocess
    import sys

    home = tmp_path / "home"
    home.mkdir()
    fixture = raw.EFETCH[0]
    code = (
        "from evidence.pubmed.client import ClientConfig, EutilsClient\n"
        f"EutilsClient(ClientConfig(email={EMAIL!r}))\n"
        "from Bio import Entrez\n"
        f"data = Entrez.read(open({str(fixture)!r}, 'rb'))\n"
        "print(len(data['PubmedArticle']), Entrez.local_cache)\n"
    )
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(tmp_path)}
    env.pop("EVIDENCE_ENTREZ_CACHE", None)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    count, cache_dir = done.stdout.split()
    assert int(count) == len(raw.articles(fixture))
    assert cache_dir.startswith(str(tmp_path)) and not cache_dir.startswith(str(home))
    assert list(home.iterdir()) == []
