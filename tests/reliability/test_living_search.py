"""What arrives late reaches the living search: MeSH-indexed matches, retractions, deletions."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from evidence import pipeline
from evidence.cli import app
from evidence.pubmed.cache import read_record, write_records
from evidence.pubmed.client import ClientConfig, EutilsClient, EutilsHTTPError
from evidence.pubmed.parse import parse_records
from evidence.pubmed.ratelimit import RateLimiter
from evidence.pubmed.search import IndicationQuery, ProtocolSearch, load_state, run_search
from evidence.pubmed.updates import UPDATE_STATE_FILE, update_cached
from evidence.rating.rules import load_rules
from evidence.report.build import flow
from evidence.report.prisma import RETRACTED_REASON, PrismaFlow, prisma_svg
from evidence.runs.workspace import Workspace
from evidence.tables.votes import vote_counts
from tests.conftest import ROOT
from tests.pubmed.eutils_server import StandIn, clone_article, efetch_header, fixture_articles

TRIAL = "29768149"  # a real efetch fixture
RETRACTED = "28525555"  # reynaud_2017 of the bundled data, in the abstinence pool
NOTICE = "39999999"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.create_connection

    def guarded(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] not in {"127.0.0.1", "localhost"}:
            raise OSError(f"test tried to reach {address[0]}")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


def client_for(server: StandIn) -> EutilsClient:
    config = ClientConfig(
        base_url=server.url, email="t@example.org", timeout=1.0, backoff=0.01, max_tries=2,
        rate=100.0,
    )  # fmt: skip
    return EutilsClient(config, limiter=RateLimiter(config.effective_rate))


def with_retraction(article: bytes, notice_pmid: str, source: str) -> bytes:
    """The article as PubMed shows it once retracted: a RetractionIn link to the notice."""
    item = (
        f'<CommentsCorrections RefType="RetractionIn"><RefSource>{source}</RefSource>'
        f'<PMID Version="1">{notice_pmid}</PMID></CommentsCorrections>'
    ).encode()
    if b"<CommentsCorrectionsList>" in article:
        return article.replace(b"<CommentsCorrectionsList>", b"<CommentsCorrectionsList>" + item, 1)
    return article.replace(
        b"</MedlineCitation>",
        b"<CommentsCorrectionsList>" + item + b"</CommentsCorrectionsList></MedlineCitation>",
        1,
    )


def test_a_record_that_matches_only_once_indexed_is_found_by_its_mesh_date(
    standin: StandIn, tmp_path: Path
) -> None:
    """It entered PubMed before the window (edat), and matched the term only after indexing."""
    spec = ProtocolSearch("p", (IndicationQuery("ind", "Ind", "drugx AND rct"),))
    standin.state.queries["drugx AND rct"] = [TRIAL]
    standin.state.edat[TRIAL] = date(2026, 10, 1)
    state = tmp_path / "search_state.json"
    state.write_text(json.dumps({"p": {"ind": {"last_search": "2026-11-20", "count": 0,
                                               "term": "drugx AND rct"}}}))  # fmt: skip
    client = client_for(standin)

    # not indexed yet: neither window holds it
    [before] = run_search(client, spec, known=set(), state_path=state, today=date(2026, 11, 22))
    assert before.ok and before.found == ()
    standin.state.mhda[TRIAL] = date(2026, 11, 24)  # indexed: MeSH date inside the next window
    [outcome] = run_search(client, spec, known=set(), state_path=state, today=date(2026, 11, 25))
    assert outcome.ok, outcome.error
    assert outcome.found == (TRIAL,) and outcome.new == (TRIAL,)
    assert outcome.by_mesh_date == (TRIAL,)
    kinds = [(s.params.get("datetype"), s.params.get("mindate"), s.params.get("maxdate"))
             for s in standin.state.requests("esearch.fcgi")[-2:]]  # fmt: skip
    assert kinds == [("edat", "2026/11/21", "2026/11/25"), ("mhda", "2026/11/21", "2026/11/25")]
    assert load_state(state)["p"]["ind"]["last_search"] == "2026-11-25"


def test_a_failed_mesh_date_window_keeps_the_watermark(standin: StandIn, tmp_path: Path) -> None:
    spec = ProtocolSearch("p", (IndicationQuery("ind", "Ind", "drugx AND rct"),))
    standin.state.queries["drugx AND rct"] = []
    state = tmp_path / "search_state.json"
    state.write_text(json.dumps({"p": {"ind": {"last_search": "2026-11-20"}}}))
    client = client_for(standin)
    real = client.search
    calls: list[str] = []

    def search(term: str, **kw: Any) -> Any:  # the edat window succeeds, the mhda one is refused
        calls.append(kw["datetype"])
        if kw["datetype"] == "mhda":
            raise EutilsHTTPError("esearch.fcgi", 400, "refused")
        return real(term, **kw)

    client.search = search  # type: ignore[method-assign]
    [outcome] = run_search(client, spec, known=set(), state_path=state, today=date(2026, 11, 25))
    assert calls == ["edat", "mhda"] and not outcome.ok
    entry = load_state(state)["p"]["ind"]
    assert entry["last_search"] == "2026-11-20" and entry["last_failure"]["date"] == "2026-11-25"


def _pool_studies(processed: Path) -> pd.Series:
    pooled = pd.read_csv(processed / "baclofen" / "pooled.csv")
    row = pooled[(pooled.outcome == "abstinence") & (pooled.tier == "all")
                 & (pooled.comparison == "oral_vs_placebo") & (pooled.analysis == "primary")]
    return row.iloc[0]  # fmt: skip


def test_a_retraction_is_refreshed_by_modification_date_and_leaves_every_pool(
    standin: StandIn, data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-25")
    articles = fixture_articles()
    original = clone_article(articles[TRIAL], RETRACTED)
    standin.state.articles[RETRACTED] = original
    cache = data_copy / "pubmed"
    other = "11446611"  # cached too, never modified
    write_records(cache, [r.with_provenance("live", "2026-11-20") for r in parse_records(
        efetch_header() + b"<PubmedArticleSet>" + original + articles[other]
        + b"</PubmedArticleSet>")])  # fmt: skip
    standin.state.mdat.update({RETRACTED: date(2026, 11, 1), other: date(2026, 11, 2)})
    # the committed outputs are the run before: their history is what the changelog extends
    shutil.copytree(ROOT / "data" / "processed", tmp_path / "p")
    ws = Workspace(data_copy, tmp_path / "p", tmp_path / "r")
    before = _pool_studies(ws.processed)
    assert "reynaud_2017" in before.studies.split()
    assert not (ws.processed / "baclofen" / "retracted.csv").exists()

    # PubMed retracts it: the record gains a RetractionIn link, its modification date moves
    standin.state.set_article(
        RETRACTED,
        with_retraction(original, NOTICE, "Lancet. 2026 Nov 23;408(1):1"),
        mdat=date(2026, 11, 24),
    )
    client = client_for(standin)
    outcome = update_cached(client, cache, date(2026, 11, 25))
    assert outcome.ok, outcome.error
    assert outcome.mindate == date(2026, 11, 19)  # the day before the oldest retrieval
    assert outcome.modified == [RETRACTED] and outcome.refreshed == [RETRACTED]
    searched = standin.state.requests("esearch.fcgi")[-1].params
    assert searched["datetype"] == "mdat" and f"{RETRACTED}[uid]" in searched["term"]
    record = read_record(cache, RETRACTED)
    assert record is not None and record.retracted
    assert (record.source, record.retrieved) == ("live", "2026-11-25")
    assert read_record(cache, other).retrieved == "2026-11-20"  # type: ignore[union-attr]
    assert json.loads((cache / UPDATE_STATE_FILE).read_text()) == {"last_update": "2026-11-25"}

    pipeline.synthesize(ws, None)
    after = _pool_studies(ws.processed)
    assert after.k == before.k - 1 and "reynaud_2017" not in after.studies.split()
    for name in ("pooled.csv", "vote_counts.csv", "table_uses.csv", "outcomes_by_tier.csv"):
        assert "reynaud_2017" not in (ws.processed / "baclofen" / name).read_text(), name
    flagged = pd.read_csv(ws.processed / "baclofen" / "retracted.csv", dtype=str)
    assert flagged.to_dict("records") == [{
        "study_id": "reynaud_2017", "reference": f"PMID:{RETRACTED}",
        "retracted_on": "2026-11-23", "date_from": "notice", "notice_pmid": NOTICE,
        "notice": "Lancet. 2026 Nov 23;408(1):1", "excluded": "true"}]  # fmt: skip
    log = (ws.reports / "baclofen" / "changelog.md").read_text()
    assert "Studies retracted:" in log
    assert f"reynaud_2017: PMID:{RETRACTED}: retracted on 2026-11-23 (notice PMID:{NOTICE}" in log
    html = (ws.reports / "baclofen" / "index.html").read_text()
    assert "Studies retracted" in html and "retracted on 2026-11-23" in html

    # the next pass starts the day before this one: the retraction is not fetched again
    again = update_cached(client, cache, date(2026, 11, 26))
    assert again.mindate == date(2026, 11, 24) and again.modified == [RETRACTED]
    standin.state.mdat[RETRACTED] = date(2026, 11, 24)
    later = update_cached(client, cache, date(2026, 11, 28))
    assert later.mindate == date(2026, 11, 25) and later.modified == []


def test_the_protocol_may_keep_retracted_studies_in(
    data_copy: Path, tmp_path: Path
) -> None:
    """exclude_retracted: false keeps the study pooled, and still lists it as retracted."""
    articles = fixture_articles()
    retracted = with_retraction(
        clone_article(articles[TRIAL], RETRACTED), NOTICE, "Lancet. 2026 Nov 23;408(1):1"
    )
    write_records(data_copy / "pubmed", [r.with_provenance("live", "2026-11-25") for r in
                  parse_records(efetch_header() + b"<PubmedArticleSet>" + retracted
                                + b"</PubmedArticleSet>")])  # fmt: skip
    path = data_copy / "protocols" / "baclofen.yaml"
    path.write_text(path.read_text(encoding="utf-8") + "exclude_retracted: false\n")
    ws = Workspace(data_copy, tmp_path / "p", tmp_path / "r")
    snapshot = pipeline.load(ws, None)
    assert "reynaud_2017" in set(snapshot.studies.study_id)
    assert snapshot.retracted["reynaud_2017"].date == "2026-11-23"
    path.write_text(path.read_text(encoding="utf-8").replace("exclude_retracted: false\n", ""))
    snapshot = pipeline.load(ws, None)
    assert "reynaud_2017" not in set(snapshot.studies.study_id)
    assert "reynaud_2017" not in set(snapshot.outcomes.study_id)
    assert "reynaud_2017" in snapshot.retracted


def _flow(ws: Workspace) -> PrismaFlow:
    """The run's PRISMA flow, computed as the report computes it."""
    snapshot = pipeline.load(ws, None)
    ctx = pipeline.load_context(ws, snapshot)
    tab = pipeline.tabulate(snapshot)
    analyses = pipeline.pool(snapshot, tab)
    rules = load_rules(ws.data / snapshot.protocol.rating.rule_set)
    votes = vote_counts(snapshot, analyses, rules, tab.assignment)
    return flow(snapshot, analyses, votes, ctx.cache_records, ctx.queue, None)


