"""One protocol's synthesis as a Prefect flow: each task wraps one library step, nothing more.

Several protocols in one flow: `flows.many`.
"""

from __future__ import annotations

import re
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from evidence import pipeline
from evidence.runs.runlock import protocol_lock
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
