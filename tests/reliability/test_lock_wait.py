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
from typing import Any

import pytest
import typer
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


# every command that takes a lock: a protocol's outputs (run, report --pdf) or DATA (a change)
LOCKING = {"run", "report", "screen", "add-extraction"}


def _option(command: Any, name: str) -> dict[str, object]:
    (param,) = (p for p in command.params if p.name == name)
    return {
        "opts": (tuple(param.opts), tuple(param.secondary_opts)),
        "help": param.help,
        "default": param.default,
        "type": repr(param.type_descriptor.annotation),
        "metavar": param.metavar,
    }


def test_every_command_taking_a_lock_offers_the_same_wait_and_wait_timeout() -> None:
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    waiting = {name for name, c in commands.items() if any(p.name == "wait" for p in c.params)}
    assert waiting == LOCKING
    for name in ("wait", "wait_timeout"):
        offered = {c: repr(_option(commands[c], name)) for c in sorted(LOCKING)}
        assert len(set(offered.values())) == 1, offered
    wait = _option(commands["run"], "wait")
    assert wait["opts"] == (("--wait",), ("--no-wait",)) and wait["default"] is False
    timeout = _option(commands["run"], "wait_timeout")
    assert timeout["opts"] == (("--wait-timeout",), ()) and timeout["default"] is None


HOLD_DATA = """\
import sys, time
from pathlib import Path
from evidence.inputs.rawdata import changing
with changing(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_change_of_the_data_waits_for_the_lock_up_to_its_wait_timeout(data_copy: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_DATA, str(data_copy)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        before = (data_copy / "screening.csv").read_bytes()
        args = ["screen", "study:none", "--decision", "include", "--data", str(data_copy)]
        result = runner.invoke(app, [*args, "--wait", "--wait-timeout", "0.5"])
        assert result.exit_code == 1, result.output
        assert f"waiting for the run by pid {proc.pid} started" in result.output
        assert f"gave up after 0.5 s waiting for the run by pid {proc.pid}" in result.output
        assert (data_copy / "screening.csv").read_bytes() == before
        result = runner.invoke(app, [*args, "--wait-timeout", "0.5"])  # no --wait: at once
        assert result.exit_code == 1 and "rerun with --wait" in result.output
    finally:
        proc.kill()
        proc.wait(30)
