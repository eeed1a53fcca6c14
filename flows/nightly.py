"""The nightly living-evidence refresh, per protocol and indication:
search PubMed since the last successful search → fetch → classify → queue → synthesize.

A failed search keeps its watermark (the report then says the search is stale and since when);
the synthesis still runs on what is known.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import INPUTS, NO_CACHE, TASK_SOURCE

from evidence import batch
from evidence.pubmed import refresh
from evidence.pubmed.client import ClientConfig, EutilsClient
from evidence.pubmed.search import IndicationOutcome, ProtocolSearch, load_protocol_search
from evidence.runs.workspace import Workspace
from flows.synthesize import synthesize


class SearchFailed(RuntimeError):
    """An indication's search failed; raised so that Prefect retries it."""


def _retry_delays() -> list[float]:
    """Exponential backoff between task retries: base, 2×base, 4×base seconds."""
    base = float(os.environ.get("EVIDENCE_TASK_RETRY_DELAY", "30"))
    return [base, 2 * base, 4 * base]


def _client() -> EutilsClient:
    return EutilsClient(ClientConfig.from_env())


@task(
    name="search-indication", retries=2, retry_delay_seconds=_retry_delays(), cache_policy=NO_CACHE
)
def search_indication(
    cache: Path, data: Path, spec: ProtocolSearch, today: date
) -> IndicationOutcome:
    (outcome,) = refresh.search(_client(), cache, data, spec, today)
    if not outcome.ok:
        raise SearchFailed(f"{spec.protocol_id}/{outcome.indication}: {outcome.error}")
    return outcome


@task(
    name="fetch-records",
    retries=2,
    retry_delay_seconds=_retry_delays(),
    cache_policy=(INPUTS + TASK_SOURCE),
    cache_expiration=timedelta(hours=20),
)
def fetch_records(cache: Path, pmids: list[str], today: date) -> refresh.FetchOutcome:
    """Cached on its inputs for 20 h: a rerun the same night does not fetch again."""
    return refresh.fetch(_client(), cache, pmids, today)


classify_records = task(refresh.classify, name="classify", cache_policy=NO_CACHE)
update_queue = task(refresh.update_queue, name="update-queue", cache_policy=NO_CACHE)


@flow(name="refresh-literature")
def refresh_literature(protocol: str, data: str, today: str) -> list[str]:
    """Search each indication (retried separately), then fetch, classify and queue."""
    logger = get_run_logger()
    ws = Workspace(Path(data))
    spec = load_protocol_search(ws.protocol_path(protocol))
    day = date.fromisoformat(today)
    futures = [
        search_indication.submit(ws.pubmed_cache, ws.data, replace(spec, queries=(q,)), day)
        for q in spec.queries
    ]
    outcomes = []
    for q, fut in zip(spec.queries, futures, strict=True):
        fut.wait()
        if fut.state.is_completed():
            outcomes.append(fut.result())
        else:
            logger.warning("search for %s failed; its last good state is kept", q.id)
    new = refresh.new_pmids(outcomes)
    fetched = fetch_records(ws.pubmed_cache, new, day)
    if fetched.error:
        logger.warning("fetching new records failed: %s", fetched.error)
    designs = classify_records(ws.pubmed_cache, new)
    rows = update_queue(ws.pubmed_cache, ws.data, spec, outcomes, day, designs)
    logger.info(
        "%s: %d new record(s); %d awaiting screening", spec.protocol_id, len(new), len(rows)
    )
    return new


@flow(name="nightly-refresh")
def nightly_refresh(
    protocols: list[str] | None = None,
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    live: bool = True,
    today: str | None = None,
) -> dict[str, list[str]]:
    """Refresh the literature (when live) and resynthesise every protocol."""
    ws = Workspace(Path(data), Path(processed), Path(reports))
    day = today or datetime.now(UTC).date().isoformat()
    jobs = batch.plan(ws, protocols)
    found: dict[str, list[str]] = {}
    for job in jobs:
        if live:
            found[job.protocol] = refresh_literature(job.protocol, data, day)
        synthesize(
            job.protocol,
            str(job.workspace.data),
            str(job.workspace.processed),
            str(job.workspace.reports),
            wait=True,
        )
    return found
