"""The nightly living-evidence refresh: for every protocol, its own flow run that searches
PubMed since the last successful search → fetches → classifies → queues → synthesises.

Nothing that fails stops what can still be done: a failed search keeps its watermark (the report
then says the search is stale, and since when), a failed fetch leaves its records queued to be
fetched the next night, a failed protocol leaves the others running, and the synthesis runs on
what is known. Then the run ends Failed, naming what failed, with an `on_failure` notification
and a markdown artifact `nightly-<date>-failures` listing the failures and the stale searches.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from evidence import batch
from evidence.pubmed import refresh, updates
from evidence.pubmed.client import ClientConfig, EutilsClient
from evidence.pubmed.search import (
    STATE_FILE,
    IndicationOutcome,
    ProtocolSearch,
    load_protocol_search,
    load_state,
)
from evidence.runs.workspace import Workspace
from flows import notify
from flows.options import (
    NIGHTLY_TIMEOUT,
    PROTOCOL_TIMEOUT,
    TASK_TIMEOUT,
    nightly_run_name,
    part,
    protocol_run_name,
    refresh_run_name,
    retry_delays,
    today_or,
)
from flows.synthesize import artifact_key, synthesize

LIBRARY_LOGGER = "evidence"


class SearchFailed(RuntimeError):
    """An indication's search failed; raised so that Prefect retries it."""


class UpdateFailed(RuntimeError):
    """The modification-date pass over cached records failed; retried, then reported."""


class RefreshFailed(RuntimeError):
    """Some searches or the fetch failed after everything else was done; names each."""


class ProtocolFailed(RuntimeError):
    """A protocol's refresh or synthesis failed; the message says which and why."""


class NightlyFailed(RuntimeError):
    """Something failed tonight; raised at the end, once every protocol has run."""


def route_library_logs() -> None:
    """The library's warnings (client retries, dropped records…) into Prefect's run logs.

    flows/__init__.py sets PREFECT_LOGGING_EXTRA_LOGGERS=evidence before Prefect is imported;
    when Prefect was imported first, its handlers for extra loggers are added here instead.
    """
    from prefect.logging.handlers import APILogHandler

    logger = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(h, APILogHandler) for h in logger.handlers):
        for handler in logging.getLogger("prefect.extra").handlers:
            logger.addHandler(handler)


route_library_logs()


def _client() -> EutilsClient:
    return EutilsClient(ClientConfig.from_env())


# Errors of the nightly's own whose message says it all: no kind of error before it.
OWN_ERRORS = (SearchFailed, refresh.FetchFailed, UpdateFailed, RefreshFailed, ProtocolFailed)


def reason(state: Any) -> str:
    """Why a task or flow run failed, in one line, worded as `batch.describe` words any error."""
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as err:  # a crashed run's result may itself raise
        exc = err
    if isinstance(exc, BaseException):
        return batch.describe(exc, plain=OWN_ERRORS)
    return str(state.message or state.type)


def search_run_name(parameters: dict[str, Any]) -> str:
    spec = parameters["spec"]
    ids = "-".join(q.id for q in spec.queries)
    return f"search-{part(spec.protocol_id)}-{part(ids)}-{parameters['today']}"


def fetch_run_name(parameters: dict[str, Any]) -> str:
    return f"fetch-{part(parameters.get('protocol') or 'records')}-{parameters['today']}"


@task(
    name="search-indication",
    task_run_name=search_run_name,
    retries=2,
    retry_delay_seconds=retry_delays(),
    cache_policy=NO_CACHE,
    timeout_seconds=TASK_TIMEOUT,
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
    task_run_name=fetch_run_name,
    retries=2,
    retry_delay_seconds=retry_delays(),
    cache_policy=NO_CACHE,
    timeout_seconds=TASK_TIMEOUT,
)
def fetch_records(
    cache: Path, pmids: list[str], today: date, protocol: str = ""
) -> refresh.FetchOutcome:
    """Raises `refresh.FetchFailed` when the fetch failed, so Prefect retries it and a failure
    is never reused.

    Not cached by Prefect: the record cache is the cache (only records it lacks are fetched), so
    a rerun after a good fetch asks for nothing and a rerun after a failed one asks again.
    """
    return refresh.fetch(_client(), cache, pmids, today)


classify_records = task(refresh.classify, name="classify", cache_policy=NO_CACHE)
update_queue = task(refresh.update_queue, name="update-queue", cache_policy=NO_CACHE)


@task(
    name="update-cached",
    retries=2,
    retry_delay_seconds=retry_delays(),
    cache_policy=NO_CACHE,
    timeout_seconds=TASK_TIMEOUT,
)
def update_cached(cache: Path, today: date) -> list[str]:
    """Re-fetch cached records PubMed modified since the last pass (retractions, errata)."""
    out = updates.update_cached(_client(), cache, today)
    if not out.ok:
        raise UpdateFailed(out.error)
    return out.refreshed


