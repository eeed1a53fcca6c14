"""The nightly deployment on a real Prefect server: registered, scheduled, triggered, completed."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

TRIGGER = """
import asyncio, json, sys
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment

async def schedules():
    async with get_client() as client:
        dep = await client.read_deployment_by_name("nightly-refresh/nightly")
        limit = dep.global_concurrency_limit.limit if dep.global_concurrency_limit else None
        return [s.schedule.cron for s in dep.schedules], dep.parameters, limit

run = run_deployment("nightly-refresh/nightly", timeout=240)
crons, params, limit = asyncio.run(schedules())
print(json.dumps({"state": run.state.type.value, "crons": crons, "live": params["live"],
                  "limit": limit, "name": run.name}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_serve_registers_the_nightly_deployment_and_a_run_completes(
    data_copy: Path, tmp_path: Path
) -> None:
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")},
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path}/prefect.db",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "false",
        "EVIDENCE_RUN_DATE": "2026-11-25",
    }
    bin_dir = Path(sys.executable).parent
    prefect = shutil.which("prefect", path=str(bin_dir)) or "prefect"
    evidence = shutil.which("evidence", path=str(bin_dir)) or "evidence"
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen([prefect, "server", "start", "--host", "127.0.0.1", "--port",
                               str(port)], env=env, stdout=log, stderr=subprocess.STDOUT)
    served = None
    try:
        wait_for(f"{api}/health", 180)
        client_env = {**env, "PREFECT_API_URL": api}
        serve_log = (tmp_path / "serve.log").open("w")
        served = subprocess.Popen(
            [evidence, "serve", "--cron", "0 2 * * *", "--offline", "--data", str(data_copy),
             "--processed", str(tmp_path / "p"), "--reports", str(tmp_path / "r")],
            env=client_env, stdout=serve_log, stderr=subprocess.STDOUT,
        )
        trigger = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # until the runner has registered the deployment
            trigger = subprocess.run([sys.executable, "-c", TRIGGER], env=client_env,
                                     capture_output=True, text=True, timeout=300)
            if trigger.returncode == 0 or "ObjectNotFound" not in trigger.stderr:
                break
            time.sleep(2)
        assert trigger is not None and trigger.returncode == 0, (
            trigger.stderr[-3000:] if trigger else "",
            (tmp_path / "serve.log").read_text()[-3000:],
        )
        import json

        result = json.loads(trigger.stdout.strip().splitlines()[-1])
        name = result.pop("name")
        assert result == {"state": "COMPLETED", "crons": ["0 2 * * *"], "live": False,
                          "limit": 1}
        assert re.fullmatch(r"nightly-\d{4}-\d{2}-\d{2}", name), name  # named by its date
        assert (tmp_path / "r" / "baclofen" / "index.html").is_file()
        assert (tmp_path / "p" / "baclofen" / "table_uses.csv").is_file()
    finally:
        if served is not None:
            stop(served)
        stop(server)


def test_serve_without_a_server_says_how_to_start_one(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    bin_dir = Path(sys.executable).parent
    evidence = shutil.which("evidence", path=str(bin_dir)) or "evidence"
    result = subprocess.run([evidence, "serve"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1
    assert "prefect server start" in result.stderr


pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")
