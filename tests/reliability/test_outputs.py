"""A run killed at any point leaves the previous outputs; two runs never write at once."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.outputs import recover
from evidence.runlock import run_lock
from tests.report.test_report import add_trial

runner = CliRunner()
EVIDENCE = [sys.executable, "-c", "from evidence.cli import main; main()"]


def tree(*roots: Path) -> dict[str, bytes]:
    out = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if (
                p.is_file()
                and ".swap" not in p.parts
                and p.name not in (".evidence.lock", "changelog.md")
            ):
                out[str(p.relative_to(root.parent))] = p.read_bytes()
    return out


def run_cli(
    data: Path, out: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
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
        env={**os.environ, "EVIDENCE_RUN_DATE": "2026-11-25", **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict, dict]:
    """Inputs before and after a new trial, and the outputs each gives."""
    from tests.conftest import RAW

    base = tmp_path_factory.mktemp("kill")
    before, after = base / "before", base / "after"
    shutil.copytree(RAW, before, ignore=shutil.ignore_patterns("pubmed"))
    shutil.copytree(before, after)
    add_trial(after)
    old = base / "old"
    assert run_cli(before, old).returncode == 0
    new = base / "new"
    shutil.copytree(old, new)
    assert run_cli(after, new).returncode == 0
    return (
        before,
        after,
        old,
        tree(old / "processed", old / "reports"),
        tree(new / "processed", new / "reports"),
    )


@pytest.mark.parametrize("point", ["staged", "1", "2", "9", "committed"])
def test_kill_9_then_the_next_run_recovers_and_completes(
    states: tuple[Path, Path, Path, dict, dict], tmp_path: Path, point: str
) -> None:
    _, after, old, previous, expected = states
    work = tmp_path / "out"
    shutil.copytree(old, work)
    killed = run_cli(after, work, {"EVIDENCE_FAULT_AT": point})
    assert killed.returncode == -9, killed.stderr
    recover(work / "processed" / ".swap", work)
    now = tree(work / "processed", work / "reports")
    assert now == (expected if point == "committed" else previous)
    again = run_cli(after, work)
    assert again.returncode == 0, again.stderr
    assert tree(work / "processed", work / "reports") == expected


def test_a_second_run_exits_with_a_clear_message_or_waits(data_copy: Path, tmp_path: Path) -> None:
    args = [
        "run",
        "--no-orchestrator",
        "--data",
        str(data_copy),
        "--processed",
        str(tmp_path / "p"),
        "--reports",
        str(tmp_path / "r"),
    ]
    with run_lock(tmp_path / "p"):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert "is still writing here" in result.output and f"pid {os.getpid()}" in result.output
    assert not (tmp_path / "p" / "pooled.csv").exists()

    def release_later(ev: threading.Event) -> None:
        with run_lock(tmp_path / "p"):
            ev.set()
            time.sleep(1.0)

    ready = threading.Event()
    holder = threading.Thread(target=release_later, args=(ready,))
    holder.start()
    ready.wait()
    started = time.monotonic()
    result = runner.invoke(app, [*args, "--wait"])
    holder.join()
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 0.8
    assert "waiting for the run by pid" in result.output
    assert (tmp_path / "p" / "pooled.csv").is_file()
