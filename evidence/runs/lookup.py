"""Find a run by its id: in the local archive, else in a protocol's tracked history.

A fresh clone has no archive, but its history names every run whose inputs changed, so
`evidence diff` works on either.
"""

from __future__ import annotations

from pathlib import Path

from evidence.runs.history import HISTORY, MANIFEST, Manifest, load_history
from evidence.safepath import check_id, inside, is_id

RUNS_DIR = "runs"


def find_run(processed: Path, run_id: str) -> Manifest:
    """The run's manifest; LookupError naming where it looked when there is none."""
    run_id = check_id(run_id, "run id")
    archived = inside(processed / RUNS_DIR, run_id, MANIFEST)
    if archived.is_file():
        return Manifest.from_json(archived.read_text(encoding="utf-8"))
    base = Path(processed)
    folders = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    for name in folders:
        if not is_id(name) or name == RUNS_DIR:
            continue
        path = inside(base, name, HISTORY)
        if path.is_file():
            for m in load_history(path, name):
                if m.run_id == run_id:
                    return m
    raise LookupError(f"{archived}: no such run (nor in any {base}/<protocol>/{HISTORY})")
