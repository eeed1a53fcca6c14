"""Changing the curated tables in DATA: all the files of one change, or none, one writer at a time.

`add-extraction` appends to studies.csv and outcomes.csv. Written one after the other, a crash
between the two writes left a study without its outcomes, which validation accepts and a retry
refuses. Instead both are staged and swapped in through the journal of `evidence.runs.outputs`
(bookkeeping in DATA/.swap/), under DATA's lock. `recover` finishes or undoes a change that was
interrupted; everything that reads DATA for a run or a validation calls it first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from evidence.runs import outputs
from evidence.runs.runlock import LOCK_FILE, acquire, run_lock
from evidence.safepath import UnsafePath, is_inside, relative_name

SWAP_DIR = ".swap"
# Files in DATA that belong to this bookkeeping, not to the data (copies of DATA skip them).
BOOKKEEPING = (SWAP_DIR, LOCK_FILE)
# How long a reader waits for a change in progress before giving up (a change takes seconds).
RECOVER_WAIT_SECONDS = 300.0


def _state(data: Path) -> Path:
    return Path(data).resolve() / SWAP_DIR


def pending(data: Path) -> bool:
    """Whether a change of DATA's tables is under way or was interrupted."""
    state = _state(data)
    return state.is_dir() and any(state.iterdir())


def recover(data: Path, timeout: float = RECOVER_WAIT_SECONDS) -> str:
    """Finish or undo an interrupted change of DATA's tables before anything reads them.

    With nothing pending this neither locks nor writes (DATA may be read-only). Otherwise it
    waits for a writer still at work to finish, and recovers under DATA's lock, so it never
    undoes a change that is still being made.
    """
    if not pending(data):
        return "nothing to recover"
    with run_lock(Path(data), wait=True, timeout=timeout):
        return outputs.recover(_state(data), Path(data).resolve())


@contextmanager
def reading(data: Path, timeout: float = RECOVER_WAIT_SECONDS) -> Iterator[None]:
    """Read DATA's tables with no change half-made: writers hold DATA's lock exclusively, readers
    share it, so a change that starts while a run reads its inputs waits for the run to finish.

    Readers never create the lock file (reading leaves DATA untouched): with none there, no change
    has ever been made here through `changing`, which creates it before it writes anything.
    """
    try:
        fd = os.open(Path(data) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        fd = -1
    if fd < 0:
        yield
        return
    try:
        acquire(
            fd,
            shared=True,
            wait=True,
            timeout=timeout,
            busy=lambda: f"{data}: a change of the data has held it for over {timeout:g} s",
            poll=0.1,
        )
        yield
    finally:
        os.close(fd)  # closing drops the shared lock


@contextmanager
def changing(
    data: Path,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    timeout: float | None = None,
) -> Iterator[None]:
    """Hold DATA's lock for one change, starting from a recovered state; a wait lasts at most
    `timeout` seconds (default `lock_timeout()`)."""
    with run_lock(Path(data), wait=wait, timeout=timeout, on_wait=on_wait):
        outputs.recover(_state(data), Path(data).resolve())
        yield


def _target(root: Path, data: Path, path: Path) -> Path:
    """`path` under the resolved DATA; its folder must lie in DATA, a link in its place is
    replaced, never followed."""
    rel = relative_name(os.path.relpath(os.path.abspath(path), os.path.abspath(data)), str(path))
    folder = (root / rel).parent.resolve()
    if folder != root and not is_inside(root, folder):
        raise UnsafePath(f"{path}: would leave {data}: refused")
    return folder / rel.name


def replace(data: Path, files: dict[Path, str]) -> list[Path]:
    """Swap `files` (paths in DATA → new text) in as one change; call it inside `changing`."""
    root = Path(data).resolve()
    targets = {_target(root, Path(data), Path(p)): text for p, text in files.items()}
    return outputs.commit(_state(data), root, targets)
