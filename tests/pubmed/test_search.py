"""Incremental searches: the watermark, the overlap, failures, and the screening queue."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import yaml

from evidence.pubmed.client import EutilsClient
from evidence.pubmed.search import (
    IndicationQuery,
    ProtocolSearch,
    QueueRow,
    indication_term,
    last_search,
    load_protocol_search,
    load_queue,
    load_state,
    merge_queue,
    run_search,
    search_window,
    write_queue,
)
from tests.pubmed import rawfacts as raw
from tests.pubmed.eutils_server import StandIn

Build = Callable[..., EutilsClient]
TODAY = date(2026, 11, 26)


def _pmids() -> list[str]:
    return [raw.pmid_of(a) for p in raw.EFETCH for a in raw.articles(p)]


def test_protocol_terms_add_the_trial_filter(data_copy: Path) -> None:
    path = data_copy / "protocols" / "baclofen.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec = load_protocol_search(path)
    assert spec.protocol_id == data["protocol_id"]
    assert [q.id for q in spec.queries] == [i["id"] for i in data["indications"]]
    for query, ind in zip(spec.queries, data["indications"], strict=True):
        assert query.term == indication_term(ind["pubmed_query"], data.get("trial_filter", ""))
        assert " ".join(ind["pubmed_query"].split()) in query.term
    assert spec.citations == data["files"]["citations"]


def test_window_overlaps_the_last_search_by_a_day() -> None:
    assert search_window(None, None, TODAY) == (None, TODAY)
    assert search_window("2026-11-20", None, TODAY) == (date(2026, 11, 19), TODAY)
    assert search_window("2026-11-20", date(2020, 1, 1), TODAY) == (date(2020, 1, 1), TODAY)


def test_state_advances_only_for_indications_that_succeeded(
    standin: StandIn, make_client: Build, tmp_path: Path
) -> None:
    pmids = _pmids()
    standin.state.queries["q-ok"] = pmids
    spec = ProtocolSearch(
        "proto",
        (IndicationQuery("good", "Good", "q-ok"), IndicationQuery("bad", "Bad", "q-unknown")),
    )
    state_path = tmp_path / "search_state.json"
    known = set(pmids[:3])
    outcomes = run_search(make_client(), spec, known=known, state_path=state_path, today=TODAY)
    good, bad = outcomes
    assert good.ok and set(good.found) == set(pmids)
    assert set(good.new) == set(pmids) - known
    assert not bad.ok and "PhraseNotFound" in bad.error
    state = load_state(state_path)
    assert last_search(state, "proto", "good") == TODAY.isoformat()
    assert last_search(state, "proto", "bad") is None
    assert state["proto"]["good"]["count"] == len(pmids)

    # The next run starts a day before the last success; the failed one still searches all.
    standin.state.queries["q-unknown"] = pmids[:2]
    later = TODAY + timedelta(days=7)
    outcomes = run_search(make_client(), spec, known=known, state_path=state_path, today=later)
    first, second = standin.state.requests("esearch.fcgi")[-2:]
    assert first.params["mindate"] == (TODAY - timedelta(days=1)).strftime("%Y/%m/%d")
    assert first.params["maxdate"] == later.strftime("%Y/%m/%d")
    assert second.params["mindate"] == "1800/01/01"
    assert all(o.ok for o in outcomes)
    state = load_state(state_path)
    assert last_search(state, "proto", "good") == later.isoformat()
    assert last_search(state, "proto", "bad") == later.isoformat()


def test_a_failed_search_keeps_the_watermark_and_records_the_failure(
    standin: StandIn, make_client: Build, tmp_path: Path
) -> None:
    state_path = tmp_path / "search_state.json"
    state_path.write_text(json.dumps({"proto": {"bad": {"last_search": "2026-01-01"}}}))
    spec = ProtocolSearch("proto", (IndicationQuery("bad", "Bad", "q-unknown"),))
    (outcome,) = run_search(make_client(), spec, known=set(), state_path=state_path, today=TODAY)
    assert not outcome.ok
    entry = json.loads(state_path.read_text())["proto"]["bad"]
    assert entry["last_search"] == "2026-01-01"
    assert entry["last_failure"]["date"] == TODAY.isoformat()
    assert entry["last_failure"]["error"] == outcome.error[:300]


def test_queue_keeps_found_dates_adds_new_and_drops_curated(tmp_path: Path) -> None:
    pmids = _pmids()
    path = tmp_path / "queue.csv"
    old = [
        QueueRow(pmids[0], "proto", "good", "2026-01-01"),
        QueueRow(pmids[1], "proto", "good", "2026-01-01"),
    ]
    write_queue(path, old)

    class Outcome:
        indication = "good"
        new = (pmids[0], pmids[2])

    rows = merge_queue(
        load_queue(path),
        "proto",
        [Outcome()],
        today=TODAY,
        known={pmids[1]},  # type: ignore[list-item]
        titles={pmids[2]: "A title"},
    )
    write_queue(path, rows)
    loaded = {r.pmid: r for r in load_queue(path)}
    assert set(loaded) == {pmids[0], pmids[2]}
    assert loaded[pmids[0]].found == "2026-01-01"
    assert loaded[pmids[2]].found == TODAY.isoformat() and loaded[pmids[2]].title == "A title"
    assert (
        path.read_text(encoding="utf-8").splitlines()[0]
        == "pmid,protocol,indication,found,title,design,design_reason"
    )
