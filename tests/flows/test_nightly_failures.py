"""Failures an operator sees: a nightly that cannot search, fetch or load a protocol still does
everything else, then ends Failed, notifies, and publishes what failed and what is stale."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from evidence.cli import app
from tests.pubmed.eutils_server import Fault

ROOT = Path(__file__).resolve().parents[2]
NEW_RCT = "29768149"  # a real efetch fixture, served here as a newly indexed trial
LATER_RCT = "30108519"  # another, found a night later
BROKEN = "protocol_id: broken\ntitle: [unclosed\n"


@pytest.fixture
def webhook(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """A local webhook for EVIDENCE_NOTIFY_URL; yields the JSON bodies posted to it."""
    posted: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", "0"))
            posted.append(json.loads(self.rfile.read(size)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("EVIDENCE_NOTIFY_URL", f"http://127.0.0.1:{server.server_port}/hook")
    try:
        yield posted
    finally:
        server.shutdown()
        server.server_close()


def nightly(data: Path, tmp: Path, day: str, monkeypatch: pytest.MonkeyPatch, live: bool = True):
    from flows.nightly import nightly_refresh

    monkeypatch.setenv("EVIDENCE_RUN_DATE", day)
    return nightly_refresh(
        None, str(data), str(tmp / "p"), str(tmp / "r"), live=live, today=day, return_state=True
    )


def artifact_text(key: str) -> str:
    from prefect.artifacts import Artifact

    artifact = Artifact.get(key)
    assert artifact is not None, key
    return str(artifact.data)


def run_names(day: str, seconds: float = 30.0) -> tuple[set[str], set[str]]:
    """Names of the flow and task runs of `day`, asked for by name: the suite's other flows
    share the server, so an unfiltered page may hold none of them, and task runs reach the
    server as events, a little after the flow returns."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterName,
        TaskRunFilter,
        TaskRunFilterName,
    )

    deadline = time.monotonic() + seconds
    while True:
        with get_client(sync_client=True) as client:
            flows = {
                r.name
                for r in client.read_flow_runs(
                    flow_run_filter=FlowRunFilter(name=FlowRunFilterName(like_=day)), limit=200
                )
            }
            tasks = {
                r.name
                for r in client.read_task_runs(
                    task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_=day)), limit=200
                )
            }
        if tasks or time.monotonic() > deadline:
            return flows, tasks
        time.sleep(0.5)


