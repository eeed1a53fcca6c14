"""Several protocols in one flow: `synthesize-many`, its tasks feeding a pool or running alone.

Nothing here imports the synthesis: with a pool, this process only feeds worker processes that
have imported it themselves.
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from evidence import batch
from evidence.runs.pools import Pool, open_pool, pool_size
from evidence.runs.workspace import Workspace

run_each = task(batch.run_each, name="synthesize-protocols", cache_policy=NO_CACHE)

# Pools `flows.run` started before the flow, while Prefect's server started: taken (and closed)
# by the `synthesize-many` run that wants that kind and size of pool.
started_pools: list[tuple[str, str | None, Pool]] = []


def take_pool(kind: str, workers: int, address: str | None) -> Pool:
    """A pool of `kind` with at least `workers` processes: one started already (sized by the
    protocol files, of which some may not have loaded), else a new one."""
    for i, (k, at, ready) in enumerate(started_pools):
        if (k, at) == (kind, address) and ready.workers >= workers:
            return started_pools.pop(i)[2]
    return open_pool(kind, workers, address).start()


@flow(name="synthesize-many")
def synthesize_many(
    protocols: list[str],
    data: str = "data/raw",
    processed: str = "data/processed",
    reports: str = "reports",
    wait: bool = False,
    tasks: int = 4,
    wait_timeout: float | None = None,
    pool: str = "",
    workers: int = 1,
    dask_address: str | None = None,
) -> list[list[str]]:
    """Several protocols at once, their chunks as tasks on the caller's task runner.

    Protocols go to at most `tasks` tasks (a few per worker), so that Prefect's cost per task is
    paid a few times, not once per protocol. With `pool` ('processes' or 'dask', see
    `evidence.runs.pools`), the tasks only feed that pool of `workers` warm processes (or the
    Dask cluster at `dask_address`), which runs the protocols side by side; without, each task
    runs its chunk itself. A protocol that fails stops no other; once all have run,
    `batch.ProtocolsFailed` names the failed ones.
    """
    ws = Workspace(Path(data), Path(processed), Path(reports))
    jobs = batch.plan(ws, protocols)
    n = max(1, min(tasks, len(jobs)))
    chunks = [jobs[i::n] for i in range(n)]
    with ExitStack() as stack:
        chosen = None
        if pool:
            size = pool_size(workers, len(jobs), dask_address)
            chosen = stack.enter_context(take_pool(pool, size, dask_address))
        futures = [
            run_each.submit(chunk, wait=wait, wait_timeout=wait_timeout, pool=chosen)
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
