"""The run's own Prefect server is Prefect's temporary server, started so that it dies with the run.

The kill itself is tested in tests/security/test_killed_run_leaves_no_server.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY

from flows.server import LAUNCH, SERVER_ENV, BoundServer, configured_api_url, default_server


def command_of(server_class: type[SubprocessASGIServer], monkeypatch: pytest.MonkeyPatch) -> Any:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(subprocess, "Popen", lambda **kw: calls.append(kw))
    server = object.__new__(server_class)  # not registered as Prefect's default server
    server.__init__(8123)
    server._run_uvicorn_command()
    return calls[0]


def test_the_bound_server_runs_prefects_own_server_command(monkeypatch: pytest.MonkeyPatch) -> None:
    """If Prefect changes how it starts its server, this says so before a run does."""
    plain = command_of(SubprocessASGIServer, monkeypatch)
    bound = command_of(BoundServer, monkeypatch)
    assert plain["args"][:3] == [sys.executable, "-m", "uvicorn"]
    assert bound["args"] == [
        sys.executable,
        "-c",
        LAUNCH,
        str(os.getpid()),
        "1",
        *plain["args"][3:],
    ]
    assert bound["env"] == {**plain["env"], **SERVER_ENV}


def test_the_temporary_server_runs_without_the_services_it_has_no_use_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Automations and the event store cost CPU on every event; flow and task runs are kept."""
    env = command_of(BoundServer, monkeypatch)["env"]
    assert env["PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED"] == "false"
    assert env["PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED"] == "false"
    assert env.get("PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED", "true") != "false"


def test_the_launcher_refuses_to_serve_for_a_parent_that_is_gone() -> None:
    """A server whose parent died before it set its death signal exits instead of serving."""
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH, "1", "1", "--version"], capture_output=True, timeout=60
    )
    assert result.returncode == 1 and b"uvicorn" not in result.stdout


def test_prefects_default_server_becomes_a_bound_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(SubprocessASGIServer, "_instances", {})
    unstarted = SubprocessASGIServer()  # as Prefect would create it, not yet started
    server = default_server()
    assert isinstance(server, BoundServer) and server is not unstarted
    assert SubprocessASGIServer() is server  # what Prefect's own code now gets
    assert default_server() is server


def test_a_configured_api_is_used_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.run import shared_api

    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:4200/api")
    monkeypatch.setattr(SubprocessASGIServer, "_instances", {})
    with shared_api():
        assert configured_api_url() == "http://127.0.0.1:4200/api"
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is not None  # that server may use them
    assert SubprocessASGIServer._instances == {}  # no temporary server was made


def test_flow_runs_on_the_temporary_server_send_no_heartbeats(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """It dies with its run and keeps no events: a heartbeat only makes the run wait at its end."""
    from flows import server as server_module

    started = SimpleNamespace(api_url="http://127.0.0.1:9/api")
    monkeypatch.setattr(server_module, "start_server", lambda early=None: started)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    before = PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value()
    with server_module.temporary_api() as url:
        assert url == started.api_url == PREFECT_API_URL.value()
        assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None
    assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() == before is not None


SERVER_APP_PROBE = """
import atexit, runpy, sys
atexit.register(lambda: print("SERVER_APP=" + str("prefect.server.api.server" in sys.modules)))
sys.argv = ["evidence", *sys.argv[1:]]
runpy.run_module("evidence.cli", run_name="__main__")
"""


def test_a_run_against_a_configured_api_never_loads_prefects_server_application(
    prefect_server: None, data_copy: Path, tmp_path: Path
) -> None:
    """Over a second of imports that a run reporting to a running server has no use for."""
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    dirs = ["--data", str(data_copy), "--processed", str(tmp_path / "p"),
            "--reports", str(tmp_path / "r")]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-c", SERVER_APP_PROBE, "run", *dirs],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SERVER_APP=False" in proc.stdout
    assert (tmp_path / "r" / "baclofen" / "index.html").is_file()
