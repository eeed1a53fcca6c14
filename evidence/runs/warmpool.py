"""Warm worker processes for many protocols: each imports the synthesis once, not per protocol.

Threads share one interpreter lock, and a protocol's synthesis is mostly Python (tables, fits,
figures), so on threads two protocols take about as long as one after the other. Processes run
side by side, but a fresh process spends seconds importing pandas, scipy, statsmodels and the
figure renderer: paid once per protocol, that eats the gain. A `WarmPool` starts its processes
once, imports `WARM_MODULES` in each as it starts (`warm`), and then feeds them protocols:
the imports are paid once per process, not once per protocol.

Processes are spawned, never forked: a fork would copy whatever threads the parent runs (Prefect's
own, in an orchestrated run) mid-state, and would miss environment changes made after a fork
server started. Each spawned process starts from the parent's environment as it is then.

A process that dies (killed, out of memory, a crash in native code) breaks the whole pool, and
every protocol in flight with it. Those protocols run again, each alone in a fresh process, so
only the one that kills its process again is reported as failed (`WarmPool.run`'s `died`).
"""

from __future__ import annotations

import importlib
import os
import sys
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TypeVar, cast

from evidence.runs.heap import settle

T = TypeVar("T")
R = TypeVar("R")

# What every protocol's synthesis imports. A step that imports more on first use (a figure
# renderer, a fit) does so once per process too: the processes outlive their protocols.
WARM_MODULES = ("evidence.pipeline",)
# The BLAS libraries' own threads: with one process per core, more only oversubscribe.
ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def warm(modules: Sequence[str] = WARM_MODULES) -> None:
    """A worker process's first act: the imports every protocol it runs will need, then the
    collector settled for synthesis (`evidence.runs.heap`), as a run in one process has it."""
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # the protocol that needs it fails, naming it, as in one process
            continue
    settle()


def one_blas_thread() -> None:
    """Worker processes started from now on use one BLAS thread each (`ONE_THREAD`), unless the
    caller's environment says otherwise."""
    for var in ONE_THREAD:
        os.environ.setdefault(var, "1")


def say(message: str) -> None:
    """A lock wait in a worker process, told on the run's standard error as in one process."""
    print(message, file=sys.stderr, flush=True)


class WarmPool:
    """`workers` warm processes, shared by every `run` until the pool is closed.

    Safe to use from several threads at once (one Prefect task per chunk of protocols).
    """

    def __init__(self, workers: int, modules: Sequence[str] = WARM_MODULES) -> None:
        if workers < 1:
            raise ValueError(f"workers: expected at least 1, got {workers}")
        self.workers = workers
        self.modules = tuple(modules)
        self._lock = threading.Lock()
        self._started = False
        self._executor = self._start(workers)

    def _start(self, workers: int) -> ProcessPoolExecutor:
        one_blas_thread()
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=warm,
            initargs=(self.modules,),
        )

    def start(self) -> WarmPool:
        """Start the processes now (their imports begin), not at the first protocol; once."""
        with self._lock:  # a pool spawns a process per job while none is idle
            if not self._started:
                self._started = True
                for _ in range(self.workers):
                    self._executor.submit(int)
        return self

    def _submit(self, fn: Callable[[T], R], item: T) -> tuple[ProcessPoolExecutor, Future[R]]:
        with self._lock:
            try:
                return self._executor, self._executor.submit(fn, item)
            except BrokenProcessPool:
                self._executor.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start(self.workers)
                return self._executor, self._executor.submit(fn, item)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        """A fresh pool for later protocols, once, however many threads saw it break."""
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start(self.workers)

    def run(self, fn: Callable[[T], R], items: Sequence[T], died: Callable[[T], R]) -> list[R]:
        """`fn(item)` for each item in the pool's processes; results in item order.

        `fn` must return rather than raise (failures described in its result): an exception
        here can only mean its process died, and `died(item)` stands for the result of an item
        whose process died again when it ran alone.
        """
        submitted = [self._submit(fn, item) for item in items]
        results: list[R | None] = []
        again: list[int] = []
        for i, (executor, future) in enumerate(submitted):
            try:
                results.append(future.result())
            except BrokenProcessPool:
                self._replace(executor)
                results.append(None)
                again.append(i)
        for i in again:  # alone, so that one crash is not blamed on its neighbours
            results[i] = alone(fn, items[i], died, self.modules)
        return cast(list[R], results)

    def close(self) -> None:
        with self._lock:
            self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> WarmPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def alone(fn: Callable[[T], R], item: T, died: Callable[[T], R], modules: Sequence[str]) -> R:
    """`fn(item)` in a process of its own; `died(item)` if that process dies too."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=warm,
                             initargs=(tuple(modules),)) as one:  # fmt: skip
        try:
            return one.submit(fn, item).result()
        except BrokenProcessPool:
            return died(item)