def test_a_retracted_study_is_a_report_excluded_for_its_own_reason_in_the_prisma_flow(
    data_copy: Path, tmp_path: Path
) -> None:
    retracted = with_retraction(
        clone_article(fixture_articles()[TRIAL], RETRACTED), NOTICE, "Lancet. 2026 Nov 23;408(1):1"
    )
    write_records(data_copy / "pubmed", [r.with_provenance("live", "2026-11-25") for r in
                  parse_records(efetch_header() + b"<PubmedArticleSet>" + retracted
                                + b"</PubmedArticleSet>")])  # fmt: skip
    ws = Workspace(data_copy, tmp_path / "p", tmp_path / "r")
    path = data_copy / "protocols" / "baclofen.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + "exclude_retracted: false\n", encoding="utf-8")
    kept = _flow(ws)  # the same records and decisions, the study still included
    path.write_text(text, encoding="utf-8")
    left = _flow(ws)
    assert RETRACTED_REASON not in dict(kept.reports_excluded)
    assert dict(left.reports_excluded)[RETRACTED_REASON] == 1
    assert left.reports_excluded_n == kept.reports_excluded_n + 1
    assert left.included == kept.included - 1
    # the study's row has left the data, its PubMed record has not: the same records after
    # duplicates, screened as before, and not one more awaiting screening
    after_duplicates = left.identified - left.duplicates
    assert after_duplicates == kept.identified - kept.duplicates
    assert (left.awaiting, left.screened, left.assessed) == (
        kept.awaiting, kept.screened, kept.assessed
    )  # fmt: skip
    assert left.assessed - left.reports_excluded_n == left.included
    assert ("… excluded: " + RETRACTED_REASON, 1) in left.rows()
    assert "Retracted publication" in prisma_svg(left)


