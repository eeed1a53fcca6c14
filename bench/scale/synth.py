"""How long the synthesis steps take inside one run (issue #16, item 3). Not a test: timing
goals live here.

Times `load`, `tabulate`, `pool` and `rate` of `evidence.pipeline` on the bundled protocol,
in one process, after one untimed pass (imports and first-use caches). Each figure is the
median over N passes, wall and CPU seconds (CPU tells what a step costs when other work shares
the machine). Goal: the four together ≤ 0.35 s.

Usage: python -m bench.scale.synth [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.scale.stages import timed

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "raw"
STEPS = ("load", "tabulate", "pool", "rate")
GOAL = 0.35  # seconds, the four steps together


def one_pass(ws: Any) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds of each step, run as `pipeline.synthesize` runs them."""
    from evidence import pipeline

    times: dict[str, tuple[float, float]] = {}
    state: dict[str, Any] = {}
    steps: dict[str, Callable[[], Any]] = {
        "load": lambda: pipeline.load(ws, None),
        "tabulate": lambda: pipeline.tabulate(state["load"]),
        "pool": lambda: pipeline.pool(state["load"], state["tabulate"]),
        "rate": lambda: pipeline.rate(
            state["load"],
            state["tabulate"],
            state["pool"],
            ws.data / state["load"].protocol.rating.rule_set,
        ),
    }
    for name, step in steps.items():
        state[name] = timed(times, name, step)
    return times


def run(repeat: int = 5) -> list[tuple[str, str]]:
    os.environ.setdefault("EVIDENCE_RUN_DATE", "2026-11-27")
    from evidence.runs.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="evidence-synth-bench-") as tmp:
        ws = Workspace(RAW, Path(tmp) / "processed", Path(tmp) / "reports")
        one_pass(ws)  # untimed: imports, first use
        passes = [one_pass(ws) for _ in range(repeat)]
    rows = []
    total_wall = total_cpu = 0.0
    for step in STEPS:
        w = statistics.median(p[step][0] for p in passes)
        c = statistics.median(p[step][1] for p in passes)
        total_wall, total_cpu = total_wall + w, total_cpu + c
        rows.append((step, f"{w:.3f} s (cpu {c:.3f} s)"))
    rows.append(("together", f"{total_wall:.3f} s (cpu {total_cpu:.3f} s), goal ≤ {GOAL:g} s"))
    rows.append(("load average", " ".join(f"{x:.2f}" for x in os.getloadavg())))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for name, value in run(args.repeat):
        print(f"{name:14} {value}")


if __name__ == "__main__":
    main()
