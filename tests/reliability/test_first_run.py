"""The first `evidence run` on a machine (an empty Prefect home) works, even under load, even two
at once, and when Prefect's server cannot start at all the run still finishes without it.

Each run is the real command in its own process, on a copy of the bundled data and outputs; a
run on the same inputs must leave every tracked output byte-identical.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows import home
from tests.conftest import ROOT

EVIDENCE = [sys.executable, "-c", "from evidence.cli import main; main()"]
RUN_TIMEOUT = 600  # seconds: two server starts of 120 s, the lock's turn, and the run itself
FLOW_DONE = "Flow run"  # Prefect's log of the flow run; absent when no flow ran
FALLBACK = "running without the orchestrator"
OUTPUTS = ("data/processed/baclofen", "reports/baclofen")


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def workspace(base: Path) -> Path:
    """A copy of the checkout's data and committed outputs under `base`."""
    base.mkdir(parents=True)
    # without locks, journals and the local archive of past runs (data/processed/runs/)
    shutil.copytree(ROOT / "data", base / "data", ignore=shutil.ignore_patterns(".*", "runs"))
    shutil.copytree(ROOT / "reports", base / "reports", ignore=shutil.ignore_patterns(".*"))
    return base


def fresh_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a machine where Prefect never ran: no PREFECT_* settings at all."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(prefect_home), **extra)
    return env


def start_run(ws: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    args = ["run", "--data", "data/raw", "--processed", "data/processed", "--reports", "reports"]
    return subprocess.Popen(
        [*EVIDENCE, *args],
        cwd=ws,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> str:
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the run did not finish in {RUN_TIMEOUT} s:\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def assert_same_outputs(ws: Path) -> None:
    for rel in OUTPUTS:
        assert tree(ws / rel) == tree(ROOT / rel), rel


@pytest.fixture
def cpu_load() -> Iterator[None]:
    """Two CPU-bound processes beside the run, as on a busy machine."""
    burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield
    finally:
        for b in burners:
            b.kill()
            b.wait(30)


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_a_first_run_under_load_succeeds_through_prefect(
    tmp_path: Path, cpu_load: None, attempt: int
) -> None:
    prefect_home = tmp_path / "prefect-home"  # empty: the first start migrates a new database
    ws = workspace(tmp_path / "ws")
    out = finish(start_run(ws, fresh_env(prefect_home)))
    assert FALLBACK not in out, out[-3000:]
    assert FLOW_DONE in out and "Finished in state Completed()" in out
    assert (prefect_home / "prefect.db").is_file()
    assert_same_outputs(ws)


def test_two_first_runs_at_once_on_one_empty_home_both_succeed(tmp_path: Path) -> None:
    prefect_home = tmp_path / "prefect-home"
    env = fresh_env(prefect_home)
    procs = [start_run(workspace(tmp_path / f"ws{i}"), env) for i in (1, 2)]
    outs = [finish(p) for p in procs]
    for i, out in enumerate(outs, 1):
        assert FALLBACK not in out, out[-3000:]
        assert "Finished in state Completed()" in out
        assert_same_outputs(tmp_path / f"ws{i}")


def test_a_server_that_cannot_start_leaves_the_run_to_the_library(tmp_path: Path) -> None:
    """Past its start-up limit twice, the run says so in one line and finishes without Prefect."""
    ws = workspace(tmp_path / "ws")
    env = fresh_env(tmp_path / "prefect-home", PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1")
    out = finish(start_run(ws, env))
    notes = [line for line in out.splitlines() if FALLBACK in line]
    assert len(notes) == 1, out[-3000:]
    assert "Prefect's temporary server did not start (2 tries of 1 s" in notes[0]
    assert FLOW_DONE not in out
    assert_same_outputs(ws)


def test_the_project_keeps_its_own_prefect_home_out_of_git(tmp_path: Path) -> None:
    env: dict[str, str] = {}
    home.configure(env)
    assert env["PREFECT_HOME"] == str(ROOT / ".prefect")
    assert env[home.STARTUP_TIMEOUT_ENV] == "120"
    given = {"PREFECT_HOME": str(tmp_path), home.STARTUP_TIMEOUT_ENV: "30"}
    home.configure(given)
    assert given == {"PREFECT_HOME": str(tmp_path), home.STARTUP_TIMEOUT_ENV: "30"}
    if shutil.which("git") and (ROOT / ".git").exists():
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", ".prefect/prefect.db"], cwd=ROOT, timeout=30
        )
        assert ignored.returncode == 0
