"""Run jobs through the Prefect flows, on the task runner asked for.

If Prefect's temporary server cannot be started (`flows.api.ServerUnavailable`), the run says
so in one line and runs the same jobs without the orchestrator: the outputs are the same, only
Prefect's record of the run is missing. A configured PREFECT_API_URL is never replaced this way:
a server the user named must answer, and Prefect's own error says why it did not.

With `processes` or `dask`, the protocols run on a pool of warm worker processes
(`evidence.runs.pools`) that this process starts first, so that the workers import the
synthesis while this process imports Prefect and the server starts; the flow's tasks only feed
that pool. The workers never import Prefect nor report to it: a Dask cluster's workers need this
project and the run's folders, not Prefect's API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from evidence import batch
from evidence.batch import Job
from evidence.runs.pools import Pool, pool_for
from evidence.runs.warmpool import warm
from flows import launch

if TYPE_CHECKING:
    from prefect.task_runners import TaskRunner


def task_runner_for(kind: str, workers: int, tasks: int = 1) -> TaskRunner:
    """The runner of `synthesize-many`'s `tasks` tasks (each a chunk of the protocols)."""
    from prefect.task_runners import ThreadPoolTaskRunner

    if kind == "serial":  # one worker thread: the protocols run one after another
        return ThreadPoolTaskRunner(max_workers=1)
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=workers)
    # processes, dask: the threads only feed the pool, which runs the protocols
    return ThreadPoolTaskRunner(max_workers=max(1, tasks))


def chunks_for(kind: str, workers: int) -> int:
    """How many Prefect tasks the protocols are split into.

    Tasks are threads of this process, each running its chunk of protocols (serial, threads) or
    feeding them to the pool: two per worker, so that a chunk that finishes early leaves no
    worker idle for long, and Prefect's cost per task is paid a few times, not per protocol.
    """
    return 2 * workers


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ready_flows(single: bool) -> None:
    """Import the flow this run calls and Prefect's flow engine (which Prefect loads at a flow's
    first call) now: with a temporary server, while that server starts rather than after."""
    import prefect.flow_engine  # noqa: F401

    if single:
        import flows.synthesize
    else:
        import flows.many  # noqa: F401


def run_orchestrated(
    jobs: list[Job],
    kind: str,
    workers: int,
    dask_address: str | None,
    wait: bool,
    wait_timeout: float | None = None,
    notice: Callable[[str], None] = say,
    early: launch.Launched | None = None,
    pool: Pool | None = None,
) -> list[list[Path]]:
    """`jobs` through Prefect's flows, with their outputs' paths in job order.

    `early`: Prefect's temporary server, and `pool`: the pool the jobs need (`pool_for`), if
    the caller started them already; else they start here, to boot while this process imports
    Prefect and the rest. Both are this run's to end.
    """
    if dask_address:
        kind, jobs = "dask", batch.absolute(jobs)
    early = early or launch.launch()
    try:
        pool = pool or pool_for(kind, workers, len(jobs), dask_address)
        if pool is None:
            warm()  # the synthesis runs in this process
        else:  # its processes import while the server starts too
            pool.start()
        ready_flows(single=pool is None and len(jobs) == 1)
    except BaseException:
        if early is not None:
            early.discard()
        if pool is not None:
            pool.close()
        raise
    from flows.api import ServerUnavailable

    try:
        with shared_api(early=early):
            if pool is not None:
                from flows.many import started_pools

                started_pools.append((kind, dask_address, pool))
            return run_flows(jobs, kind, workers, pool, wait, wait_timeout, dask_address)
    except ServerUnavailable as exc:  # raised only by the server's start, before any flow
        notice(f"{exc}: running without the orchestrator")
        outcomes = batch.run_each(
            jobs,
            1 if kind == "serial" else workers,
            wait=wait,
            on_wait=notice,
            wait_timeout=wait_timeout,
            pool=pool,
        )
        if not all(o.ok for o in outcomes):
            raise batch.ProtocolsFailed(outcomes) from None
        return [o.written for o in outcomes]
    finally:
        if pool is not None:  # taken and closed by the flow; else never used, or used above
            from flows.many import started_pools

            for i, (_, _, started) in enumerate(started_pools):
                if started is pool:
                    del started_pools[i]
                    break
            pool.close()


def run_flows(
    jobs: list[Job],
    kind: str,
    workers: int,
    pool: Pool | None,
    wait: bool,
    wait_timeout: float | None,
    dask_address: str | None = None,
) -> list[list[Path]]:
    """The flows themselves, on the API this process already has."""
    ws = jobs[0].workspace
    if pool is None and len(jobs) == 1:
        from flows.synthesize import synthesize

        written = synthesize(
            jobs[0].protocol,
            str(ws.data),
            str(ws.processed),
            str(ws.reports),
            wait,
            wait_timeout=wait_timeout,
        )
        return [[Path(p) for p in written]]
    from flows.many import synthesize_many

    size = pool.workers if pool is not None else workers
    tasks = chunks_for(kind, size)
    runner = task_runner_for(kind, workers, tasks)
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
        pool=kind if pool is not None else "",
        workers=size,
        dask_address=dask_address,
    )
    return [[Path(p) for p in r] for r in results]


@contextmanager
def shared_api(needed: bool = True, early: launch.Launched | None = None) -> Iterator[None]:
    """One temporary Prefect server for the flow and its threads.

    The server is started here rather than by Prefect so that it dies with this process even
    when the run is killed (see `flows.server`). A configured PREFECT_API_URL is used as it is,
    and then Prefect's server application is never imported here.
    `early`: the server's process, if `flows.launch` started it already (ended if not needed).
    """
    from flows.api import configured_api_url

    if not needed or configured_api_url():
        if early is not None:
            early.discard()
        yield
        return
    from flows.server import temporary_api

    with temporary_api(early):
        yield
