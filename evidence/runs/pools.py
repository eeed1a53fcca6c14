"""Where many protocols run side by side: warm processes of this machine, or a Dask cluster.

Both are pools of long-lived worker processes that import the synthesis once and then take
protocol after protocol; the caller (a run without the orchestrator, or a flow's tasks) feeds
them and records what ran.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")

# The task runners whose protocols run on a pool (the others run in the calling process).
POOL_KINDS = ("processes", "dask")


class Pool(Protocol):
    """Worker processes shared by every `run` until the pool is closed."""

    workers: int

    def start(self) -> Pool: ...

    def run(self, fn: Callable[[T], R], items: Sequence[T], died: Callable[[T], R]) -> list[R]: ...

    def close(self) -> None: ...

    def __enter__(self) -> Pool: ...

    def __exit__(self, *exc: object) -> None: ...


def open_pool(kind: str, workers: int, address: str | None = None) -> Pool:
    """A pool of `kind` ('processes' or 'dask'), not yet started; `address`: a Dask scheduler's."""
    if kind == "processes" and not address:
        from evidence.runs.warmpool import WarmPool

        return WarmPool(workers)
    if kind in POOL_KINDS:
        from evidence.runs.daskpool import DaskPool

        return DaskPool(workers, address)
    raise ValueError(f"no pool for task runner {kind!r}: expected one of {', '.join(POOL_KINDS)}")


def pool_size(workers: int, jobs: int, address: str | None = None) -> int:
    """The workers a pool of `jobs` protocols gets: a cluster's as asked, a local pool's no more
    than it has protocols."""
    return max(1, workers) if address else max(1, min(workers, jobs))


def pool_for(kind: str, workers: int, jobs: int, address: str | None = None) -> Pool | None:
    """The pool `jobs` protocols run on (not yet started), or None when they run in the caller.

    A Dask scheduler's `address` always means its cluster; otherwise a pool pays only for two
    or more protocols on two or more workers.
    """
    if address:
        return open_pool("dask", pool_size(workers, jobs, address), address)
    if kind in POOL_KINDS and jobs > 1 and workers > 1:
        return open_pool(kind, pool_size(workers, jobs))
    return None
