"""The modification-date pass asks only about records the protocols cite or keep live.

A baseline mirror's records (bulk-imported, source `file`) are kept current by NLM's update
files; asking esearch about each of a million of them would cost 5,000 requests a night. A
mirror record a study or the screening queue names is asked about like any live one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from evidence.pubmed import bulk, updates
from evidence.pubmed.cache import write_records
from evidence.pubmed.parse import parse_records
from evidence.pubmed.search import QUEUE_FILE, QueueRow, write_queue
from tests.pubmed.eutils_server import clone_article, efetch_header, fixture_articles

SOURCE = "29768149"  # a real efetch fixture, cloned under the PMIDs below
UNCITED, STUDY, QUEUED = "38000001", "38000002", "38000003"  # bulk-imported
LIVE, SNAPSHOT = "38000004", "38000005"


@dataclass
class Recorder:
    """A client that answers every esearch with nothing and remembers the terms it got."""

    terms: list[str] = field(default_factory=list)
    config: None = None

    def search(self, term: str, *, mindate: date | None, maxdate: date, datetype: str) -> object:
        assert datetype == "mdat"
        self.terms.append(term)
        return type("Found", (), {"ids": ()})()

    def fetch(self, pmids: list[str], on_batch: object = None) -> object:
        raise AssertionError("nothing was modified: nothing to fetch")


def _articles(pmids: list[str]) -> bytes:
    article = fixture_articles()[SOURCE]
    body = b"".join(clone_article(article, p) for p in pmids)
    return efetch_header() + b"<PubmedArticleSet>" + body + b"</PubmedArticleSet>"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A data folder whose studies cite one mirror record and whose queue names another."""
    folder = tmp_path / "raw"
    cache = folder / "pubmed"
    cache.mkdir(parents=True)
    (folder / "studies.csv").write_text(f"study_id,pmid\ncited_2020,{STUDY}\n", encoding="utf-8")
    write_queue(cache / QUEUE_FILE, [QueueRow(QUEUED, "demo", "ind", "2026-11-20")])
    baseline = tmp_path / "pubmed26n0001.xml"
    baseline.write_bytes(_articles([UNCITED, STUDY, QUEUED]))
    report = bulk.import_files(cache, [baseline], retrieved="2026-11-01")
    assert report.written == 3 and not report.files[0].error
    live, snap = parse_records(_articles([LIVE, SNAPSHOT]))
    write_records(cache, [live.with_provenance("live", "2026-11-10")])
    write_records(cache, [snap.with_provenance("snapshot", "2026-11-05")])
    return folder


def test_a_mirror_record_no_protocol_cites_is_not_asked_about(data: Path) -> None:
    cache = data / "pubmed"
    cited = updates.cited_pmids(cache)
    assert cited == {STUDY, QUEUED}
    watched = updates.pmids_to_check(cache, cited)
    assert list(watched) == [STUDY, QUEUED, LIVE, SNAPSHOT]
    assert UNCITED not in watched

    client = Recorder()
    outcome = updates.update_cached(client, cache, date(2026, 11, 27))  # type: ignore[arg-type]
    assert outcome.ok and outcome.checked == 4
    asked = " OR ".join(client.terms)
    for pmid in (STUDY, QUEUED, LIVE, SNAPSHOT):
        assert f"{pmid}[uid]" in asked
    assert f"{UNCITED}[uid]" not in asked
    # the first window opens the day before the oldest retrieval among the records asked about
    assert outcome.mindate == date(2026, 10, 31)


def test_a_mirror_record_becomes_asked_about_once_a_study_cites_it(
    data: Path, tmp_path: Path
) -> None:
    cache = data / "pubmed"
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "studies.csv").write_text(f"study_id,pmid\nnew_2021,{UNCITED}\n", encoding="utf-8")
    client = Recorder()
    outcome = updates.update_cached(
        client,  # type: ignore[arg-type]
        cache,
        date(2026, 11, 27),
        data=other,
        batch=2,
    )
    asked = [t for term in client.terms for t in term.split(" OR ")]
    assert sorted(asked) == sorted(f"{p}[uid]" for p in (UNCITED, QUEUED, LIVE, SNAPSHOT))
    assert outcome.checked == 4 and len(client.terms) == updates.requests_for(4, 2) == 2


def test_the_request_count_is_what_the_pass_sends() -> None:
    assert updates.requests_for(0) == 0
    assert updates.requests_for(1) == 1
    assert updates.requests_for(1_000_000) == 5_000
    assert updates.requests_for(201) == 2


def test_a_second_pass_the_same_day_asks_nothing_unless_again(data: Path) -> None:
    """Every protocol's nightly run calls the pass; the store needs it once a night."""
    cache = data / "pubmed"
    client = Recorder()
    first = updates.update_cached(client, cache, date(2026, 11, 27))  # type: ignore[arg-type]
    assert first.ok and not first.done_today and len(client.terms) == 1
    second = updates.update_cached(client, cache, date(2026, 11, 27))  # type: ignore[arg-type]
    assert second.done_today and second.checked == 0 and len(client.terms) == 1
    forced = updates.update_cached(
        client,  # type: ignore[arg-type]
        cache,
        date(2026, 11, 27),
        again=True,
    )
    assert not forced.done_today and forced.checked == 4 and len(client.terms) == 2
    assert forced.mindate == date(2026, 11, 26)  # the day before the pass that completed
    tomorrow = updates.update_cached(client, cache, date(2026, 11, 28))  # type: ignore[arg-type]
    assert not tomorrow.done_today and tomorrow.mindate == date(2026, 11, 26)
    assert len(client.terms) == 3