def library_logs(contains: str, seconds: float = 30.0) -> list[str]:
    """Messages of the library's loggers that reached Prefect's API (sent in batches): the
    newest first, since the suite's other flows share the server's log."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.sorting import LogSort
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    deadline = time.monotonic() + seconds
    while True:
        with get_client(sync_client=True) as client:
            found = [
                log.message
                for log in client.read_logs(limit=200, sort=LogSort.TIMESTAMP_DESC)
                if log.name.startswith("evidence") and contains in log.message
            ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.mark.usefixtures("prefect_server")
def test_a_total_outage_ends_failed_after_the_synthesis_notifies_and_publishes(
    loop, webhook: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, terms, data, tmp = loop
    assert nightly(data, tmp, "2026-11-24", monkeypatch).is_completed()
    assert webhook == []  # nothing failed, nothing sent
    before = len(server.state.requests("esearch.fcgi"))
    server.state.add_fault(Fault("status", endpoint="esearch.fcgi", status=500, times=1000))

    state = nightly(data, tmp, "2026-11-25", monkeypatch)

    assert state.is_failed(), state
    assert len(server.state.requests("esearch.fcgi")) > before  # it did try, with retries
    # the synthesis ran anyway, on what is known, and says the search is stale
    html = (tmp / "r" / "baclofen" / "index.html").read_text(encoding="utf-8")
    assert "The PubMed search is stale." in html and "last successful search 2026-11-24" in html
    # the failure hook posted to the webhook, naming the run
    texts = [p["text"] for p in webhook]
    assert any("nightly-2026-11-25" in t and "baclofen" in t for t in texts), texts
    assert any("baclofen-2026-11-25" in t for t in texts), texts  # the protocol's own run
    # the artifact lists the failure and every stale indication since its last good search
    md = artifact_text("nightly-2026-11-25-failures")
    assert "| baclofen |" in md
    for indication in terms:
        assert f"| baclofen | {indication} | 2026-11-25 | 2026-11-24 |" in md
    # runs are named by protocol and date
    flows, tasks = run_names("2026-11-25")
    assert {"nightly-2026-11-25", "baclofen-2026-11-25", "refresh-baclofen-2026-11-25"} <= flows
    assert any(t.startswith("search-baclofen-") for t in tasks), tasks
    # and the client's retry warnings reached Prefect's logs
    assert library_logs("retry"), "no evidence.* retry warning in Prefect's logs"


@pytest.mark.usefixtures("prefect_server")
def test_a_failed_fetch_is_retried_and_never_cached(loop, monkeypatch: pytest.MonkeyPatch) -> None:
    from evidence.pubmed.search import QUEUE_FILE, load_queue

    server, terms, data, tmp = loop
    from evidence.pubmed.cache import read_record

    cache = data / "pubmed"
    # night 1: the first fetch attempt fails (every client try), the task's retry succeeds
    server.state.queries[terms["alcohol_use_disorder"]] = [NEW_RCT, LATER_RCT]
    server.state.edat[NEW_RCT] = date(2026, 11, 25)
    server.state.edat[LATER_RCT] = date(2026, 11, 26)
    server.state.add_fault(Fault("status", endpoint="efetch.fcgi", status=500, times=2))
    state = nightly(data, tmp, "2026-11-25", monkeypatch)
    assert state.is_completed(), state.message
    assert read_record(cache, NEW_RCT) is not None
    assert len(server.state.requests("efetch.fcgi")) == 3  # 2 failed tries, then the retry

    # night 2: every fetch fails; the nightly ends Failed and the record stays queued
    server.state.add_fault(Fault("status", endpoint="efetch.fcgi", status=500, times=1000))
    state = nightly(data, tmp, "2026-11-26", monkeypatch)
    assert state.is_failed()
    assert read_record(cache, LATER_RCT) is None
    queued = {r.pmid for r in load_queue(data / "pubmed" / QUEUE_FILE)}
    assert LATER_RCT in queued

    # the server heals; a rerun the same night fetches again (no cached failure)
    server.state.faults.clear()
    before = len(server.state.requests("efetch.fcgi"))
    state = nightly(data, tmp, "2026-11-26", monkeypatch)
    assert state.is_completed(), state.message
    assert len(server.state.requests("efetch.fcgi")) > before
    assert read_record(cache, LATER_RCT) is not None


def two_protocols(data: Path) -> None:
    """Beside the bundled protocol: a second, valid one (a copy under another id), one that
    cannot be loaded, and one that loads but whose inputs are missing."""
    src = yaml.safe_load((data / "protocols" / "baclofen.yaml").read_text(encoding="utf-8"))
    src["protocol_id"] = "second"
    (data / "protocols" / "second.yaml").write_text(yaml.safe_dump(src, sort_keys=False))
    src["protocol_id"] = "third"
    src["files"]["studies"] = "nope.csv"
    (data / "protocols" / "third.yaml").write_text(yaml.safe_dump(src, sort_keys=False))
    (data / "protocols" / "broken.yaml").write_text(BROKEN, encoding="utf-8")


@pytest.mark.usefixtures("prefect_server")
def test_a_broken_protocol_stops_no_other_and_is_named(
    data_copy: Path, tmp_path: Path, webhook: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    two_protocols(data_copy)
    state = nightly(data_copy, tmp_path, "2026-11-25", monkeypatch, live=False)
    assert state.is_failed()
    assert "2 of 4 protocol(s) failed: broken, third" in (state.message or "")
    for good in ("baclofen", "second"):
        assert (tmp_path / "r" / good / "index.html").is_file()
        assert (tmp_path / "p" / good / "pooled.csv").is_file()
    md = artifact_text("nightly-2026-11-25-failures")
    assert "| broken |" in md and "not valid YAML" in md
    assert "| third | synthesis: " in md and "problem(s) in the inputs" in md
    assert "| baclofen |" not in md and "| second |" not in md
    assert any("third-2026-11-25" in p["text"] for p in webhook)  # the protocol's own hook
    assert any("nightly-2026-11-25" in p["text"] for p in webhook)
    flows, _ = run_names("2026-11-25", seconds=0)
    assert {"baclofen-2026-11-25", "second-2026-11-25", "third-2026-11-25"} <= flows


@pytest.mark.parametrize("how", ["--no-orchestrator", "--task-runner=threads"])
def test_evidence_run_runs_every_protocol_and_names_the_failed_ones(
    data_copy: Path, tmp_path: Path, how: str, request: pytest.FixtureRequest
) -> None:
    if how != "--no-orchestrator":
        request.getfixturevalue("prefect_server")
    shutil.rmtree(data_copy / "pubmed", ignore_errors=True)
    two_protocols(data_copy)
    result = CliRunner().invoke(
        app,
        [
            "run",
            how,
            "--data",
            str(data_copy),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("2 of 4 protocol(s) failed: broken (")
    assert "; third (" in last and len(last) < 500  # one short line, the details above it
    assert "nope.csv" in result.output
    for good in ("baclofen", "second"):
        assert (tmp_path / "r" / good / "index.html").is_file()
        assert (tmp_path / "p" / good / "table_uses.csv").is_file()


def test_the_failure_message_and_artifact_text() -> None:
    from flows.notify import Failure, failure_message, failures_markdown, stale_searches

    state = {
        "p1": {
            "a": {
                "last_search": "2026-11-20",
                "last_failure": {"date": "2026-11-25", "error": "esearch: 500 | x"},
            },
            "b": {
                "last_search": "2026-11-25",
                "last_failure": {"date": "2026-11-24", "error": "old"},
            },
            "c": {"last_failure": {"date": "2026-11-25", "error": "never worked"}},
        }
    }
    stale = stale_searches(state)
    assert [(s.indication, s.last_good) for s in stale] == [("a", "2026-11-20"), ("c", None)]
    md = failures_markdown("2026-11-25", [Failure("p1", "refresh: search a: 500")], stale)
    assert "| p1 | a | 2026-11-25 | 2026-11-20 | esearch: 500 \\| x |" in md
    assert "| p1 | c | 2026-11-25 | never |" in md
    assert "| p1 | refresh: search a: 500 |" in md
    text = failure_message("nightly-refresh", "nightly-2026-11-25", "2 failed:\n a, b", "http://u")
    assert text == (
        "Prefect flow run 'nightly-2026-11-25' of 'nightly-refresh' failed: "
        "2 failed: a, b (http://u)"
    )


def test_the_documented_automation_is_one_prefect_accepts() -> None:
    from prefect.events.schemas.automations import AutomationCore

    doc = yaml.safe_load((ROOT / "docs" / "nightly-failed-automation.yaml").read_text())
    automation = AutomationCore.model_validate(doc)
    trigger = automation.trigger
    assert trigger.expect == {"prefect.flow-run.Failed"}
    related = trigger.match_related
    related = related[0] if isinstance(related, list) else related
    assert related.get("prefect.resource.name") == ["nightly-refresh"]
    assert related.get("prefect.resource.role") == ["flow"]
    assert automation.actions[0].type == "send-notification"


def test_timeouts_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.options import seconds

    monkeypatch.setenv("EVIDENCE_TEST_TIMEOUT", "90")
    assert seconds("EVIDENCE_TEST_TIMEOUT", 5) == 90
    monkeypatch.setenv("EVIDENCE_TEST_TIMEOUT", "0")
    assert seconds("EVIDENCE_TEST_TIMEOUT", 5) is None  # 0: no timeout
    monkeypatch.delenv("EVIDENCE_TEST_TIMEOUT")
    assert seconds("EVIDENCE_TEST_TIMEOUT", 5) == 5
    for bad in ("-1", "nan", "soon"):
        monkeypatch.setenv("EVIDENCE_TEST_TIMEOUT", bad)
        with pytest.raises(ValueError, match="EVIDENCE_TEST_TIMEOUT"):
            seconds("EVIDENCE_TEST_TIMEOUT", 5)


def test_a_failure_is_worded_once_for_the_batch_and_the_nightly() -> None:
    """The nightly's own errors read as their message; anything else as `batch.describe` has it."""
    from prefect.states import Failed

    from evidence import batch
    from flows.nightly import ProtocolFailed, reason

    own = ProtocolFailed("broken: synthesis: no such file")
    assert reason(Failed(data=own)) == "broken: synthesis: no such file"
    assert batch.describe(own) == "ProtocolFailed: broken: synthesis: no such file"
    unexpected = KeyError("effect")
    assert reason(Failed(data=unexpected)) == batch.describe(unexpected) == "KeyError: 'effect'"
    assert reason(Failed(data=ValueError("bad row 3"))) == "bad row 3"


