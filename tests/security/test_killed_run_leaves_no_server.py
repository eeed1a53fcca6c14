"""A killed `evidence run` leaves no Prefect server behind (one used to hold its database).

The run is started in a subprocess on a copy of the data, killed once its temporary server is up,
and every process of its tree must be gone within a bounded wait. It reads /proc (Linux).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import RAW

ROOT = Path(__file__).resolve().parents[2]
SERVER_MARK = b"prefect.server.api.server"
STARTUP_WAIT = 180.0  # Prefect's server takes seconds to start, more on a loaded machine
EXIT_WAIT = 30.0


def stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    found = stat(pid)
    return found is not None and found[0] not in ("Z", "X")  # a zombie has already exited


def descendants(pid: int) -> set[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := stat(int(entry))) is not None:
            parents.setdefault(found[1], []).append(int(entry))
    out: set[int] = set()
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def is_server(pid: int) -> bool:
    try:
        return SERVER_MARK in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_killed_orchestrated_run_leaves_no_process_behind(
    tmp_path: Path, sig: signal.Signals
) -> None:
    data = tmp_path / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "EVIDENCE_RUN_DATE": "2026-11-25",
    }
    env.pop("PREFECT_API_URL", None)
    log = (tmp_path / "stderr.txt").open("wb")
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from evidence.cli import main; main()",
            "run",
            "--data",
            str(data),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(tmp_path / "r"),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + STARTUP_WAIT
        while not any(is_server(p) for p in seen if alive(p)):
            assert run.poll() is None, (
                f"the run ended first: {(tmp_path / 'stderr.txt').read_text()}"
            )
            assert time.monotonic() < deadline, "no Prefect server appeared"
            seen |= descendants(run.pid)
            time.sleep(0.1)
        seen |= descendants(run.pid)
        run.send_signal(sig)
        run.wait(timeout=EXIT_WAIT)
        assert run.returncode == -sig  # killed while it was running, not finished
        deadline = time.monotonic() + EXIT_WAIT
        while any(alive(p) for p in seen) and time.monotonic() < deadline:
            time.sleep(0.1)
        survivors = {p: Path(f"/proc/{p}/cmdline").read_bytes()[:200] for p in seen if alive(p)}
        assert not survivors, f"still running after the run was killed: {survivors}"
    finally:
        for pid in seen | ({run.pid} if run.poll() is None else set()):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        log.close()
