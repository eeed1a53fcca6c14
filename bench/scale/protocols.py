"""Many protocols at once (issue #16, item 4). Not a test: timing goals live here.

Twenty copies of the bundled protocol (distinct ids, same data, in a temporary folder), each
configuration a real `evidence run` in a fresh process, all in one run of this bench:
serially, on warm worker processes (`--task-runner processes`) and on a local Dask cluster
whose workers preload the synthesis (`--task-runner dask`), each without the orchestrator and
with it (Prefect's home is started once, untimed, before the first orchestrated run, so that
no configuration pays for creating its database); and the same three against a Prefect server
already running, as the served nightly deployment runs (the server's own CPU is not counted).
Goal: at least 1.6x over serial on 2 cores, with and without the orchestrator. Every parallel
run's tables and reports must equal the serial run's, byte for byte.

Each configuration runs twice: with an empty figure cache, then with the figures its first run
drew (a nightly rerun's usual case: figures are drawn again only when their data change). The
twenty copies share their data, so with an empty cache a serial run draws each figure once and
a parallel one once per worker; protocols of different drugs would each draw their own.

The machine may be shared: each figure also gives the CPU seconds (and a parallel run's CPU
against the serial run's: what running in parallel costs in extra work, such as each process's
imports), and the load average at the start is printed, to tell a busy machine from a slow run.
A parallel run gains only from cores that are free: where Linux groups processes by session
(`/proc/sys/kernel/sched_autogroup_enabled`), a busy machine gives this bench's whole session
one share of the CPU however many processes it runs, and every speed-up is then about 1x. Read
the speed-ups from a run on an otherwise idle machine.

Usage: python -m bench.scale.protocols [--quick] [--protocols N] [--workers N] [--repeat N]
       [--modes library,temporary,served] [--caches cold,warm]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from statistics import median

import yaml

from bench.scale.run import EMPTY_FLOW

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "raw"
EVIDENCE = [str(Path(sys.executable).parent / "evidence")]
RUN_DATE = "2026-11-27"
GOAL_SPEEDUP = 1.6
FIGURES = ".figures"  # the figure cache under PROCESSED (`pipeline.figure_cache_folder`)
# (label, mode, task runner): serial first in each group, the others against it. Modes: the
# library alone; Prefect with the temporary server a run starts for itself; Prefect with a
# server already running (PREFECT_API_URL), as the served nightly deployment has.
CONFIGS = [
    ("no orchestrator, serial", "library", "serial"),
    ("no orchestrator, processes", "library", "processes"),
    ("no orchestrator, dask", "library", "dask"),
    ("orchestrated, serial", "temporary", "serial"),
    ("orchestrated, processes", "temporary", "processes"),
    ("orchestrated, dask", "temporary", "dask"),
    ("orchestrated on a running server, serial", "served", "serial"),
    ("orchestrated on a running server, processes", "served", "processes"),
    ("orchestrated on a running server, dask", "served", "dask"),
]
SERVER_START_TIMEOUT = 120.0
MODES = ("library", "temporary", "served")
CACHES = ("cold", "warm")  # the figure cache: empty, then filled by the cold run


@contextmanager
def running_server(home: Path, env: dict[str, str]) -> Iterator[str]:
    """`prefect server start` on 127.0.0.1 with its own home, for as long as the block runs;
    yields its API URL once it answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    cmd = [str(Path(sys.executable).parent / "prefect"), "server", "start",
           "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    server_env = {**env, "PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"}
    proc = subprocess.Popen(cmd, env=server_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("prefect server start did not answer")
            time.sleep(0.5)
        # A server that has been running has answered requests before: its first API request
        # (not the health check) builds the API's routes, about half a second.
        with urllib.request.urlopen(f"{url}/admin/version", timeout=60) as answer:
            answer.read()
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def copies(data: Path, n: int) -> Path:
    """n copies of the bundled protocol under new ids, in a folder of their own."""
    folder = data.parent / "many"
    folder.mkdir()
    src = yaml.safe_load((data / "protocols" / "baclofen.yaml").read_text(encoding="utf-8"))
    for i in range(n):
        src["protocol_id"] = f"copy{i:03d}"
        text = yaml.safe_dump(src, sort_keys=False)
        (folder / f"copy{i:03d}.yaml").write_text(text, encoding="utf-8")
    return folder


def timed(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, every process it started) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def outputs(root: Path) -> dict[str, bytes]:
    """Every table and report a run wrote, by relative path (not its run archive or locks)."""
    found = {}
    for kind in ("p", "r"):
        for path in sorted((root / kind).rglob("*")):
            rel = path.relative_to(root / kind)
            if (
                path.is_file()
                and rel.parts[0] not in ("runs", ".figures")
                and not any(part.startswith(".evidence") for part in rel.parts)
            ):
                found[f"{kind}/{rel}"] = path.read_bytes()
    return found


def same(a: Path, b: Path) -> bool:
    left = outputs(a)
    return bool(left) and left == outputs(b)


def seed_figures(folder: Path, data: Path, into: Path, env: dict[str, str]) -> Path:
    """The figure cache one protocol's run draws (untimed), as a rerun finds it."""
    timed([*EVIDENCE, "run", "--no-orchestrator", "--protocol", str(folder / "copy000.yaml"),
           "--data", str(data), "--processed", str(into / "p"), "--reports", str(into / "r")],
          env)  # fmt: skip
    return into / "p" / FIGURES


def describe(
    walls: list[float],
    cpus: list[float],
    serial: tuple[list[float], list[float]] | None = None,
    equal: bool = False,
) -> str:
    """One configuration's figure: its median wall and CPU seconds, and against serial's, the
    ratio of the medians (with the rounds' own ratios when there are several)."""
    value = f"{median(walls):.2f} s (cpu {median(cpus):.2f} s)"
    if serial is None:
        return value + (f", median of {len(walls)}" if len(walls) > 1 else "")
    s_walls, s_cpus = serial
    said = "equal" if equal else "DIFFER FROM"
    value += f", {median(s_walls) / median(walls):.2f}x serial, outputs {said} serial's"
    value += f", {median(cpus) / median(s_cpus):.2f}x serial's cpu"
    if len(walls) > 1:
        rounds = sorted(a / b for a, b in zip(s_walls, walls, strict=True))
        value += f", median of {len(walls)} (rounds {rounds[0]:.2f}-{rounds[-1]:.2f}x)"
    return value


def run(
    quick: bool = False,
    protocols: int = 20,
    workers: int = 2,
    modes: Sequence[str] = MODES,
    caches: Sequence[str] = CACHES,
    repeat: int = 1,
) -> list[tuple[str, str]]:
    """(figure, value) rows; `quick`: two protocols, without the orchestrator only. `modes` and
    `caches` choose among the configurations (the library, temporary or served; cold, warm).

    With `repeat` > 1, each mode's configurations run in turn, round after round (so that the
    machine's drift falls on serial and parallel alike), and each figure is the median."""
    n = 2 if quick else protocols
    configs = [c for c in CONFIGS if c[1] in modes and not (quick and c[1] != "library")]
    work = Path(tempfile.mkdtemp(prefix="evidence-protocols-bench-"))
    try:
        data = work / "raw"
        shutil.copytree(RAW, data)
        folder = copies(data, n)
        env = {
            **os.environ,
            "EVIDENCE_RUN_DATE": RUN_DATE,
            "PREFECT_HOME": str(work / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        rows: list[tuple[str, str]] = [
            ("protocols", str(n)),
            ("workers", str(workers)),
            ("load average at start", " ".join(f"{x:.2f}" for x in os.getloadavg())),
        ]
        seed: Path | None = None  # the figure cache a warm run starts with
        with ExitStack() as stack:
            for mode in MODES:
                group = [(label, runner) for label, m, runner in configs if m == mode]
                if not group:
                    continue
                if mode == "temporary":  # the first start migrates the database: untimed
                    timed([sys.executable, "-c", EMPTY_FLOW], env)
                if mode == "served":
                    url = stack.enter_context(running_server(work / "server-home", env))
                    env = {**env, "PREFECT_API_URL": url}
                for cache in caches:
                    if cache == "warm" and seed is None:
                        seed = seed_figures(folder, data, work / "seed", env)
                    walls: dict[str, list[float]] = {label: [] for label, _ in group}
                    cpus: dict[str, list[float]] = {label: [] for label, _ in group}
                    outs: dict[str, Path] = {}
                    for k in range(repeat):
                        for label, runner in group:
                            slug = label.replace(", ", "-").replace(" ", "_")
                            out = work / slug / cache / f"round{k}"
                            if cache == "warm":
                                assert seed is not None
                                shutil.copytree(seed, out / "p" / FIGURES)
                            cmd = [*EVIDENCE, "run", "--protocol", str(folder),
                                   "--task-runner", runner, "--workers", str(workers),
                                   "--data", str(data), "--processed", str(out / "p"),
                                   "--reports", str(out / "r")]  # fmt: skip
                            if mode == "library":
                                cmd.append("--no-orchestrator")
                            elapsed, cpu = timed(cmd, env)
                            walls[label].append(elapsed)
                            cpus[label].append(cpu)
                            outs.setdefault(label, out)
                            if cache == "cold" and seed is None and runner == "serial":
                                seed = out / "p" / FIGURES
                    first = group[0][0]  # serial
                    for label, runner in group:
                        if runner == "serial":
                            value = describe(walls[label], cpus[label])
                        else:
                            against = (walls[first], cpus[first])
                            equal = same(outs[first], outs[label])
                            value = describe(walls[label], cpus[label], against, equal)
                        name = f"{label}, {cache} figure cache"
                        rows.append((name, value))
                        print(f"{name}: {value}", file=sys.stderr, flush=True)
        rows.append(("goal", f">= {GOAL_SPEEDUP}x serial on 2 cores"))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--protocols", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--modes", default=",".join(MODES), help="library, temporary, served")
    ap.add_argument("--caches", default=",".join(CACHES), help="cold, warm (figure cache)")
    ap.add_argument("--repeat", type=int, default=1, help="rounds; each figure their median")
    args = ap.parse_args(argv)
    modes, caches = args.modes.split(","), args.caches.split(",")
    for name, value in run(args.quick, args.protocols, args.workers, modes, caches, args.repeat):
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
