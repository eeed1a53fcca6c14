"""How long a synthesis takes to start and run (issue #16, item 3). Not a test: timing goals
live here.

Each figure is the median wall time of N runs, each in a fresh process, on a copy of the bundled
data: `evidence --help` (goal ≤ 0.5 s), `evidence validate` (≤ 1 s), `evidence run
--no-orchestrator` with an empty figure cache (cold: every figure drawn with matplotlib) and
with the figures of an earlier run cached (warm; goal ≤ 2 s), and `evidence run` (orchestrated)
against an empty Prefect flow (goal: at most 1.5 s more).

Beside the warm run, one more warm run times each step in one process (`bench.scale.stages`):
import, load, tabulate, pool, rate, report, write.

The package's bytecode is compiled before anything is timed: a machine that runs the synthesis
has it after the first run, unless PYTHONDONTWRITEBYTECODE is set, which would otherwise add
the compiling of every module of the package (about 0.2 s) to every timed run.

Usage: python -m bench.scale.run [--quick] [--repeat N]
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "raw"
RUN_DATE = "2026-11-27"
EMPTY_FLOW = """
from prefect import flow
@flow
def empty() -> None:
    return None
empty()
"""
GOALS = {"help": 0.5, "validate": 1.0, "run_warm": 2.0, "orchestrated_over_empty": 1.5}


def wall(cmd: Sequence[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds (user + system) of one command in a fresh process. The CPU time
    tells what a run costs when other work shares the machine. A failing command is an
    error, not a time."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def median_wall(
    cmd: Sequence[str],
    env: dict[str, str],
    repeat: int,
    before: Callable[[], None] | None = None,
) -> tuple[float, float]:
    """Median wall and CPU seconds of `repeat` runs; `before` runs untimed before each."""
    times = []
    for _ in range(repeat):
        if before is not None:
            before()
        times.append(wall(cmd, env))
    return statistics.median(t for t, _ in times), statistics.median(c for _, c in times)


def _fmt(seconds: tuple[float, float], goal: float | None = None) -> str:
    text = f"{seconds[0]:.2f} s (cpu {seconds[1]:.2f} s)"
    return f"{text}, goal ≤ {goal:g} s" if goal is not None else text


def stage_times(env: dict[str, str], dirs: Sequence[str]) -> str:
    """Each step's wall and CPU seconds in one warm run (`bench.scale.stages`), after the
    run's total."""
    cmd = [sys.executable, "-m", "bench.scale.stages", *dirs]
    out = subprocess.run(cmd, env=env, cwd=ROOT, check=True, capture_output=True, text=True)
    steps: dict[str, list[float]] = json.loads(out.stdout)
    wall = sum(w for w, _ in steps.values())
    cpu = sum(c for _, c in steps.values())
    parts = ", ".join(f"{k} {w:.2f} (cpu {c:.2f})" for k, (w, c) in steps.items())
    return f"{_fmt((wall, cpu))}: {parts}"


def compile_package() -> None:
    """Bytecode for the package, as every run after the first finds it."""
    for name in ("evidence", "flows"):
        compileall.compile_dir(ROOT / name, quiet=1)


def run(quick: bool = False, repeat: int | None = None) -> list[tuple[str, str]]:
    """(figure, value) rows. `quick` runs each command once and skips the Prefect runs
    (seconds, not the half minute a first Prefect start takes)."""
    n = repeat or (1 if quick else 5)
    compile_package()
    work = Path(tempfile.mkdtemp(prefix="evidence-scale-run-"))
    try:
        data = work / "raw"
        shutil.copytree(RAW, data)
        processed, reports = work / "processed", work / "reports"
        env = {
            **os.environ,
            "EVIDENCE_RUN_DATE": RUN_DATE,
            "PREFECT_HOME": str(work / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        env.pop("PREFECT_API_URL", None)
        evidence = [sys.executable, "-m", "evidence.cli"]
        dirs = ["--data", str(data), "--processed", str(processed), "--reports", str(reports)]
        figures = processed / ".figures"

        def cold() -> None:
            shutil.rmtree(figures, ignore_errors=True)

        rows = [
            ("evidence --help", _fmt(median_wall([*evidence, "--help"], env, n), GOALS["help"])),
            (
                "evidence validate",
                _fmt(
                    median_wall([*evidence, "validate", "--data", str(data)], env, n),
                    GOALS["validate"],
                ),
            ),
        ]
        plain = [*evidence, "run", "--no-orchestrator", *dirs]
        rows.append(
            ("run --no-orchestrator, cold figure cache", _fmt(median_wall(plain, env, n, cold)))
        )
        wall(plain, env)  # fill the cache
        rows.append(
            (
                "run --no-orchestrator, warm figure cache",
                _fmt(median_wall(plain, env, n), GOALS["run_warm"]),
            )
        )
        rows.append(("run --no-orchestrator, warm, by step", stage_times(env, dirs)))
        if quick:
            rows.append(("run (orchestrated) over an empty Prefect flow", "skipped (quick)"))
            return rows
        flow = [sys.executable, "-c", EMPTY_FLOW]
        wall(flow, env)  # the first start migrates Prefect's database
        empty = median_wall(flow, env, n)
        orchestrated = median_wall([*evidence, "run", *dirs], env, n)
        over = (orchestrated[0] - empty[0], orchestrated[1] - empty[1])
        rows += [
            ("empty Prefect flow", _fmt(empty)),
            ("run (orchestrated), warm figure cache", _fmt(orchestrated)),
            (
                "run (orchestrated) over an empty Prefect flow",
                _fmt(over, GOALS["orchestrated_over_empty"]),
            ),
        ]
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one run each, no Prefect runs")
    ap.add_argument("--repeat", type=int, default=None, help="runs per figure (default 5)")
    args = ap.parse_args(argv)
    for name, value in run(quick=args.quick, repeat=args.repeat):
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
