"""A run waiting for a held lock says who holds it, keeps saying so, and gives up in time.

The lock is held by another process (as a real concurrent run would hold it); the waiting run is
`evidence run --wait` with a short `--wait-timeout` or EVIDENCE_LOCK_TIMEOUT.
"""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.batch import plan
from evidence.cli import app
from evidence.runs import runlock
from evidence.runs.runlock import RunLocked
from evidence.runs.workspace import Workspace

runner = CliRunner()

HOLD = """\
import sys, time
from pathlib import Path
from evidence.runs.runlock import protocol_lock
with protocol_lock(Path(sys.argv[1]), "baclofen"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """PROCESSED with baclofen's lock held by another process; yields PROCESSED and its pid."""
    processed = tmp_path / "p"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(processed)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield processed, proc.pid
    finally:
        proc.kill()
        proc.wait(30)


def run_args(data: Path, processed: Path, *extra: str) -> list[str]:
    reports = processed.parent / "r"
    return [
        "run",
        "--no-orchestrator",
        "--data",
        str(data),
        "--processed",
        str(processed),
        "--reports",
        str(reports),
        *extra,
    ]


def test_a_waiting_run_names_the_holder_and_gives_up_after_its_timeout(
    data_copy: Path, holder: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, pid = holder
    monkeypatch.setattr(runlock, "REMIND_SECONDS", 0.2)
    result = runner.invoke(app, run_args(data_copy, processed, "--wait", "--wait-timeout", "1.5"))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert f"waiting for the run by pid {pid} started" in lines[0]
    assert "giving up after 1.5 s" in lines[0]
    assert any(f"still waiting for the run by pid {pid}" in line for line in lines[1:-1])
    assert f"gave up after 1.5 s waiting for the run by pid {pid} started" in lines[-1]
    assert "--wait-timeout" in lines[-1]
    assert not (processed / "baclofen").exists()  # nothing was written


def test_the_timeout_comes_from_the_environment_and_a_bad_one_is_refused(
    data_copy: Path, holder: tuple[Path, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    processed, pid = holder
    monkeypatch.setenv("EVIDENCE_LOCK_TIMEOUT", "0.5")
    result = runner.invoke(app, run_args(data_copy, processed, "--wait"))
    assert result.exit_code == 1, result.output
    assert f"gave up after 0.5 s waiting for the run by pid {pid}" in result.output

    monkeypatch.setenv("EVIDENCE_LOCK_TIMEOUT", "soon")
    result = runner.invoke(app, run_args(data_copy, processed, "--wait"))
    assert result.exit_code == 1
    assert "EVIDENCE_LOCK_TIMEOUT='soon': expected a number of seconds" in result.output
    result = runner.invoke(app, run_args(data_copy, processed, "--wait", "--wait-timeout", "-1"))
    assert result.exit_code == 1 and "expected a number of seconds >= 0" in result.output


def test_the_wait_ends_when_the_holder_lets_go(tmp_path: Path) -> None:
    """Not a timeout: a wait shorter than its limit takes the lock once the holder is gone."""
    processed = tmp_path / "p"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.replace("time.sleep(120)", "time.sleep(1)"), str(processed)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    notes: list[str] = []
    with runlock.protocol_lock(processed, "baclofen", wait=True, timeout=60, on_wait=notes.append):
        assert proc.wait(30) == 0
    assert len(notes) >= 1 and f"pid {proc.pid}" in notes[0]


def test_the_flow_waits_as_long_as_it_is_told_and_names_the_holder(
    data_copy: Path, holder: tuple[Path, int]
) -> None:
    """The orchestrated run (on the session's Prefect server, or a temporary one of its own):
    the timeout reaches the flow's lock, and the wait is logged."""
    from flows.run import run_orchestrated

    class Notes(logging.Handler):
        def __init__(self) -> None:
            super().__init__(logging.WARNING)
            self.messages: list[str] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.messages.append(record.getMessage())

    processed, pid = holder
    jobs = plan(Workspace(data_copy, processed, processed.parent / "r"), None)
    notes = Notes()  # on the module's own logger: Prefect reconfigures the root's handlers
    logging.getLogger(runlock.__name__).addHandler(notes)
    try:
        with pytest.raises(RunLocked, match=f"gave up after 1 s waiting for the run by pid {pid}"):
            run_orchestrated(jobs, "threads", 1, None, True, wait_timeout=1)
    finally:
        logging.getLogger(runlock.__name__).removeHandler(notes)
    assert any(f"waiting for the run by pid {pid}" in m for m in notes.messages)
    assert not (processed / "baclofen").exists()
