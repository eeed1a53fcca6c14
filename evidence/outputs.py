"""Swap a run's outputs in as a whole, or not at all.

New files are first written to a staging area. A journal then lists every target; each old file
is moved to a backup before its replacement goes in. Only when all are in does the journal say
"committed". A run killed before that point is rolled back by `recover` (which every run calls
first, under the run lock), restoring the previous outputs; a run killed after it is completed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from evidence.io import atomic_write_text

STAGE = ".staging"
BACKUP = ".backup"
JOURNAL = ".journal.json"

# Fault injection for the tests: EVIDENCE_FAULT_AT=<point> kills the process (SIGKILL) at that
# point of a commit: "staged", a swap step number (1, 2, ...) or "committed".
_FAULT_ENV = "EVIDENCE_FAULT_AT"


def _fault(point: int | str) -> None:
    if os.environ.get(_FAULT_ENV) == str(point):
        os.kill(os.getpid(), 9)


def _rel(root: Path, path: Path) -> str:
    return os.path.relpath(path, root)


def recover(state: Path, root: Path) -> str:
    """Finish or undo an interrupted swap of files under `root` (bookkeeping in `state`)."""
    state, root = Path(state), Path(root)
    journal = state / JOURNAL
    done = "nothing to recover"
    if journal.is_file():
        plan = json.loads(journal.read_text(encoding="utf-8"))
        if plan["phase"] != "committed":
            for target, had_old in plan["targets"]:
                dest, backup = root / target, state / BACKUP / target
                if had_old and backup.exists():
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(backup, dest)
                elif not had_old and dest.exists() and not (state / STAGE / target).exists():
                    dest.unlink()  # a new file that went in before the kill
            done = "rolled back an interrupted run: the previous outputs are restored"
        else:
            done = "completed the clean-up of a committed run"
        journal.unlink()
    shutil.rmtree(state / STAGE, ignore_errors=True)
    shutil.rmtree(state / BACKUP, ignore_errors=True)
    return done


def commit(
    state: Path,
    root: Path,
    files: dict[Path, str],
    remove: list[Path] | None = None,
    fault: Callable[[int | str], None] = _fault,
) -> list[Path]:
    """Replace `files` (paths under `root` → text) and delete `remove`, as one swap."""
    state, root = Path(state), Path(root)
    recover(state, root)
    stage = state / STAGE
    targets = sorted(files)
    for path in targets:
        atomic_write_text(stage / _rel(root, path), files[path])
    fault("staged")
    gone = sorted(p for p in (remove or []) if p.exists() and p not in files)
    plan = [(_rel(root, p), p.exists()) for p in targets] + [(_rel(root, p), True) for p in gone]
    atomic_write_text(state / JOURNAL, json.dumps({"phase": "swapping", "targets": plan}))
    for step, (rel, had_old) in enumerate(plan, start=1):
        fault(step)
        dest, backup = root / rel, state / BACKUP / rel
        if had_old:
            backup.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dest, backup)
        staged = stage / rel
        if staged.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, dest)
    atomic_write_text(state / JOURNAL, json.dumps({"phase": "committed", "targets": plan}))
    fault("committed")
    recover(state, root)
    return targets
