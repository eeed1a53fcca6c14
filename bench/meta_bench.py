"""Benchmark of the meta-analysis engine at scale (not a test). The last line printed is one JSON
object of figures; progress lines go to stderr.

- many small pools: N data sets of k = 13 (REML, z test) through `pool_many` at once, through
  one `rma` call each, and through metafor's rma() in a loop in ONE R process over the same data
  (written to a temporary CSV); goals: at most 20 us per analysis vectorised, at least 250x
  metafor;
- one large pool: k = 100,000 with REML in a fresh process, its time and peak memory (VmHWM);
  goals: at most 2 s and 300 MB;
- cumulative meta-analysis of k = 800 (REML);
- `evidence meta` on a small CSV, median wall time of several fresh processes (goal: 0.8 s),
  beside a one-shot Rscript doing escalc + rma on the same file.

The R parts are skipped, with the reason printed, when Rscript or metafor is missing.

Usage: python bench/meta_bench.py [--quick] [--pools 10000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
REFERENCE = ROOT / "tests" / "fixtures" / "metafor" / "reference.json"
K = 13

METAFOR_LOOP = r"""
suppressMessages(library(metafor))
d <- read.csv(commandArgs(TRUE)[1])
groups <- split(d, d$group)
failed <- 0
start <- proc.time()[["elapsed"]]
for (g in groups) {
  fit <- try(rma(g$yi, g$vi, method = "REML"), silent = TRUE)
  if (inherits(fit, "try-error")) failed <- failed + 1
}
elapsed <- proc.time()[["elapsed"]] - start
cat(sprintf('{"seconds": %.6f, "pools": %d, "failed": %d}\n', elapsed, length(groups), failed))
"""

METAFOR_ONE_SHOT = r"""
suppressMessages(library(metafor))
d <- read.csv(commandArgs(TRUE)[1])
es <- escalc("RR", ai = events_treat, n1i = n_treat, ci = events_ctrl, n2i = n_ctrl, data = d)
print(predict(rma(yi, vi, data = es, method = "REML")))
"""

PEAK_CHILD = """
import json, sys, time
import numpy as np
from evidence.meta import rma

def vm(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")

k = int(sys.argv[1])
rng = np.random.default_rng(2)
v = rng.uniform(0.01, 0.5, k)
y = rng.normal(0.2, np.sqrt(v + 0.1))
rma(y[:50], v[:50])  # warm imports before measuring
before = vm("VmRSS:")
start = time.perf_counter()
res = rma(y, v, method="REML", test="knha")
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "peak_rss_mb": vm("VmHWM:"), "rss_before_mb": before,
                  "tau2": res.tau2, "algorithm": res.tau2_algorithm}))
"""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def r_missing() -> str | None:
    """Why the R comparison cannot run here, or None if it can."""
    if shutil.which("Rscript") is None:
        return "Rscript is not on PATH"
    probe = subprocess.run(
        ["Rscript", "-e", "suppressMessages(library(metafor))"], capture_output=True, text=True
    )
    if probe.returncode != 0:
        return "R's metafor package is not installed"
    return None


def pools(n: int, k: int = K, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n data sets of k studies with tau^2 = 0.1 and sampling variances in [0.01, 0.5]."""
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.5, n * k)
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    return y, v, np.repeat(np.arange(n), k)


def time_batch(y: np.ndarray, v: np.ndarray, g: np.ndarray, repeat: int) -> float:
    """Median seconds of `pool_many` over all pools (REML, z)."""
    from evidence.meta import pool_many

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        pool_many(y, v, g, method="REML", test="z")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_loop(y: np.ndarray, v: np.ndarray, n: int, k: int = K) -> float:
    """Seconds for one `rma` call per pool."""
    from evidence.meta import rma

    start = time.perf_counter()
    for j in range(n):
        rma(y[j * k : (j + 1) * k], v[j * k : (j + 1) * k], method="REML", test="z")
    return time.perf_counter() - start


def write_pools(path: Path, y: np.ndarray, v: np.ndarray, g: np.ndarray) -> Path:
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["group", "yi", "vi"])
        out.writerows(zip(g.tolist(), map(repr, y.tolist()), map(repr, v.tolist()), strict=True))
    return path


