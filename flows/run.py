"""Run jobs through the Prefect flows, on the task runner asked for.

If Prefect's temporary server cannot be started (`flows.server.ServerUnavailable`), the run says
so in one line and runs the same jobs without the orchestrator: the outputs are the same, only
Prefect's record of the run is missing. A configured PREFECT_API_URL is never replaced this way:
a server the user named must answer, and Prefect's own error says why it did not.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from evidence import batch
from evidence.batch import Job
from evidence.runs.warmpool import WarmPool, warm
from evidence.runs.workspace import Workspace
from flows import launch

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


def task_runner_for(
    kind: str, workers: int, dask_address: str | None, tasks: int = 1
) -> TaskRunner:
    """The runner of `synthesize-many`'s `tasks` tasks (each a chunk of the protocols)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if kind == "serial":  # one worker thread: the protocols run one after another
        return ThreadPoolTaskRunner(max_workers=1)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":  # the threads only wait: the chunks run on the flow's warm pool
        return ThreadPoolTaskRunner(max_workers=max(1, tasks))
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
            "preload": ["flows.warm"],  # imports once per worker, as it starts
        }
    )


def chunks_for(kind: str, workers: int) -> int:
    """How many Prefect tasks the protocols are split into.

    A Prefect task costs a second or so in a Dask worker, more than a protocol's synthesis, so
    a cluster gets one task per worker, each running its share of the protocols in turn. On a
    warm process pool, tasks are threads in this process that feed the pool, cheap enough for
    two per worker (a chunk that finishes early leaves no process idle for long).
    """
    return workers if kind == "dask" else 2 * workers


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_orchestrated(
    jobs: list[Job],
    kind: str,
    workers: int,
    dask_address: str | None,
    wait: bool,
    wait_timeout: float | None = None,
    notice: Callable[[str], None] = say,
) -> list[list[Path]]:
    if dask_address:
        return run_on_cluster(jobs, workers, dask_address, wait, wait_timeout)
    early = launch.launch()  # the server boots while this process imports Prefect and the rest
    pool = None
    if len(jobs) == 1 or kind in ("serial", "threads"):  # the synthesis runs in this process
        warm()
    elif kind == "processes":  # the pool's processes import while the server starts too
        pool = WarmPool(min(workers, len(jobs))).start()
    from flows.server import ServerUnavailable

    try:
        with shared_api(early=early):
            if pool is not None:
                from flows.synthesize import started_pools

                started_pools.append(pool)
            return run_flows(jobs, kind, workers, None, wait, wait_timeout)
    except ServerUnavailable as exc:  # raised only by the server's start, before any flow
        notice(f"{exc}: running without the orchestrator")
    finally:
        if pool is not None:  # taken and closed by the flow; else never used
            from flows.synthesize import started_pools

            if pool in started_pools:
                started_pools.remove(pool)
            pool.close()
    n = 1 if kind == "serial" else workers
    if kind != "processes":
        return batch.run_jobs(jobs, n, wait=wait, on_wait=notice, wait_timeout=wait_timeout)
    outcomes = batch.run_each(jobs, n, wait=wait, wait_timeout=wait_timeout, processes=True)
    if not all(o.ok for o in outcomes):
        raise batch.ProtocolsFailed(outcomes)
    return [o.written for o in outcomes]


def run_flows(
    jobs: list[Job],
    kind: str,
    workers: int,
    dask_address: str | None,
    wait: bool,
    wait_timeout: float | None,
) -> list[list[Path]]:
    """The flows themselves, on the API this process already has."""
    from flows.synthesize import synthesize, synthesize_many

    ws = jobs[0].workspace
    if len(jobs) == 1 and not dask_address:
        written = synthesize(
            jobs[0].protocol,
            str(ws.data),
            str(ws.processed),
            str(ws.reports),
            wait,
            wait_timeout=wait_timeout,
        )
        return [[Path(p) for p in written]]
    tasks = chunks_for(kind, workers)
    runner = task_runner_for(kind, workers, dask_address, tasks)
    protocols = [j.protocol for j in jobs]
    # each job writes PROCESSED/<protocol>/ and its report
    results = synthesize_many.with_options(task_runner=runner)(
        protocols,
        str(ws.data),
        str(ws.processed),
        str(ws.reports),
        wait,
        tasks=tasks,
        wait_timeout=wait_timeout,
        processes=workers if kind == "processes" else 0,
    )
    return [[Path(p) for p in r] for r in results]


CLUSTER_NEEDS = (
    "--dask-address: the Dask workers report to Prefect, so they need a Prefect server they can "
    "reach that outlives this run; start one (`prefect server start --host 0.0.0.0`) and set "
    "PREFECT_API_URL=http://HOST:4200/api here"
)


def cluster_api_url() -> str:
    """The configured Prefect API the cluster's workers will use; refused if there is none."""
    from prefect.server.api.server import SubprocessASGIServer

    from flows.server import configured_api_url

    url = configured_api_url()
    temporary = {s.api_url for s in SubprocessASGIServer._instances.values() if s.port}
    if not url:
        raise ValueError(f"{CLUSTER_NEEDS} (it is not set)")
    if url in temporary:
        raise ValueError(f"{CLUSTER_NEEDS} ({url} is this process's temporary server)")
    return url


def absolute(jobs: list[Job]) -> list[Job]:
    """The jobs with every path absolute: a remote worker's working directory is not ours."""

    def resolved(ws: Workspace) -> Workspace:
        return Workspace(ws.data.resolve(), ws.processed.resolve(), ws.reports.resolve())

    return [
        replace(j, protocol=str(Path(j.protocol).resolve()), workspace=resolved(j.workspace))
        for j in jobs
    ]


def run_on_cluster(
    jobs: list[Job], workers: int, address: str, wait: bool, wait_timeout: float | None
) -> list[list[Path]]:
    """The jobs as tasks on an existing Dask cluster, whose workers share our filesystem.

    Every path the workers get is absolute, and the API they report to is the configured one:
    a temporary server would end with this process while the workers still point at it.
    """
    cluster_api_url()
    return run_flows(absolute(jobs), "dask", workers, address, wait, wait_timeout)


@contextmanager
def shared_api(needed: bool = True, early: launch.Launched | None = None) -> Iterator[None]:
    """One temporary Prefect server for the flow, its threads and its Dask worker processes.

    Without an API URL in their environment, each worker process would start a temporary server
    of its own (seen here: three servers for one run, and the run twice as slow as serial). The
    server is started here rather than by Prefect so that it dies with this process even when
    the run is killed (see `flows.server`). A configured PREFECT_API_URL is used as it is.
    `early`: the server's process, if `flows.launch` started it already (ended if not needed).
    """
    from flows.server import configured_api_url, temporary_api

    if not needed or configured_api_url():
        if early is not None:
            early.discard()
        yield
        return
    with temporary_api(early):
        yield