def _baseline(tmp_path: Path, records: list[bytes], deleted: list[str]) -> Path:
    body = (
        efetch_header() + b"\n<PubmedArticleSet>\n" + b"\n".join(records)
        + b"\n<DeleteCitation>" + b"".join(f'<PMID Version="1">{p}</PMID>'.encode()
                                          for p in deleted)
        + b"</DeleteCitation>\n</PubmedArticleSet>\n"
    )  # fmt: skip
    path = tmp_path / "pubmed26n0001.xml"
    path.write_bytes(body)
    return path


def test_delete_citation_on_import_removes_the_record_and_names_the_study(
    data_copy: Path, tmp_path: Path
) -> None:
    articles = fixture_articles()
    cache = data_copy / "pubmed"
    stale = parse_records(efetch_header() + b"<PubmedArticleSet>"
                          + clone_article(articles[TRIAL], RETRACTED) + b"</PubmedArticleSet>")
    write_records(cache, [r.with_provenance("live", "2026-11-20") for r in stale])  # fmt: skip
    kept = "11446611"
    path = _baseline(tmp_path, [articles[kept]], [RETRACTED, "99999998"])

    # a file cut short removes nothing
    broken = tmp_path / "broken.xml"
    broken.write_bytes(path.read_bytes()[:-200])
    result = CliRunner().invoke(app, ["import-pubmed", str(broken), "--data", str(data_copy)])
    assert result.exit_code != 0
    assert read_record(cache, RETRACTED) is not None

    result = CliRunner().invoke(app, ["import-pubmed", str(path), "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert read_record(cache, RETRACTED) is None
    assert read_record(cache, kept) is not None
    assert "1 deleted (DeleteCitation)" in result.output
    assert f"deleted: {RETRACTED}" in result.output  # the PMID never cached is not listed
    assert f"study reynaud_2017: its PubMed record {RETRACTED} was deleted" in result.output


def test_search_update_cached_on_the_command_line(
    standin: StandIn, data_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from evidence.inputs.protocol import load_protocol
    from evidence.pubmed.search import indication_term

    proto = load_protocol(data_copy / "protocols" / "baclofen.yaml")
    standin.state.queries = {
        indication_term(i.pubmed_query, proto.trial_filter): [] for i in proto.indications
    }
    articles = fixture_articles()
    cache = data_copy / "pubmed"
    # fetched live earlier (a `file` record no study or queue row cites is not asked about)
    write_records(cache, [r.with_provenance("live", "2026-11-20") for r in parse_records(
        efetch_header() + b"<PubmedArticleSet>" + articles[TRIAL] + b"</PubmedArticleSet>")])
    standin.state.mdat[TRIAL] = date(2026, 11, 22)
    for key, value in {"EVIDENCE_EUTILS_URL": standin.url, "NCBI_EMAIL": "t@example.org",
                       "EVIDENCE_EUTILS_MAX_TRIES": "2",
                       "EVIDENCE_EUTILS_BACKOFF": "0.01"}.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    offline = runner.invoke(app, ["search", "--update-cached", "--data", str(data_copy)])
    assert offline.exit_code == 2 and "--live" in offline.output
    result = runner.invoke(
        app, ["search", "--live", "--update-cached", "--format", "json", "--data", str(data_copy)]
    )
    assert result.exit_code == 0, result.output
    updated = json.loads(result.output)["updated"]
    assert updated["modified"] == [TRIAL] and updated["refreshed"] == [TRIAL]
    assert updated["mindate"] == "2026-11-19" and updated["error"] is None
    refreshed = read_record(cache, TRIAL)
    assert refreshed is not None
    assert (refreshed.source, refreshed.retrieved) == ("live", updated["maxdate"])