@pytest.mark.usefixtures("prefect_server")
@pytest.mark.filterwarnings("ignore:Logger 'evidence.notify' attempted to send logs")
def test_a_notification_goes_through_the_prefect_block_named_in_the_environment(
    webhook: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """EVIDENCE_NOTIFY_BLOCK: a notification block saved on the server, loaded by its slug."""
    from prefect.blocks.notifications import CustomWebhookNotificationBlock

    from flows import notify

    url = os.environ["EVIDENCE_NOTIFY_URL"]
    monkeypatch.delenv("EVIDENCE_NOTIFY_URL")  # only the block sends
    CustomWebhookNotificationBlock(
        name="evidence-test", url=url, json_data={"text": "{{subject}}: {{body}}"}
    ).save("ops-test", overwrite=True)
    monkeypatch.setenv("EVIDENCE_NOTIFY_BLOCK", "custom-webhook/ops-test")
    assert notify.send("run nightly-2026-11-27 failed") == ["log", "block"]
    assert webhook == [{"text": "evidence: nightly failed: run nightly-2026-11-27 failed"}]

    monkeypatch.setenv("EVIDENCE_NOTIFY_BLOCK", "custom-webhook/no-such-block")
    assert notify.send("again") == ["log"]  # logged as an error, never raised
