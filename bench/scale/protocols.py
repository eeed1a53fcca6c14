"""Many protocols at once (issue #16, item 4). Not a test: timing goals live here.

Twenty copies of the bundled protocol (distinct ids, same data, in a temporary folder), each
configuration a real `evidence run` in a fresh process, all in one run of this bench:
without the orchestrator, serially and on warm worker processes (`--task-runner processes`);
with it, serially, on warm processes, and on a Dask LocalCluster whose workers preload the
synthesis. Goal: at least 1.6x over serial on 2 cores, with and without the orchestrator. Every
parallel run's tables and reports must equal the serial run's, byte for byte.

The machine may be shared: each figure also gives the CPU seconds (and a parallel run's CPU
against the serial run's: what running in parallel costs in extra work, such as each process's
imports), and the load average at the start is printed, to tell a busy machine from a slow run.
A parallel run gains only from cores that are free: where Linux groups processes by session
(`/proc/sys/kernel/sched_autogroup_enabled`), a busy machine gives this bench's whole session
one share of the CPU however many processes it runs, and every speed-up is then about 1x. Read
the speed-ups from a run on an otherwise idle machine.

Usage: python -m bench.scale.protocols [--quick] [--protocols N] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RAW = ROOT / "data" / "raw"
EVIDENCE = [str(Path(sys.executable).parent / "evidence")]
RUN_DATE = "2026-11-27"
GOAL_SPEEDUP = 1.6
# (label, orchestrated, task runner): serial first in each group, the others against it.
CONFIGS = [
    ("no orchestrator, serial", False, "serial"),
    ("no orchestrator, processes", False, "processes"),
    ("orchestrated, serial", True, "serial"),
    ("orchestrated, processes", True, "processes"),
    ("orchestrated, dask", True, "dask"),
]


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


def run(quick: bool = False, protocols: int = 20, workers: int = 2) -> list[tuple[str, str]]:
    """(figure, value) rows; `quick`: two protocols, without the orchestrator only."""
    n = 2 if quick else protocols
    configs = [c for c in CONFIGS if not (quick and c[1])]
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
        serial: dict[bool, tuple[float, float, Path]] = {}  # by orchestrated: wall, cpu, outputs
        for label, orchestrated, runner in configs:
            out = work / label.replace(", ", "-").replace(" ", "_")
            cmd = [*EVIDENCE, "run", "--protocol", str(folder), "--task-runner", runner,
                   "--workers", str(workers), "--data", str(data),
                   "--processed", str(out / "p"), "--reports", str(out / "r")]  # fmt: skip
            if not orchestrated:
                cmd.append("--no-orchestrator")
            elapsed, cpu = timed(cmd, env)
            value = f"{elapsed:.2f} s (cpu {cpu:.2f} s)"
            if runner == "serial":
                serial[orchestrated] = (elapsed, cpu, out)
            else:
                base, base_cpu, base_out = serial[orchestrated]
                equal = "equal" if same(base_out, out) else "DIFFER FROM"
                value += f", {base / elapsed:.2f}x serial, outputs {equal} serial's"
                value += f", {cpu / base_cpu:.2f}x serial's cpu"
            rows.append((label, value))
            print(f"{label}: {value}", file=sys.stderr, flush=True)
        rows.append(("goal", f">= {GOAL_SPEEDUP}x serial on 2 cores"))
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--protocols", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    for name, value in run(args.quick, args.protocols, args.workers):
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
