"""Several protocols in one run, without an orchestrator: serially, on threads, or on a pool of
warm worker processes (`evidence.runs.pools`: this machine's, or a Dask cluster's), which alone
run protocols truly side by side.

Each protocol writes only its own folders (`PROCESSED/<protocol>/`, `REPORTS/<protocol>/`, and a
new `PROCESSED/runs/<run-id>/`) under its own lock, so runs of different protocols never write
the same file. One protocol's failure never stops the others (`plan_all`, `run_each`): it is
named at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.inputs.protocol import load_protocol
from evidence.runs.runlock import protocol_lock
from evidence.runs.workspace import Workspace

if TYPE_CHECKING:
    from evidence.runs.pools import Pool

DIED = "its worker process died (killed, out of memory or a crash); the other protocols ran"


@dataclass(frozen=True)
class Job:
    """One protocol's synthesis: which file, and where it writes."""

    protocol: str
    workspace: Workspace


@dataclass(frozen=True)
class Outcome:
    """What became of one protocol: the files it wrote, or why it failed."""

    protocol: str
    written: list[Path] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def name(self) -> str:
        """The protocol as an operator knows it: the file's stem."""
        return Path(self.protocol).stem


class ProtocolsFailed(RuntimeError):
    """Some protocols failed after every other one had run; the message names each, and
    `outcomes` holds every protocol's outcome, in job order."""

    def __init__(self, outcomes: list[Outcome]) -> None:
        self.outcomes = list(outcomes)
        super().__init__(failure_summary([o for o in outcomes if not o.ok], len(outcomes)))

    def __reduce__(self) -> tuple[type, tuple[list[Outcome]]]:
        return (type(self), (self.outcomes,))


def describe(exc: BaseException, plain: tuple[type[BaseException], ...] = ()) -> str:
    """One line for an operator: the message, with the kind of error when it is unexpected.

    The one wording of a failure for the CLI, the batch and the flows: `plain` adds the
    caller's own errors whose message says it all (the nightly flow's, `flows.nightly.reason`).
    """
    from evidence.runs.runlock import RunLocked

    text = str(exc) or type(exc).__name__
    # the inputs' and protocols' own errors (InvalidInputs, ProtocolError) are ValueErrors;
    # not importing them keeps pandas out of a process that only feeds a pool
    expected = (ValueError, RunLocked, OSError, *plain)
    if isinstance(exc, expected):
        return text
    return f"{type(exc).__name__}: {text}"


def headline(error: str, limit: int = 160) -> str:
    """An error's first line, cut short: invalid inputs can list hundreds of problems."""
    lines = error.strip().splitlines()
    first = lines[0] if lines else ""
    return first if len(first) <= limit else first[: limit - 1] + "…"


def failure_summary(failed: list[Outcome], total: int) -> str:
    """'1 of 2 protocol(s) failed: broken (why)', the line a CLI or a flow ends with."""
    named = "; ".join(f"{o.name} ({headline(o.error)})" for o in failed)
    return f"{len(failed)} of {total} protocol(s) failed: {named}"


def protocol_files(ws: Workspace, protocols: list[str] | None) -> list[Path]:
    """The protocols given; with none, every protocol file under DATA/protocols/."""
    if protocols:
        return ws.protocol_paths(protocols)
    found = sorted((ws.data / "protocols").glob("*.yaml"))
    return found or [ws.protocol_path(None)]  # none: the workspace's own error names the folder


def plan(ws: Workspace, protocols: list[str] | None) -> list[Job]:
    """Every protocol as a job; any protocol that cannot be loaded stops the plan."""
    jobs, _ = plan_all(ws, protocols, strict=True)
    return jobs


def plan_all(
    ws: Workspace, protocols: list[str] | None, strict: bool = False
) -> tuple[list[Job], list[Outcome]]:
    """Jobs for the protocols that load, and an Outcome naming each one that does not.

    With `strict`, the first protocol that cannot be loaded raises instead.
    """
    paths = protocol_files(ws, protocols)
    ids: dict[str, Path] = {}
    good: list[tuple[Path, str]] = []
    failed: list[Outcome] = []
    for path in paths:
        try:
            pid = load_protocol(path).protocol_id
        except Exception as exc:
            if strict:
                raise
            failed.append(Outcome(str(path), error=describe(exc)))
            continue
        if pid in ids:
            if strict:
                raise ValueError(f"protocol ids given more than once: {pid}")
            failed.append(Outcome(str(path), error=f"protocol id {pid} is also in {ids[pid]}"))
            continue
        ids[pid] = path
        good.append((path, pid))
    if len(paths) == 1 and good:
        return [Job(str(good[0][0]), ws)], failed
    return [Job(str(p), ws.for_protocol(i)) for p, i in good], failed


def absolute(jobs: list[Job]) -> list[Job]:
    """The jobs with every path absolute: a remote worker's working directory is not ours."""

    def resolved(ws: Workspace) -> Workspace:
        return Workspace(ws.data.resolve(), ws.processed.resolve(), ws.reports.resolve())

    return [
        replace(j, protocol=str(Path(j.protocol).resolve()), workspace=resolved(j.workspace))
        for j in jobs
    ]


def run_job(
    job: Job,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
) -> list[Path]:
    """One protocol's synthesis under its run lock (which `synthesize` expects held).

    The synthesis is imported here, not with this module: a run that hands its protocols to
    worker processes never needs it itself.
    """
    from evidence.pipeline import protocol_id, synthesize

    pid = protocol_id(job.workspace, job.protocol)
    with protocol_lock(
        job.workspace.processed, pid, wait=wait, timeout=wait_timeout, on_wait=on_wait
    ):
        return synthesize(job.workspace, job.protocol)


def run_one(
    job: Job,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
) -> Outcome:
    """`run_job`, with its failure caught and described, so that the next job still runs."""
    try:
        return Outcome(job.protocol, run_job(job, wait, on_wait, wait_timeout))
    except Exception as exc:
        return Outcome(job.protocol, error=describe(exc))


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


def run_each(
    jobs: list[Job],
    workers: int = 1,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
    pool: Pool | None = None,
) -> list[Outcome]:
    """Like `run_jobs`, but every job runs whatever the others do; outcomes in job order.

    With `pool` (`evidence.runs.pools`), the jobs run on its worker processes; a lock wait there
    is told on standard error, as `on_wait` cannot cross into another process.
    """
    if pool is not None:
        return run_in_pool(jobs, pool, wait, wait_timeout)
    if workers <= 1 or len(jobs) <= 1:
        return [run_one(job, wait, on_wait, wait_timeout) for job in jobs]
    with ThreadPoolExecutor(max_workers=workers) as threads:
        return list(threads.map(lambda j: run_one(j, wait, on_wait, wait_timeout), jobs))


def died(job: Job) -> Outcome:
    return Outcome(job.protocol, error=DIED)


def run_in_pool(
    jobs: list[Job], pool: Pool, wait: bool, wait_timeout: float | None
) -> list[Outcome]:
    from evidence.runs.warmpool import say

    one = partial(run_one, wait=wait, on_wait=say, wait_timeout=wait_timeout)
    return pool.run(one, jobs, died)
