"""Run jobs through the Prefect flows, on the task runner asked for."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from evidence.batch import Job

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


def task_runner_for(kind: str, workers: int, dask_address: str | None) -> TaskRunner:
    from prefect.task_runners import ThreadPoolTaskRunner

    if kind == "serial":  # one worker thread: the protocols run one after another
        return ThreadPoolTaskRunner(max_workers=1)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    from prefect_dask import DaskTaskRunner

    if dask_address:
        return DaskTaskRunner(address=dask_address)
    return DaskTaskRunner(
        cluster_kwargs={
            "n_workers": workers,
            "threads_per_worker": 1,
            "processes": True,
            "dashboard_address": None,
        }
    )


def run_orchestrated(
    jobs: list[Job], kind: str, workers: int, dask_address: str | None, wait: bool
) -> list[list[Path]]:
    from flows.synthesize import synthesize, synthesize_many

    if len(jobs) == 1:
        ws = jobs[0].workspace
        written = synthesize(
            jobs[0].protocol, str(ws.data), str(ws.processed), str(ws.reports), wait
        )
        return [[Path(p) for p in written]]
    ws = jobs[0].workspace
    runner = task_runner_for(kind, workers, dask_address)
    protocols = [j.protocol for j in jobs]
    base = ws.processed.parent  # jobs write to PROCESSED/<protocol>/
    results = synthesize_many.with_options(task_runner=runner)(
        protocols, str(ws.data), str(base), str(ws.reports), wait
    )
    return [[Path(p) for p in r] for r in results]
