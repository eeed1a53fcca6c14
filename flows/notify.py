"""Telling an operator that a nightly failed: an ERROR log line, a webhook, a Prefect block,
and the markdown that lists what failed and which searches are stale.

The text is made by pure functions (tested alone); `notify_failure` is the flows' `on_failure`
hook and only sends it. Set EVIDENCE_NOTIFY_URL to a webhook that takes a JSON `{"text": ...}`
POST (Slack, Mattermost, Teams and most chat tools do), or EVIDENCE_NOTIFY_BLOCK to a Prefect
notification block's slug (`slack-webhook/ops`), or both.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("evidence.notify")
NOTIFY_TIMEOUT = 10.0
CELL_LIMIT = 500  # characters of an error in the artifact (invalid inputs can list hundreds)
MESSAGE_LIMIT = 1000  # characters of a run's message in a notification


@dataclass(frozen=True)
class StaleSearch:
    """An indication whose last search failed: since when its results are all we know."""

    protocol: str
    indication: str
    failed_on: str
    error: str
    last_good: str | None  # None: never searched successfully


@dataclass(frozen=True)
class Failure:
    """Something that failed tonight, in words: which protocol (or step) and why."""

    what: str
    error: str


def stale_searches(state: Mapping[str, Any]) -> list[StaleSearch]:
    """Indications (from the search state) whose latest attempt failed after their last success."""
    out = []
    for protocol, indications in sorted(state.items()):
        if not isinstance(indications, Mapping):
            continue
        for indication, entry in sorted(indications.items()):
            failure = entry.get("last_failure") if isinstance(entry, Mapping) else None
            if not isinstance(failure, Mapping):
                continue
            failed_on = str(failure.get("date", ""))
            last_good = entry.get("last_search")
            if last_good and str(last_good) >= failed_on:
                continue  # a later search succeeded
            out.append(StaleSearch(protocol, indication, failed_on, str(failure.get("error", "")),
                                   str(last_good) if last_good else None))
    return out


def _cell(text: str, limit: int = CELL_LIMIT) -> str:
    """One line for a table cell or a message, cut at `limit` characters."""
    one = " ".join(str(text).split())
    one = one if len(one) <= limit else one[: limit - 1] + "…"
    return one.replace("|", "\\|")


def failures_markdown(day: str, failures: Iterable[Failure], stale: Iterable[StaleSearch]) -> str:
    """The nightly's failure artifact: what failed, and every stale search since when."""
    failures, stale = list(failures), list(stale)
    lines = [f"# Nightly {day}: {len(failures)} failure(s), {len(stale)} stale search(es)", ""]
    if failures:
        lines += ["## What failed", "", "| what | error |", "|---|---|"]
        lines += [f"| {_cell(f.what)} | {_cell(f.error)} |" for f in failures]
        lines.append("")
    if stale:
        lines += [
            "## Stale searches",
            "",
            "| protocol | indication | failed on | last good search | error |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {_cell(s.protocol)} | {_cell(s.indication)} | {s.failed_on} | "
            f"{s.last_good or 'never'} | {_cell(s.error)} |"
            for s in stale
        ]
        lines.append("")
    if not failures and not stale:
        lines += ["Nothing failed.", ""]
    return "\n".join(lines)


def failure_message(flow: str, run: str, state: str, url: str | None = None) -> str:
    """One notification: which flow run failed, why, and where to look."""
    why = " ".join(state.split())
    why = why if len(why) <= MESSAGE_LIMIT else why[: MESSAGE_LIMIT - 1] + "…"
    text = f"Prefect flow run {run!r} of {flow!r} failed: {why or 'no message'}"
    return f"{text} ({url})" if url else text


def post(url: str, text: str, timeout: float = NOTIFY_TIMEOUT) -> None:
    """POST `{"text": text}` as JSON to a webhook."""
    body = json.dumps({"text": text}).encode("utf-8")
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        answer.read()


def send(text: str, subject: str = "evidence: nightly failed") -> list[str]:
    """Log `text` as an ERROR and send it where the environment says; returns where it went.

    A notification that cannot be sent is logged, never raised: the run has failed already.
    """
    log.error(text)
    sent = ["log"]
    url = os.environ.get("EVIDENCE_NOTIFY_URL", "").strip()
    if url:
        try:
            post(url, text)
            sent.append("url")
        except Exception as exc:  # the webhook's trouble must not hide the run's
            log.error("could not post the notification to EVIDENCE_NOTIFY_URL: %s", exc)
    block = os.environ.get("EVIDENCE_NOTIFY_BLOCK", "").strip()
    if block:
        try:
            from prefect.blocks.core import Block

            Block.load(block).notify(body=text, subject=subject)
            sent.append("block")
        except Exception as exc:
            log.error("could not notify through Prefect block %r: %s", block, exc)
    return sent


def _ui_url(flow_run: Any) -> str | None:
    try:
        from prefect.settings import PREFECT_UI_URL

        base = PREFECT_UI_URL.value()
    except Exception:
        return None
    return f"{base}/runs/flow-run/{flow_run.id}" if base else None


def notify_failure(flow: Any, flow_run: Any, state: Any) -> None:
    """`on_failure` hook: an ERROR line, and the notification the environment asks for."""
    send(failure_message(flow.name, flow_run.name, state.message or "", _ui_url(flow_run)))
