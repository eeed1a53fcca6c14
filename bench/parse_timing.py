"""Timing harness shared by the parser benchmarks (bench/pubmed_bench.py, bench/scale/parser.py).

Each parse runs in a subprocess of its own so imports and memory peaks do not carry over; this
module holds both sides of that: the child's measurement and the parent's call.
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """Peak resident memory of this process. /proc's VmHWM restarts at exec; ru_maxrss may
    carry the parent's peak over into a subprocess, so it is only the fallback."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def entrez_counter(path: str) -> Callable[[], int]:
    """A parse of `path` with `Bio.Entrez.read`, imported and cached before the clock starts."""
    from Bio import Entrez
    from Bio.Entrez import Parser  # noqa: F401

    from evidence.pubmed.client import configure_entrez_cache

    configure_entrez_cache()

    def run() -> int:
        with open(path, "rb") as handle:
            return len(Entrez.read(handle)["PubmedArticle"])

    return run


def measure(run: Callable[[], int], memory: bool = False) -> dict[str, Any]:
    """Records `run` returns, its CPU and wall seconds, and this process's peak memory
    (whole process, interpreter and imports included, and its growth during the run);
    `memory` adds tracemalloc's peak, which slows the run, so it is timed apart."""
    rss_before = peak_rss_mb()
    if memory:
        tracemalloc.start()
    cpu, wall = cpu_seconds(), time.perf_counter()
    records = run()
    cpu, wall = cpu_seconds() - cpu, time.perf_counter() - wall
    result: dict[str, Any] = {"records": records, "cpu_s": cpu, "wall_s": wall}
    if memory:
        result["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
    rss_after = peak_rss_mb()
    result["maxrss_mb"] = rss_after
    result["maxrss_growth_mb"] = rss_after - rss_before
    return result


def run_child(cmd: list[str], timeout: float | None = None) -> dict[str, Any]:
    """The JSON object a child prints last; {"timeout_s": timeout} if it ran out of time."""
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, check=True, cwd=ROOT, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        return {"timeout_s": timeout}
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
