"""The living loop against the stand-in E-utilities server, and a search that fails."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.cache import read_record
from tests.foundation import csvedit
from tests.pubmed.eutils_server import Fault

pytestmark = pytest.mark.usefixtures("prefect_server")
NEW_RCT = "29768149"  # a real efetch fixture, served here as a newly indexed trial


def nightly(
    data: Path, tmp: Path, day: str, monkeypatch: pytest.MonkeyPatch, completes: bool = True
) -> None:
    from flows.nightly import nightly_refresh

    monkeypatch.setenv("EVIDENCE_RUN_DATE", day)
    state = nightly_refresh(
        None, str(data), str(tmp / "p"), str(tmp / "r"), live=True, today=day, return_state=True
    )
    assert state.is_completed() is completes, state.message


def abstinence_pool(tmp: Path) -> pd.Series:
    pooled = pd.read_csv(tmp / "p" / "baclofen" / "pooled.csv")
    return pooled[(pooled.outcome == "abstinence") & (pooled.tier == "all")
                  & (pooled.comparison == "oral_vs_placebo")
                  & (pooled.analysis == "primary")].iloc[0]


def test_a_new_trial_flows_from_pubmed_to_the_pooled_estimate(
    loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, terms, data, tmp = loop
    nightly(data, tmp, "2026-11-24", monkeypatch)
    state = json.loads((data / "pubmed" / "search_state.json").read_text())["baclofen"]
    assert {v["last_search"] for v in state.values()} == {"2026-11-24"}
    before = abstinence_pool(tmp)

    # a new RCT is indexed for the alcohol query
    server.state.queries[terms["alcohol_use_disorder"]] = [NEW_RCT]
    server.state.edat[NEW_RCT] = date(2026, 11, 25)
    nightly(data, tmp, "2026-11-25", monkeypatch)
    queue = pd.read_csv(data / "pubmed" / "queue.csv", dtype=str)
    assert list(queue["pmid"]) == [NEW_RCT]
    assert queue.iloc[0]["indication"] == "alcohol_use_disorder"
    assert queue.iloc[0]["design"] and read_record(data / "pubmed", NEW_RCT) is not None
    html = (tmp / "r" / "baclofen" / "index.html").read_text()
    assert 'id="prisma-awaiting" data-n="1"' in html  # queued: awaiting screening

    # a reviewer extracts it
    runner = CliRunner()
    result = runner.invoke(app, ["extract-template", "--pmid", NEW_RCT, "--data", str(data)])
    assert result.exit_code == 0, result.output
    folder = data / "extraction" / NEW_RCT
    study = csvedit.read(folder / "studies.csv")[1][0]
    sid = study[0]
    for field, value in {"design": "rct", "comparator": "placebo", "route": "oral",
                         "species": "human"}.items():
        csvedit.set_cell(folder / "studies.csv", {"study_id": sid}, field, value)
    for role, events in (("treatment", "60"), ("control", "30")):
        where = {"outcome": "abstinence", "arm_role": role}
        csvedit.set_cell(folder / "outcomes.csv", where, "n", "100")
        csvedit.set_cell(folder / "outcomes.csv", where, "events", events)
    result = runner.invoke(app, ["add-extraction", "--pmid", NEW_RCT, "--data", str(data)])
    assert result.exit_code == 0, result.output

    nightly(data, tmp, "2026-11-26", monkeypatch)
    after = abstinence_pool(tmp)
    assert after.k == before.k + 1 and sid in after.studies
    assert after.estimate != before.estimate
    log = (tmp / "r" / "baclofen" / "changelog.md").read_text()
    # the changelog names the pool in the protocol's words
    assert sid in log and "Alcohol use disorder, oral baclofen vs placebo: Abstinence" in log
    queue = pd.read_csv(data / "pubmed" / "queue.csv", dtype=str)
    assert queue.empty  # the record is in the data now, so it left the queue
    # extracted but never screened: the flow still shows it awaiting screening, until decided
    html = (tmp / "r" / "baclofen" / "index.html").read_text()
    assert 'id="prisma-awaiting" data-n="1"' in html
    result = runner.invoke(
        app,
        ["screen", NEW_RCT, "--decision", "include", "--reviewer", "T", "--date", "2026-11-26",
         "--data", str(data)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    nightly(data, tmp, "2026-11-27", monkeypatch)
    html = (tmp / "r" / "baclofen" / "index.html").read_text()
    assert 'id="prisma-awaiting" data-n="0"' in html


def test_a_failed_search_keeps_the_last_good_state_and_the_report_says_stale(
    loop, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _, data, tmp = loop
    nightly(data, tmp, "2026-11-24", monkeypatch)
    server.state.add_fault(Fault("status", endpoint="esearch.fcgi", status=503, times=1000))
    nightly(data, tmp, "2026-11-25", monkeypatch, completes=False)
    state = json.loads((data / "pubmed" / "search_state.json").read_text())["baclofen"]
    assert {v["last_search"] for v in state.values()} == {"2026-11-24"}
    assert all(v["last_failure"]["date"] == "2026-11-25" for v in state.values())
    html = (tmp / "r" / "baclofen" / "index.html").read_text()
    assert "The PubMed search is stale." in html
    assert "last successful search 2026-11-24" in html
