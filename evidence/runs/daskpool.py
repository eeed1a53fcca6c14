"""A Dask cluster used as a pool of warm worker processes for protocols.

Each protocol goes to a worker as one plain call (`batch.run_one`), not as a Prefect task: a
worker needs the synthesis and nothing of Prefect, so it spends no seconds importing Prefect,
needs no Prefect API to report to, and runs no task engine per call. Whoever feeds the pool (a
flow's tasks, or a run without the orchestrator) records what ran, as with a `WarmPool`.

A local cluster's workers import the synthesis as they start (`dask_setup`, named in the
cluster's preload), and the cluster itself starts in a thread of its own (`start`), so both
happen while this process goes on with its own imports. An existing cluster (`address`) is
used as it is: its workers import on their first protocol, once per process.

A worker that dies (killed, out of memory, a crash) is replaced; the protocol it was running is
tried once more on another worker, and fails with `died(item)` if that worker dies too, as with
a `WarmPool`. The other protocols are not affected.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from evidence.runs.warmpool import WARM_MODULES, one_blas_thread, warm

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

T = TypeVar("T")
R = TypeVar("R")

# A protocol whose worker dies is tried once more elsewhere; a second death is its own failure.
ALLOWED_FAILURES = 1
# A local cluster's own bookkeeping, made rare: by default each worker's event loop wakes every
# 20 ms to time itself, and samples memory and the system several times a second, each time
# taking the interpreter lock from the protocol it runs. Measured here: 15-20% longer per
# protocol, and a fifth more CPU for the whole run, than with these.
QUIET = {
    "distributed.worker.profile.enabled": False,  # no stack sampler in the workers
    "distributed.admin.tick.interval": "2s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "2s",
}


def dask_setup(worker: Any) -> None:
    """A local cluster's preload: the synthesis imported as the worker starts."""
    warm(WARM_MODULES)


class DaskPool:
    """Protocols on a Dask cluster: a local one of `workers` processes, or the one at `address`.

    Safe to use from several threads at once (one Prefect task per chunk of protocols).
    """

    def __init__(self, workers: int, address: str | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected at least 1, got {workers}")
        self.workers = workers
        self.address = address
        self._client: Client | None = None
        self._cluster: LocalCluster | None = None
        self._error: BaseException | None = None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._starter: threading.Thread | None = None

    def start(self) -> DaskPool:
        """Start the cluster (or connect to it) in a thread: its workers import meanwhile."""
        with self._lock:  # one cluster, however many threads ask at once
            if self._starter is None:
                self._starter = threading.Thread(
                    target=self._connect, name="dask-pool", daemon=True
                )
                self._starter.start()
        return self

    def _connect(self) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster

            if self.address:
                self._client = Client(self.address, set_as_default=False)
                return
            one_blas_thread()  # one process per core: more BLAS threads only oversubscribe
            settings = {
                "distributed.scheduler.allowed-failures": ALLOWED_FAILURES,
                # A worker holds only the protocol it runs: one queued there as well would be
                # counted against when the worker dies, and fail for its neighbour's crash.
                "distributed.scheduler.worker-saturation": 1.0,
                **QUIET,
            }
            with dask.config.set(settings):
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=None,
                    preload=[__name__],
                    silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster, set_as_default=False)
        except BaseException as exc:  # told to whoever runs protocols on the pool
            self._error = exc
        finally:
            self._ready.set()

    def client(self) -> Client:
        """The connected client, once the cluster is up; its start's error if it failed."""
        self.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        assert self._client is not None
        return self._client

    def run(self, fn: Callable[[T], R], items: Sequence[T], died: Callable[[T], R]) -> list[R]:
        """`fn(item)` for each item on the cluster's workers; results in item order.

        `fn` must return rather than raise (failures described in its result): a worker's
        death, twice, is the one failure told here, as `died(item)`.
        """
        from distributed import KilledWorker

        futures = self.client().map(fn, items, pure=False)
        results: list[R] = []
        for item, future in zip(items, futures, strict=True):
            try:
                results.append(future.result())
            except KilledWorker:
                results.append(died(item))
        return results

    def close(self) -> None:
        if self._starter is None:
            return
        self._ready.wait()
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def __enter__(self) -> DaskPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
