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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    get_current_settings,
    temporary_settings,
)

from evidence.runs.runlock import RunLocked, acquire
from flows import launch
from flows.api import ServerUnavailable, configured_api_url
from flows.launch import LAUNCH, SERVER_ENV, START_LOCK

__all__ = [
    "LAUNCH",
    "SERVER_ENV",
    "BoundServer",
    "ServerUnavailable",
    "configured_api_url",
    "start_server",
]

# Tries of a server start before the run goes on without the orchestrator.
START_ATTEMPTS = 2

log = logging.getLogger(__name__)


class BoundServer(SubprocessASGIServer):
    """Prefect's temporary server, started so that it dies with the process that started it.

    `launched` is a server process `flows.launch` started before Prefect was imported: the first
    start adopts it instead of starting another.
    """

    launched: subprocess.Popen[bytes] | None = None

    def uvicorn_args(self) -> list[str]:
        """The arguments Prefect gives uvicorn for its temporary server."""
        assert self.port is not None
        return launch.uvicorn_args(self.port)

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        early, self.launched = self.launched, None
        if early is not None:
            return early
        assert self.port is not None
        environ = {
            **os.environ,
            **get_current_settings().to_environment_variables(exclude_unset=True),
        }
        return launch.popen(self.port, environ)


def default_server() -> SubprocessASGIServer:
    """The server Prefect uses when it needs a temporary one, made a `BoundServer` if not started.

    A plain server Prefect already started in this process is left as it is.
    """
    current = SubprocessASGIServer._instances.get(None)
    if current is None or isinstance(current, BoundServer) or current.running:
        return current or BoundServer()
    SubprocessASGIServer._instances.pop(None)
    return BoundServer()


def startup_timeout() -> float:
    """How long one start of the temporary server may take, in seconds."""
    return float(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())


@contextmanager
def start_turn(timeout: float, early: launch.Launched | None = None) -> Iterator[None]:
    """This process's turn to start a server in Prefect's home, waiting up to `timeout` s.

    An early launch already holds the turn: it ends with this block.
    """
    if early is not None and early.lock_fd >= 0:
        try:
            yield
        finally:
            early.release()
        return
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


def start_server(
    attempts: int = START_ATTEMPTS, early: launch.Launched | None = None
) -> SubprocessASGIServer:
    """Start the bound temporary server: one start at a time per home, tried `attempts` times.

    The first try adopts `early`, a server process already launched (`flows.launch`).
    Raises ServerUnavailable, with the last failure in one line, when no try succeeds.
    """
    timeout = startup_timeout()
    failure = ""
    try:
        with start_turn(attempts * (timeout + 10), early):
            for attempt in range(1, attempts + 1):
                server = default_server()
                if early is not None:
                    adopt(server, early)
                    early = None
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


def adopt(server: SubprocessASGIServer, early: launch.Launched) -> None:
    """Make the early-launched process `server`'s, or end it if `server` cannot take it."""
    if isinstance(server, BoundServer) and not server.running:
        server.port = early.port
        server.launched = early.process
    else:
        early.discard()


@contextmanager
def temporary_api(early: launch.Launched | None = None) -> Iterator[str]:
    """A bound temporary server for everything Prefect does inside; yields its API URL.

    The server stops at interpreter exit as Prefect's own does, after Prefect's log and event
    workers have flushed, or with this process if it is killed. Raises ServerUnavailable if it
    cannot be started. `early`: the server's process, if `flows.launch` started it already.

    Flow runs send no heartbeats to it. A heartbeat lets a server that outlives a run tell a
    crashed run from a long one; this server dies with its run, and keeps neither automations
    nor events (`flows.launch.SERVER_ENV`). And a flow run waits up to a second at its end for
    its heartbeat thread to wake.
    """
    server = start_server(early=early)
    url = server.api_url
    os.environ["PREFECT_API_URL"] = url  # for worker processes and threads with a fresh context
    try:
        updates = {PREFECT_API_URL: url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}
        with temporary_settings(updates=updates):
            yield url
    finally:
        os.environ.pop("PREFECT_API_URL", None)
