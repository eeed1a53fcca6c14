"""`evidence run --dask-address` on an existing cluster: absolute paths, with the orchestrator's
API configured or temporary, and without the orchestrator.

The cluster is a real `distributed.LocalCluster` in its own process, working in an empty folder
(as a remote worker's working directory is not the run's), and the API a real
`prefect server start` on 127.0.0.1; the run itself is the real command in its own process.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.batch import Job, absolute
from evidence.runs.workspace import Workspace
from tests.reliability.test_first_run import (
    EVIDENCE,
    assert_same_outputs,
    finish,
    fresh_env,
    workspace,
)

START_TIMEOUT = 300  # seconds for the Prefect server and the cluster to answer

CLUSTER = """\
import sys, time
from distributed import LocalCluster
cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://",
                       host="127.0.0.1",
                       dashboard_address=None, scheduler_port=0)
print(cluster.scheduler_address, flush=True)
time.sleep(3600)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop(proc: subprocess.Popen[str]) -> None:
    proc.kill()
    proc.wait(30)


@pytest.fixture
def prefect_api(tmp_path: Path) -> Iterator[str]:
    """A real Prefect server on 127.0.0.1 with its own empty home; yields its API URL."""
    port = free_port()
    env = fresh_env(tmp_path / "server-home", PREFECT_UI_ENABLED="false")
    proc = subprocess.Popen(
        [
            Path(sys.executable).parent / "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert proc.poll() is None, "prefect server start exited"
            assert time.monotonic() < deadline, "prefect server start did not answer"
            time.sleep(0.5)
        yield url
    finally:
        stop(proc)


@pytest.fixture
def dask_address(tmp_path: Path) -> Iterator[str]:
    """A LocalCluster's scheduler address; its workers work in an empty folder."""
    cwd = tmp_path / "worker-cwd"
    cwd.mkdir()
    env = fresh_env(tmp_path / "worker-home")
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        address = proc.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        yield address
    finally:
        stop(proc)
        assert list(cwd.iterdir()) == []  # nothing was read or written relative to the worker


def api_post(url: str, path: str) -> list[dict[str, object]]:
    req = urllib.request.Request(
        f"{url}/{path}", data=b"{}", headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as r:
        return list(json.loads(r.read()))


def run_args(address: str) -> list[str]:
    # The default relative paths, as `make run` gives them.
    return [*EVIDENCE, "run", "--dask-address", address, "--data", "data/raw",
            "--processed", "data/processed", "--reports", "reports"]  # fmt: skip


def run_to_the_end(ws: Path, args: list[str], env: dict[str, str]) -> str:
    """The run in the workspace, to its end: it must write the bundled protocol's outputs."""
    proc = subprocess.Popen(
        args, cwd=ws, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    out = finish(proc)
    assert f"wrote {ws / 'data/processed/baclofen/pooled.csv'}" in out
    assert_same_outputs(ws)
    return out


def test_a_run_on_an_existing_cluster_reports_to_the_configured_server(
    tmp_path: Path, prefect_api: str, dask_address: str
) -> None:
    ws = workspace(tmp_path / "ws")
    env = fresh_env(tmp_path / "run-home", PREFECT_API_URL=prefect_api)
    run_to_the_end(ws, run_args(dask_address), env)
    flows = {f["name"]: f["state_type"] for f in api_post(prefect_api, "flow_runs/filter")}
    assert set(flows.values()) == {"COMPLETED"} and flows
    tasks = [t for t in api_post(prefect_api, "task_runs/filter") if "synthesize" in str(t["name"])]
    assert tasks and {t["state_type"] for t in tasks} == {"COMPLETED"}


def test_a_cluster_run_needs_no_configured_api(tmp_path: Path, dask_address: str) -> None:
    """The workers run plain calls, never Prefect tasks: the run's temporary server will do."""
    ws = workspace(tmp_path / "ws")
    run_to_the_end(ws, run_args(dask_address), fresh_env(tmp_path / "run-home"))


def test_a_cluster_run_without_the_orchestrator(tmp_path: Path, dask_address: str) -> None:
    ws = workspace(tmp_path / "ws")
    args = [*run_args(dask_address), "--no-orchestrator"]
    run_to_the_end(ws, args, fresh_env(tmp_path / "run-home"))
    assert not (tmp_path / "run-home").exists()  # Prefect was never started


def test_a_cluster_that_does_not_answer_fails_in_one_line(tmp_path: Path) -> None:
    ws = workspace(tmp_path / "ws")
    result = subprocess.run(
        [*run_args("tcp://127.0.0.1:9"), "--no-orchestrator"],
        cwd=ws,
        env=fresh_env(tmp_path / "home", DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="2s"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1
    assert "tcp://127.0.0.1:9" in result.stderr and "Traceback" not in result.stderr
    assert not (ws / "data/processed/runs").exists()  # nothing ran


def test_every_path_sent_to_a_cluster_is_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    rel = Workspace(Path("data/raw"), Path("data/processed"), Path("reports"))
    [job] = absolute([Job("data/raw/protocols/baclofen.yaml", rel)])
    ws = job.workspace
    assert ws == Workspace(tmp_path / "data/raw", tmp_path / "data/processed", tmp_path / "reports")
    assert job.protocol == str(tmp_path / "data/raw/protocols/baclofen.yaml")
