"""The temporary Prefect server's process, started before this process imports Prefect.

An orchestrated run needs Prefect in this process (seconds of imports) and Prefect's server in a
child (seconds more of imports, then its database). Prefect starts the server only once it is
imported and a flow asks for an API, so the two come one after the other. Started from here, the
server boots on one core while this process imports Prefect and the synthesis on the other;
`flows.server.start_server` then adopts the running process and waits for it to answer.

Nothing here imports Prefect. The server is launched early only where that is plainly safe:
Prefect's home is named in the environment (always so in a checkout, `flows.home`) and no other
run is starting a server there (the start lock is free; this process holds it until the server
answers). Otherwise the run starts its server as before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import random
import socket
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

# Taken while a server starts, in Prefect's home (beside its database).
START_LOCK = ".evidence-server-start.lock"

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
# Then the services a temporary server has no use for, which cost CPU on every event: automations
# (triggers and their actions: a temporary server holds none) and the event feed's store (flow
# runs, task runs, logs and artifacts are recorded without it). Only ever this server's: a
# server the user configured is never started here.
SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
    "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
}
PORTS = range(8000, 9000)  # Prefect's own range for its temporary server


def prefect_dir() -> str:
    """Where the installed Prefect package lives (uvicorn's --app-dir), without importing it."""
    spec = find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("prefect")
    return str(Path(next(iter(spec.submodule_search_locations))).parent)


def uvicorn_args(port: int) -> list[str]:
    """The arguments Prefect gives uvicorn for its temporary server."""
    return [
        "--app-dir",
        prefect_dir(),
        "--factory",
        "prefect.server.api.server:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "error",
        "--lifespan",
        "on",
    ]


def popen(port: int, environ: dict[str, str]) -> subprocess.Popen[bytes]:
    """The server on `port`, bound to this process's life (see `flows.server`)."""
    # The kernel's death signal follows the thread that forked; a thread other than the main
    # one may end before the process does, so only the watchdog binds such a server.
    deathsig = threading.current_thread() is threading.main_thread()
    return subprocess.Popen(
        args=[sys.executable, "-c", LAUNCH, str(os.getpid()), "1" if deathsig else "0",
         *uvicorn_args(port)],
        env={**environ, **SERVER_ENV},
    )  # fmt: skip


def port_free(port: int) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        try:
            sock.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port(tries: int = 10) -> int | None:
    for _ in range(tries):
        port = random.choice(PORTS)
        if port_free(port):
            return port
    return None


def profile_names_api(env: dict[str, str]) -> bool:
    """Whether the active Prefect profile may name an API (then no temporary server is needed).

    Read as Prefect reads it: PREFECT_PROFILES_PATH, else PREFECT_HOME/profiles.toml; the
    profile PREFECT_PROFILE, else the file's `active` one. A file that cannot be read counts
    as naming one: the run then starts its server the ordinary way, if it needs one.
    """
    path = Path(env.get("PREFECT_PROFILES_PATH") or Path(env["PREFECT_HOME"]) / "profiles.toml")
    if not path.exists():
        return False
    try:
        profiles = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    name = env.get("PREFECT_PROFILE") or profiles.get("active")
    chosen = profiles.get("profiles", {}).get(name, {}) if isinstance(name, str) else {}
    return not isinstance(chosen, dict) or "PREFECT_API_URL" in chosen


def api_in_settings() -> bool:
    """Whether Prefect, if already imported here, has an API URL set (a test harness sets one)."""
    if "prefect.settings" not in sys.modules:
        return False
    from prefect.settings import PREFECT_API_URL

    return bool(PREFECT_API_URL.value())


@dataclass
class Launched:
    """A server process started early, and the start lock held for it until it answers."""

    process: subprocess.Popen[bytes]
    port: int
    lock_fd: int

    def discard(self) -> None:
        """End the process and drop the lock: the run does not need this server."""
        self.process.kill()
        self.process.wait()
        self.release()

    def release(self) -> None:
        """Drop the start lock (the server answered, or its start was given up)."""
        if self.lock_fd >= 0:
            os.close(self.lock_fd)
            self.lock_fd = -1


def launch(environ: dict[str, str] | None = None) -> Launched | None:
    """Start the temporary server now, or None where the run should start it as before."""
    env = dict(os.environ if environ is None else environ)
    home = env.get("PREFECT_HOME", "").strip()
    if not home or env.get("PREFECT_API_URL") or profile_names_api(env) or api_in_settings():
        return None
    try:
        Path(home).mkdir(parents=True, exist_ok=True)
        fd = os.open(Path(home) / START_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        port = free_port()
        if port is None:
            raise OSError("no free port")
        return Launched(popen(port, env), port, fd)
    except (OSError, ModuleNotFoundError):  # busy lock, no port, no Prefect: start as before
        os.close(fd)
        return None
