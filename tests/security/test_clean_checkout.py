"""A fresh clone stays clean after a run on any day: the committed tables, report, history and
changelog are exactly what a run on the bundled data makes, whatever the date."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_fresh_clone_stays_clean_after_a_run_on_another_day(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed: a fresh clone cannot be made")
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip(f"{ROOT} is not a git checkout: nothing to clone")
    clone = tmp_path / "clone"
    git("clone", "--quiet", "--shared", str(ROOT), str(clone), cwd=tmp_path)
    assert git("status", "--porcelain", cwd=clone) == ""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVIDENCE_", "PREFECT_"))}
    env |= {"EVIDENCE_RUN_DATE": "2031-02-03", "PYTHONPATH": str(clone)}
    done = subprocess.run(
        [sys.executable, "-c", "import evidence, sys; print(evidence.__file__, file=sys.stderr);"
         "from evidence.cli import main; main()", "run", "--no-orchestrator"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    assert str(clone / "evidence") in done.stderr  # the clone's code made the clone's outputs
    assert git("status", "--porcelain", "--untracked-files=all", cwd=clone) == ""
    runs = list((clone / "data" / "processed" / "runs").iterdir())
    assert len(runs) == 1  # the run was archived locally, with its day, and ignored by git
    assert '"run_date": "2031-02-03"' in (runs[0] / "manifest.json").read_text(encoding="utf-8")
