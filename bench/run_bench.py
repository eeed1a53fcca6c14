"""Benchmark of a whole run (not a test). The last line printed is one JSON object of figures.

- orchestration overhead: `evidence run` against an empty Prefect flow, each in a fresh process
  (goal: at most 2 s over Prefect's own cost);
- `evidence run --no-orchestrator` on the bundled protocol (goal: at most 3 s);
- 1, 10 and 50 copies of the bundled protocol through the `synthesize-many` flow, serially, on
  threads and on a Dask LocalCluster (goal: time linear in protocols, at least 1.6x on 2 cores).

Usage: python bench/run_bench.py [--copies 1,10,50] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RAW = ROOT / "data" / "raw"
BIN = Path(sys.executable).parent

EMPTY_FLOW = """
from prefect import flow
@flow
def empty() -> None:
    return None
empty()
"""


def wall(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def median_wall(cmd: list[str], env: dict[str, str], repeat: int) -> float:
    return statistics.median(wall(cmd, env) for _ in range(repeat))


def copies(data: Path, n: int) -> Path:
    folder = data / f"protocols-{n}"
    folder.mkdir()
    src = yaml.safe_load((data / "protocols" / "baclofen.yaml").read_text())
    for i in range(n):
        src["protocol_id"] = f"copy{i:03d}"
        (folder / f"copy{i:03d}.yaml").write_text(yaml.safe_dump(src, sort_keys=False))
    return folder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", default="1,10,50")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="evidence-bench-"))
    data = work / "raw"
    shutil.copytree(RAW, data)
    env = {
        **os.environ,
        "PREFECT_HOME": str(work / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "EVIDENCE_RUN_DATE": "2026-11-25",
    }
    env.pop("PREFECT_API_URL", None)
    evidence = str(BIN / "evidence")
    out = ["--data", str(data), "--processed", str(work / "p"), "--reports", str(work / "r")]

    wall([sys.executable, "-c", EMPTY_FLOW], env)  # first start migrates Prefect's database
    empty = median_wall([sys.executable, "-c", EMPTY_FLOW], env, args.repeat)
    orchestrated = median_wall([evidence, "run", *out], env, args.repeat)
    plain = median_wall([evidence, "run", "--no-orchestrator", *out], env, args.repeat)
    figures: dict[str, object] = {
        "empty_prefect_flow_s": round(empty, 2),
        "evidence_run_s": round(orchestrated, 2),
        "orchestration_overhead_over_prefect_s": round(orchestrated - empty, 2),
        "no_orchestrator_s": round(plain, 2),
        "goals": {"overhead_s": 2.0, "no_orchestrator_s": 3.0, "speedup_2_cores": 1.6},
    }
    scale: dict[str, dict[str, float]] = {}
    for n in [int(x) for x in args.copies.split(",")]:
        folder = copies(data, n)
        row: dict[str, float] = {}
        for runner in ("serial", "threads", "dask"):
            target = work / f"p-{n}-{runner}"
            cmd = [
                evidence,
                "run",
                "--protocol",
                str(folder),
                "--task-runner",
                runner,
                "--workers",
                "2",
                "--data",
                str(data),
                "--processed",
                str(target),
                "--reports",
                str(work / f"r-{n}-{runner}"),
            ]
            row[f"{runner}_s"] = round(wall(cmd, env), 2)
        row["per_protocol_serial_s"] = round(row["serial_s"] / n, 3)
        row["threads_speedup"] = round(row["serial_s"] / row["threads_s"], 2)
        row["dask_speedup"] = round(row["serial_s"] / row["dask_s"], 2)
        scale[str(n)] = row
        print(f"{n} protocols: {row}", file=sys.stderr)
    figures["protocols"] = scale
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(figures, sort_keys=True))


if __name__ == "__main__":
    main()