def time_metafor_loop(csv_path: Path) -> dict[str, Any]:
    out = subprocess.run(
        ["Rscript", "-e", METAFOR_LOOP, str(csv_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def large_pool(k: int) -> dict[str, Any]:
    """REML on k studies in a fresh interpreter: seconds and peak resident memory."""
    out = subprocess.run(
        [sys.executable, "-c", PEAK_CHILD, str(k)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def time_cumulative(k: int) -> float:
    from evidence.meta import cumulative

    rng = np.random.default_rng(3)
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0.2, np.sqrt(v + 0.1))
    start = time.perf_counter()
    cumulative(y, v, method="REML")
    return time.perf_counter() - start


def binary_csv(path: Path) -> Path:
    """A 13-study 2x2 table: the BCG vaccine trials (metafor's dat.bcg) from the test fixtures."""
    with REFERENCE.open(encoding="utf-8") as fh:
        d = json.load(fh)["datasets"]["bcg"]
    cols = ("study", "events_treat", "n_treat", "events_ctrl", "n_ctrl")
    with path.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(cols)
        out.writerows(zip(*(d[c] for c in cols), strict=True))
    return path


def median_wall(cmd: list[str], repeat: int) -> float:
    subprocess.run(cmd, check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(n: int, big_k: int, cumul_k: int, repeat: int, with_r: bool) -> dict[str, Any]:
    """All figures; `with_r=False` (or no R here) leaves the metafor figures out with a reason."""
    work = Path(tempfile.mkdtemp(prefix="evidence-meta-bench-"))
    figures: dict[str, Any] = {
        "goals": {
            "vectorised_us_per_analysis": 20,
            "times_faster_than_metafor": 250,
            "large_pool_s": 2.0,
            "large_pool_mb": 300,
            "evidence_meta_s": 0.8,
        }
    }
    why_no_r = r_missing() if with_r else "R comparison not requested"
    if why_no_r:
        log(f"metafor figures skipped: {why_no_r}")
        figures["r_skipped"] = why_no_r
    try:
        y, v, g = pools(n)
        batch = time_batch(y, v, g, repeat=3)
        loop = time_loop(y, v, n)
        figures["pools"] = n
        figures["vectorised_us_per_analysis"] = round(batch / n * 1e6, 2)
        figures["rma_loop_us_per_analysis"] = round(loop / n * 1e6, 1)
        each = (batch / n * 1e6, loop / n * 1e6)
        log(f"{n} pools of k = {K}: vectorised {each[0]:.2f} us, rma {each[1]:.0f} us each")
        if not why_no_r:
            mf = time_metafor_loop(write_pools(work / "pools.csv", y, v, g))
            per = mf["seconds"] / mf["pools"]
            figures["metafor_us_per_analysis"] = round(per * 1e6, 1)
            figures["metafor_failed_pools"] = mf["failed"]
            figures["vectorised_times_faster_than_metafor"] = round(per / (batch / n), 1)
            figures["rma_loop_times_faster_than_metafor"] = round(per / (loop / n), 2)
            log(f"metafor: {per * 1e6:.0f} us per rma() ({mf['failed']} did not converge)")

        big = large_pool(big_k)
        figures["large_pool"] = {"k": big_k, **{key: big[key] for key in sorted(big)}}
        log(f"k = {big_k} REML: {big['seconds']:.3f} s, peak RSS {big['peak_rss_mb']:.0f} MB")

        cumul = time_cumulative(cumul_k)
        figures["cumulative"] = {"k": cumul_k, "seconds": round(cumul, 3)}
        log(f"cumulative k = {cumul_k}: {cumul:.2f} s")

        table = binary_csv(work / "bcg.csv")
        cli = [str(BIN / "evidence"), "meta", "--input", str(table), "--measure", "RR"]
        figures["evidence_meta_s"] = round(median_wall(cli, repeat), 3)
        log(f"evidence meta: {figures['evidence_meta_s']:.2f} s per call (median of {repeat})")
        if not why_no_r:
            one_shot = ["Rscript", "-e", METAFOR_ONE_SHOT, str(table)]
            figures["rscript_one_shot_s"] = round(median_wall(one_shot, repeat), 3)
            log(f"Rscript one-shot: {figures['rscript_one_shot_s']:.2f} s per call")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    ap.add_argument("--pools", type=int, default=10_000)
    ap.add_argument("--large-k", type=int, default=100_000)
    ap.add_argument("--cumulative-k", type=int, default=800)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--no-r", action="store_true", help="leave out the metafor comparison")
    args = ap.parse_args(argv)
    if args.quick:
        args.pools, args.large_k, args.cumulative_k, args.repeat = 30, 2_000, 20, 1
    figures = run(args.pools, args.large_k, args.cumulative_k, args.repeat, not args.no_r)
    print(json.dumps(figures, sort_keys=True))
    return figures


if __name__ == "__main__":
    main()
