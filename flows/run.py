"""Run jobs through the Prefect flows, on the task runner asked for."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
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

    # One BLAS thread per worker process: with one process per core, more only oversubscribe
    # (measured here: 2.3x slower per protocol on 2 cores). Child processes inherit this.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
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

    ws = jobs[0].workspace
    if len(jobs) == 1:
        with shared_api():
            written = synthesize(
                jobs[0].protocol, str(ws.data), str(ws.processed), str(ws.reports), wait
            )
        return [[Path(p) for p in written]]
    runner = task_runner_for(kind, workers, dask_address)
    protocols = [j.protocol for j in jobs]
    with shared_api():  # each job writes PROCESSED/<protocol>/ and its report
        results = synthesize_many.with_options(task_runner=runner)(
            protocols, str(ws.data), str(ws.processed), str(ws.reports), wait, tasks=2 * workers
        )
    return [[Path(p) for p in r] for r in results]


@contextmanager
def shared_api(needed: bool = True) -> Iterator[None]:
    """One temporary Prefect server for the flow, its threads and its Dask worker processes.

    Without an API URL in their environment, each worker process would start a temporary server
    of its own (seen here: three servers for one run, and the run twice as slow as serial). The
    server is started here rather than by Prefect so that it dies with this process even when
    the run is killed (see `flows.server`). A configured PREFECT_API_URL is used as it is.
    """
    from flows.server import configured_api_url, temporary_api

    if not needed or configured_api_url():
        yield
        return
    with temporary_api():
        yield
