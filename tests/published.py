"""What a run publishes, seen from outside: the offline run as a subprocess, and the files a
reader finds afterwards. Shared by the tests that kill a run or fault its disk mid-publication."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

RUN_DATE = "2026-11-25"
EVIDENCE = [sys.executable, "-c", "from evidence.cli import main; main()"]

Tree = dict[str, bytes | None]


def run_offline(
    data: Path, out: Path, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """`evidence run --no-orchestrator` in a process of its own, writing under `out`."""
    return subprocess.run(
        [
            *EVIDENCE,
            "run",
            "--no-orchestrator",
            "--data",
            str(data),
            "--processed",
            str(out / "processed"),
            "--reports",
            str(out / "reports"),
        ],
        env={**os.environ, "EVIDENCE_RUN_DATE": RUN_DATE, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
        **kw,
    )


def tree(root: Path, skip: str | None = None, folders: bool = False) -> Tree:
    """Every file under `root` with its bytes, except under a folder named `skip` (a cache or
    a staging area, not an output); `folders` adds folders as None, so an empty one left behind
    shows. A run lock names its last holder, and any run's is fine: its bytes are not compared."""
    out: Tree = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if skip is not None and skip in rel.parts:
            continue
        if path.is_file() and not path.is_symlink():
            out[str(rel)] = b"lock" if path.name.endswith(".lock") else path.read_bytes()
        elif folders:
            out[str(rel)] = None
    return out


def leftovers(before: Tree, after: Tree) -> list[str]:
    """Entries that differ between two trees, for a readable failure."""
    return sorted(k for k in before.keys() | after.keys() if before.get(k, 0) != after.get(k, 0))
