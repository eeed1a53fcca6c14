"""Several protocols in one run, without an orchestrator: serially or on threads.

Each protocol writes only its own folders (`PROCESSED/<protocol>/`, `REPORTS/<protocol>/`, and a
new `PROCESSED/runs/<run-id>/`) under its own lock, so runs of different protocols never write
the same file.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from evidence.inputs.protocol import load_protocol
from evidence.pipeline import protocol_id, synthesize
from evidence.runs.runlock import protocol_lock
from evidence.runs.workspace import Workspace


@dataclass(frozen=True)
class Job:
    """One protocol's synthesis: which file, and where it writes."""

    protocol: str
    workspace: Workspace


def plan(ws: Workspace, protocols: list[str] | None) -> list[Job]:
    paths = ws.protocol_paths(protocols)
    ids = [load_protocol(p).protocol_id for p in paths]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"protocol ids given more than once: {', '.join(dupes)}")
    if len(paths) == 1:
        return [Job(str(paths[0]), ws)]
    return [Job(str(p), ws.for_protocol(i)) for p, i in zip(paths, ids, strict=True)]


def run_job(
    job: Job,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
) -> list[Path]:
    """One protocol's synthesis under its run lock (which `synthesize` expects held)."""
    pid = protocol_id(job.workspace, job.protocol)
    with protocol_lock(
        job.workspace.processed, pid, wait=wait, timeout=wait_timeout, on_wait=on_wait
    ):
        return synthesize(job.workspace, job.protocol)


def run_jobs(
    jobs: list[Job],
    workers: int = 1,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
) -> list[list[Path]]:
    """Run each job; with workers > 1 on a thread pool. Results come back in job order."""
    if workers <= 1 or len(jobs) == 1:
        return [run_job(job, wait, on_wait, wait_timeout) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda j: run_job(j, wait, on_wait, wait_timeout), jobs))
