"""The synthesis as a Prefect flow: each task wraps one library step."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task

from evidence import pipeline
from evidence.workspace import Workspace

load = task(pipeline.load, name="load")
tabulate = task(pipeline.tabulate, name="tabulate")
pool = task(pipeline.pool, name="pool")
rate = task(pipeline.rate, name="rate")
report = task(pipeline.report, name="report")
write_outputs = task(pipeline.write_outputs, name="write-outputs")


@flow(name="synthesize")
def synthesize(
    protocol: str | None = None,
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
) -> list[str]:
    ws = Workspace(Path(data), Path(processed), Path(reports))
    snapshot = load(ws, protocol)
    tab = tabulate(snapshot)
    analyses = pool(snapshot, tab)
    ratings = rate(snapshot, analyses, ws.data / snapshot.protocol.rating.rule_set)
    return [str(p) for p in write_outputs(ws, report(snapshot, tab, analyses, ratings))]
