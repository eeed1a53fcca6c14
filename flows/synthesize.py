"""The synthesis as Prefect flows: each task wraps one library step, nothing more."""

from __future__ import annotations

import re
from contextlib import ExitStack
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from evidence import batch, pipeline
from evidence.runs.runlock import protocol_lock
from evidence.runs.warmpool import WarmPool
from evidence.runs.workspace import Workspace
from flows.options import PROTOCOL_TIMEOUT, synthesize_run_name

# Steps pass DataFrames and results between them within a run; nothing to reuse across runs.
recover_outputs = task(pipeline.recover_outputs, name="recover-outputs", cache_policy=NO_CACHE)
load = task(pipeline.load, name="load", cache_policy=NO_CACHE)
load_context = task(pipeline.load_context, name="load-context", cache_policy=NO_CACHE)
tabulate = task(pipeline.tabulate, name="tabulate", cache_policy=NO_CACHE)
pool = task(pipeline.pool, name="pool", cache_policy=NO_CACHE)
rate = task(pipeline.rate, name="rate", cache_policy=NO_CACHE)
report = task(pipeline.report, name="report", cache_policy=NO_CACHE)
write_outputs = task(pipeline.write_outputs, name="write-outputs", cache_policy=NO_CACHE)
run_each = task(batch.run_each, name="synthesize-protocols", cache_policy=NO_CACHE)


# A warm pool `flows.run` started before the flow, while Prefect's server started: taken (and
# closed) by the `synthesize-many` run that wants that many processes.
started_pools: list[WarmPool] = []


def warm_pool(workers: int) -> WarmPool:
    """A pool of `workers` warm processes: one started already, else a new one."""
    for i, ready in enumerate(started_pools):
        if ready.workers == workers:
            return started_pools.pop(i)
    return WarmPool(workers)


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys allow lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def publish(protocol_id: str, outputs: pipeline.RunOutputs) -> None:
    create_markdown_artifact(
        markdown=f"# {protocol_id}: run {outputs.run_id}\n\n{outputs.changes_md}",
        key=artifact_key(protocol_id, "changes"),
        description="What changed since the previous run",
    )
    create_table_artifact(
        table=outputs.ratings,
        key=artifact_key(protocol_id, "ratings"),
        description="Evidence level per indication, with reasons",
    )


@flow(name="synthesize", flow_run_name=synthesize_run_name, timeout_seconds=PROTOCOL_TIMEOUT)
def synthesize(
    protocol: str | None = None,
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    wait: bool = False,
    wait_timeout: float | None = None,
) -> list[str]:
    """recover → load → tabulate → pool → rate → report, under the protocol's run lock.

    Recovery comes before anything is read, so that a run killed while publishing counts as
    published when this one reads the history.
    """
    ws = Workspace(Path(data), Path(processed), Path(reports))
    pid = pipeline.protocol_id(ws, protocol)
    with protocol_lock(ws.processed, pid, wait=wait, timeout=wait_timeout):
        for note in recover_outputs(ws, pid):
            get_run_logger().warning(note)
        snapshot = load(ws, protocol)
        ctx = load_context(ws, snapshot)
        tab = tabulate(snapshot)
        analyses = pool(snapshot, tab)
        ratings = rate(snapshot, tab, analyses, ws.data / snapshot.protocol.rating.rule_set)
        outputs = report(snapshot, tab, analyses, ratings, ctx, pipeline.figure_cache_folder(ws))
        written = write_outputs(ws, outputs)
    publish(snapshot.protocol.protocol_id, outputs)
    return [str(p) for p in written]


@flow(name="synthesize-many")
def synthesize_many(
    protocols: list[str],
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    wait: bool = False,
    tasks: int = 4,
    wait_timeout: float | None = None,
    processes: int = 0,
) -> list[list[str]]:
    """Several protocols at once, on whichever task runner the caller gives this flow.

    Protocols go to at most `tasks` tasks (a few per worker): each task costs Prefect a second
    or so in a worker process, more than a protocol's synthesis itself. With `processes`, the
    tasks run the protocols on that many warm worker processes of this flow's own (the task
    runner's threads only wait for them). A protocol that fails stops no other; once all have
    run, `batch.ProtocolsFailed` names the failed ones.
    """
    ws = Workspace(Path(data), Path(processed), Path(reports))
    jobs = batch.plan(ws, protocols)
    n = max(1, min(tasks, len(jobs)))
    chunks = [jobs[i::n] for i in range(n)]
    with ExitStack() as stack:
        pool = stack.enter_context(warm_pool(min(processes, len(jobs)))) if processes else None
        futures = [
            run_each.submit(chunk, wait=wait, wait_timeout=wait_timeout, pool=pool)
            for chunk in chunks
        ]
        done = [f.result() for f in futures]
    results = {
        id(j): r
        for chunk, got in zip(chunks, done, strict=True)
        for j, r in zip(chunk, got, strict=True)
    }
    outcomes = [results[id(j)] for j in jobs]
    for outcome in outcomes:
        if not outcome.ok:
            get_run_logger().error("%s failed: %s", outcome.name, outcome.error)
    if not all(o.ok for o in outcomes):
        raise batch.ProtocolsFailed(outcomes)
    return [[str(p) for p in o.written] for o in outcomes]
