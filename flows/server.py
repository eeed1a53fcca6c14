"""Prefect's temporary API server, bound to the life of the process that starts it.

Without PREFECT_API_URL, Prefect starts a temporary server (`SubprocessASGIServer`: uvicorn in a
child process) the first time a flow needs an API, and stops it at interpreter exit. A run
killed by a signal never gets there, and its server lived on, holding its database. So an
orchestrated run starts that server itself, before any flow, as a child that ends with it:

- on Linux the child asks the kernel to SIGKILL it when its parent dies (PR_SET_PDEATHSIG), and
  exits at once if the parent died before it could ask;
- everywhere, a watchdog thread in the child kills it as soon as its parent pid changes.

The server is registered as Prefect's default temporary server and PREFECT_API_URL points at
it, so nothing in Prefect (flow and task engines, event and log workers in other threads, Dask
worker processes) starts another, unbound one.

A start may be slow: a first one migrates a new database, and a loaded machine is slow at it. So
starts in one Prefect home take turns (a file lock there: two first runs never migrate one
database at once), each may take PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS (120 s by
default, `flows.home`), and a failed start is tried once more. If it still fails, the caller
hears `ServerUnavailable` and runs without the orchestrator (`flows.run`).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import prefect
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

from evidence.runs.runlock import RunLocked, acquire

# Tries of a server start before the run goes on without the orchestrator.
START_ATTEMPTS = 2
# Taken while a server starts, in Prefect's home (beside its database).
START_LOCK = ".evidence-server-start.lock"

log = logging.getLogger(__name__)

# Run in the server's interpreter before uvicorn: argv is PARENT_PID DEATHSIG(0|1) UVICORN_ARGS...
LAUNCH = """\
import os, signal, sys, threading, time
parent, deathsig = int(sys.argv[1]), sys.argv[2] == "1"
if deathsig and sys.platform.startswith("linux"):
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PDEATHSIG
    except (OSError, AttributeError):
        pass  # the watchdog below still ends the server
if os.getppid() != parent:
    os._exit(1)  # the parent died before the death signal was set

def watch():
    while os.getppid() == parent:
        time.sleep(0.2)
    os.kill(os.getpid(), signal.SIGKILL)

threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()
sys.argv = ["uvicorn", *sys.argv[3:]]
from uvicorn.main import main
main()
"""

# What Prefect's own temporary server gets (prefect/server/api/server.py, 3.9): no UI.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}


class BoundServer(SubprocessASGIServer):
    """Prefect's temporary server, started so that it dies with the process that started it."""

    def uvicorn_args(self) -> list[str]:
        """The arguments Prefect gives uvicorn for its temporary server."""
        return [
            "--app-dir",
            str(prefect.__module_path__.parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        # The kernel's death signal follows the thread that forked; a thread other than the main
        # one may end before the process does, so only the watchdog binds such a server.
        deathsig = threading.current_thread() is threading.main_thread()
        return subprocess.Popen(
            args=[
                sys.executable,
                "-c",
                LAUNCH,
                str(os.getpid()),
                "1" if deathsig else "0",
                *self.uvicorn_args(),
            ],
            env={
                **os.environ,
                **_SERVER_ENV,
                **get_current_settings().to_environment_variables(exclude_unset=True),
            },
        )


def default_server() -> SubprocessASGIServer:
    """The server Prefect uses when it needs a temporary one, made a `BoundServer` if not started.

    A plain server Prefect already started in this process is left as it is.
    """
    current = SubprocessASGIServer._instances.get(None)
    if current is None or isinstance(current, BoundServer) or current.running:
        return current or BoundServer()
    SubprocessASGIServer._instances.pop(None)
    return BoundServer()


class ServerUnavailable(RuntimeError):
    """Prefect's temporary server could not be started."""


def startup_timeout() -> float:
    """How long one start of the temporary server may take, in seconds."""
    return float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())


@contextmanager
def start_turn(timeout: float) -> Iterator[None]:
    """This process's turn to start a server in Prefect's home, waiting up to `timeout` s."""
    home = Path(get_current_settings().home)
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / START_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        acquire(
            fd,
            shared=False,
            wait=True,
            timeout=timeout,
            busy=lambda: (
                f"another run's Prefect server has been starting in {home} for over {timeout:g} s"
            ),
        )
        yield
    finally:
        os.close(fd)  # closing drops the lock


def start_server(attempts: int = START_ATTEMPTS) -> SubprocessASGIServer:
    """Start the bound temporary server: one start at a time per home, tried `attempts` times.

    Raises ServerUnavailable, with the last failure in one line, when no try succeeds.
    """
    timeout = startup_timeout()
    failure = ""
    try:
        with start_turn(attempts * (timeout + 10)):
            for attempt in range(1, attempts + 1):
                server = default_server()
                try:
                    server.start()
                    return server
                except Exception as exc:  # Prefect raises RuntimeError; uvicorn or httpx others
                    server.stop()  # a server still starting must not outlive the try
                    failure = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    if attempt < attempts:
                        log.warning(
                            "Prefect's temporary server did not start (%s); once more", failure
                        )
    except RunLocked as exc:
        raise ServerUnavailable(str(exc)) from None
    raise ServerUnavailable(
        f"Prefect's temporary server did not start ({attempts} tries of {timeout:g} s; "
        f"last: {failure})"
    )


def configured_api_url() -> str | None:
    """The API the user (or a test harness) configured, if any."""
    return os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value() or None


@contextmanager
def temporary_api() -> Iterator[str]:
    """A bound temporary server for everything Prefect does inside; yields its API URL.

    The server stops at interpreter exit as Prefect's own does, after Prefect's log and event
    workers have flushed, or with this process if it is killed. Raises ServerUnavailable if it
    cannot be started.
    """
    server = start_server()
    url = server.api_url
    os.environ["PREFECT_API_URL"] = url  # for worker processes and threads with a fresh context
    try:
        with temporary_settings(updates={PREFECT_API_URL: url}):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