@flow(name="refresh-literature", flow_run_name=refresh_run_name, timeout_seconds=PROTOCOL_TIMEOUT)
def refresh_literature(protocol: str, data: str, today: str) -> list[str]:
    """Search each indication (retried separately), then fetch, classify and queue; then fail if
    any search or the fetch failed."""
    logger = get_run_logger()
    ws = Workspace(Path(data))
    spec = load_protocol_search(ws.protocol_path(protocol))
    day = date.fromisoformat(today)
    futures = [
        search_indication.submit(ws.pubmed_cache, ws.data, replace(spec, queries=(q,)), day)
        for q in spec.queries
    ]
    outcomes: list[IndicationOutcome] = []
    failed: list[str] = []
    for q, fut in zip(spec.queries, futures, strict=True):
        fut.wait()
        if fut.state.is_completed():
            outcomes.append(fut.result())
        else:
            failed.append(reason(fut.state))
            logger.error("search for %s failed; its last good state is kept", q.id)
    new = refresh.new_pmids(outcomes)
    wanted = refresh.fetch_list(ws.pubmed_cache, None, outcomes)  # with records queued earlier
    fetched = fetch_records(ws.pubmed_cache, wanted, day, spec.protocol_id, return_state=True)
    if not fetched.is_completed():
        failed.append(f"fetch: {reason(fetched)}")
        logger.error("fetching records failed; they stay queued for the next night")
    designs = classify_records(ws.pubmed_cache, wanted)
    rows = update_queue(ws.pubmed_cache, ws.data, spec, outcomes, day, designs)
    updated = update_cached(ws.pubmed_cache, day, return_state=True)
    if updated.is_completed():
        if updated.result():
            logger.info("re-fetched modified record(s): %s", ", ".join(updated.result()))
    else:
        failed.append(f"update of cached records: {reason(updated)}")
        logger.error("the pass over modified cached records failed; it is tried again next night")
    logger.info(
        "%s: %d new record(s); %d awaiting screening", spec.protocol_id, len(new), len(rows)
    )
    if failed:
        raise RefreshFailed("; ".join(failed))
    return new


@flow(
    name="protocol-refresh",
    flow_run_name=protocol_run_name,
    timeout_seconds=PROTOCOL_TIMEOUT,
    on_failure=[notify.notify_failure],
)
def protocol_refresh(
    protocol: str,
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    live: bool = True,
    today: str | None = None,
) -> list[str]:
    """One protocol: refresh its literature (when live), then synthesise it whatever happened;
    fail at the end if either failed."""
    day = today_or(today)
    problems: list[str] = []
    new: list[str] = []
    if live:
        refreshed = refresh_literature(protocol, data, day, return_state=True)
        if refreshed.is_completed():
            new = refreshed.result()
        else:
            problems.append(f"refresh: {reason(refreshed)}")
    made = synthesize(protocol, data, processed, reports, wait=True, return_state=True)
    if not made.is_completed():
        problems.append(f"synthesis: {reason(made)}")
    if problems:
        raise ProtocolFailed("; ".join(problems))
    return new


def publish_failures(
    day: str, failures: list[notify.Failure], stale: list[notify.StaleSearch]
) -> str:
    key = artifact_key("nightly", day, "failures")
    create_markdown_artifact(
        markdown=notify.failures_markdown(day, failures, stale),
        key=key,
        description="What failed tonight, and which searches are stale since when",
    )
    return key


@flow(
    name="nightly-refresh",
    flow_run_name=nightly_run_name,
    timeout_seconds=NIGHTLY_TIMEOUT,
    on_failure=[notify.notify_failure],
)
def nightly_refresh(
    protocols: list[str] | None = None,
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    live: bool = True,
    today: str | None = None,
) -> dict[str, list[str]]:
    """Refresh the literature (when live) and resynthesise every protocol (all under DATA by
    default), each in its own flow run; fail at the end if anything failed."""
    logger = get_run_logger()
    ws = Workspace(Path(data), Path(processed), Path(reports))
    day = today_or(today)
    jobs, unplanned = batch.plan_all(ws, protocols)
    failures = [notify.Failure(o.name, o.error) for o in unplanned]
    found: dict[str, list[str]] = {}
    for job in jobs:
        name = part(job.protocol)
        state = protocol_refresh(
            job.protocol,
            str(job.workspace.data),
            str(job.workspace.processed),
            str(job.workspace.reports),
            live,
            day,
            return_state=True,
        )
        if state.is_completed():
            found[name] = state.result()
        else:
            failures.append(notify.Failure(name, reason(state)))
    stale = notify.stale_searches(load_state(ws.pubmed_cache / STATE_FILE)) if live else []
    for failure in failures:
        logger.error("%s failed: %s", failure.what, failure.error)
    if failures or stale:
        key = publish_failures(day, failures, stale)
        logger.warning("%d failure(s), %d stale search(es): see artifact %s",
                       len(failures), len(stale), key)
    if failures:
        total = len(jobs) + len(unplanned)
        named = ", ".join(f.what for f in failures)
        raise NightlyFailed(f"{len(failures)} of {total} protocol(s) failed: {named}")
    return found
