"""One run at a time per protocol's outputs: an advisory lock the OS drops when the holder dies.

A run that waits for the lock says whose it is (pid, since when) as it starts waiting and every
`REMIND_SECONDS` after, and gives up after `lock_timeout()` seconds naming the holder, so a run
left holding it (hung, or a long run on a shared machine) never makes another wait unseen.
"""

from __future__ import annotations

import fcntl
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from evidence.safepath import check_id, entry_inside

LOCK_FILE = ".evidence.lock"
# How long a waiting run waits for a lock unless told otherwise, and the variable that tells it.
DEFAULT_LOCK_TIMEOUT = 3600.0
LOCK_TIMEOUT_ENV = "EVIDENCE_LOCK_TIMEOUT"
# How often a waiting run repeats who it is waiting for.
REMIND_SECONDS = 30.0

log = logging.getLogger(__name__)


class RunLocked(RuntimeError):
    """Another run holds the lock."""


class BadLockTimeout(RunLocked, ValueError):
    """The wait's limit is not a number of seconds (reported wherever a busy lock is)."""


def lock_timeout(seconds: float | None = None) -> float:
    """How long a wait for a held lock lasts: `seconds`, else EVIDENCE_LOCK_TIMEOUT, else 3600."""
    if seconds is None:
        text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
        if not text:
            return DEFAULT_LOCK_TIMEOUT
        try:
            seconds = float(text)
        except ValueError:
            raise BadLockTimeout(
                f"{LOCK_TIMEOUT_ENV}={text!r}: expected a number of seconds"
            ) from None
        where = LOCK_TIMEOUT_ENV
    else:
        where = "the lock wait timeout"
    if not math.isfinite(seconds) or seconds < 0:
        raise BadLockTimeout(f"{where}: expected a number of seconds >= 0, got {seconds:g}")
    return float(seconds)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another run"
    return f"run by pid {info.get('pid', '?')} started {info.get('started', '?')}"


def protocol_lock_name(protocol_id: str) -> str:
    """The lock of one protocol's outputs: PROCESSED/.evidence-<id>.lock, beside its folders."""
    return f".evidence-{check_id(protocol_id, 'protocol_id')}.lock"


def acquire(
    fd: int,
    shared: bool,
    wait: bool,
    timeout: float | None,
    busy: Callable[[], str],
    waiting: Callable[[float], None] | None = None,
    poll: float = 0.2,
    remind: float = REMIND_SECONDS,
) -> None:
    """Lock the open file `fd` (shared or exclusive), polling while another holder has it.

    Without `wait`, or past `timeout` seconds, raise RunLocked with `busy()`; `waiting(waited)`
    is called when the first wait begins (waited = 0) and every `remind` seconds after.
    """
    op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    start = time.monotonic()
    deadline = None if timeout is None else start + timeout
    next_note = start
    while True:
        try:
            fcntl.flock(fd, op)
            return
        except BlockingIOError:
            now = time.monotonic()
            if not wait or (deadline is not None and now >= deadline):
                raise RunLocked(busy()) from None
            if waiting is not None and now >= next_note:
                waiting(now - start)
                next_note = now + remind
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - now)))


@contextmanager
def run_lock(
    directory: Path,
    wait: bool = False,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
    name: str = LOCK_FILE,
) -> Iterator[Path]:
    """Hold DIR/<name> for the duration; wait for it, or fail at once naming the holder.

    A wait lasts at most `timeout` seconds (default `lock_timeout()`); who holds the lock is
    told to `on_wait` (default: this module's logger) as the wait starts and every
    REMIND_SECONDS after.
    """
    directory = Path(directory)
    limit = lock_timeout(timeout) if wait else None
    directory.mkdir(parents=True, exist_ok=True)
    path = entry_inside(directory, name)
    note = on_wait if on_wait is not None else log.warning
    started: list[bool] = []

    def waiting(waited: float) -> None:
        if not started:
            started.append(True)
            note(
                f"{directory}: waiting for the {_holder(path)} to finish "
                f"(giving up after {limit:g} s)"
            )
        else:
            note(
                f"{directory}: still waiting for the {_holder(path)} "
                f"({waited:.0f} s so far, giving up after {limit:g} s)"
            )

    def busy() -> str:
        if not wait:
            return (
                f"{directory}: {_holder(path)} is still writing here; "
                "wait for it to finish or rerun with --wait"
            )
        return (
            f"{directory}: gave up after {limit:g} s waiting for the {_holder(path)}, "
            f"still writing here (raise --wait-timeout or {LOCK_TIMEOUT_ENV})"
        )

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        acquire(
            fd,
            shared=False,
            wait=wait,
            timeout=limit,
            busy=busy,
            waiting=waiting,
            remind=REMIND_SECONDS,
        )
        info = {"pid": os.getpid(), "started": datetime.now(UTC).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        yield path
    finally:
        os.close(fd)  # closing drops the lock


def protocol_lock(
    processed: Path,
    protocol_id: str,
    wait: bool = False,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
) -> AbstractContextManager[Path]:
    """One run at a time per protocol: it guards the protocol's tables, report and journal."""
    return run_lock(processed, wait, timeout, on_wait, name=protocol_lock_name(protocol_id))
