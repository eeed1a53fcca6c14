"""One run at a time per protocol's outputs: an advisory lock the OS drops when the holder dies."""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path

from evidence.safepath import check_id, entry_inside

LOCK_FILE = ".evidence.lock"


class RunLocked(RuntimeError):
    """Another run holds the lock."""


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
    waiting: Callable[[], None] | None = None,
    poll: float = 0.2,
) -> None:
    """Lock the open file `fd` (shared or exclusive), polling while another holder has it.

    Without `wait`, or past `timeout` seconds, raise RunLocked with `busy()`; `waiting()` is
    called once, when the first wait begins.
    """
    op = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = None if timeout is None else time.monotonic() + timeout
    announced = False
    while True:
        try:
            fcntl.flock(fd, op)
            return
        except BlockingIOError:
            if not wait or (deadline is not None and time.monotonic() > deadline):
                raise RunLocked(busy()) from None
            if not announced and waiting is not None:
                waiting()
                announced = True
            time.sleep(poll)


@contextmanager
def run_lock(
    directory: Path,
    wait: bool = False,
    timeout: float | None = None,
    on_wait: Callable[[str], None] | None = None,
    name: str = LOCK_FILE,
) -> Iterator[Path]:
    """Hold DIR/<name> for the duration; wait for it, or fail at once naming the holder."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = entry_inside(directory, name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        acquire(
            fd,
            shared=False,
            wait=wait,
            timeout=timeout,
            busy=lambda: (
                f"{directory}: {_holder(path)} is still writing here; "
                "wait for it to finish or rerun with --wait"
            ),
            waiting=None
            if on_wait is None
            else lambda: on_wait(f"waiting for the {_holder(path)} to finish"),
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
