"""A run from the command line freezes the heap of modules it loaded before the synthesis and
collects its first generation less often; the outputs are those of the committed run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evidence.runs.heap import RUN_GC_THRESHOLD

PROBE = """
import atexit, gc, json, runpy, sys
atexit.register(lambda: print("GC=" + json.dumps(
    [gc.get_freeze_count(), list(gc.get_threshold()), "evidence.pipeline" in sys.modules])))
sys.argv = ["evidence", *{args!r}]
runpy.run_module("evidence.cli", run_name="__main__")
"""


def gc_state(*args: str, check: bool = True) -> tuple[int, list[int], bool]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(args=list(args))],
        capture_output=True,
        text=True,
        env={**os.environ, "EVIDENCE_RUN_DATE": "2026-11-27"},
        timeout=300,
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("GC=")]
    assert (proc.returncode == 0 or not check) and line, proc.stdout + proc.stderr
    frozen, threshold, pipeline = json.loads(line[-1].removeprefix("GC="))
    return frozen, threshold, pipeline


def test_a_run_freezes_its_loaded_modules_and_collects_less_often(
    data_copy: Path, tmp_path: Path
) -> None:
    dirs = ["--data", str(data_copy), "--processed", str(tmp_path / "p"),
            "--reports", str(tmp_path / "r")]  # fmt: skip
    frozen, threshold, pipeline = gc_state("run", "--no-orchestrator", *dirs)
    assert pipeline and frozen > 10_000  # the modules' objects, not a handful
    assert threshold == list(RUN_GC_THRESHOLD)
    assert (tmp_path / "r" / "baclofen" / "index.html").is_file()
    # validation alone leaves the collector's threshold as Python set it
    _, threshold, _ = gc_state("validate", "--data", str(data_copy))
    assert threshold != list(RUN_GC_THRESHOLD)


@pytest.mark.parametrize("args", [["--help"], ["validate"], ["validate", "--data", "/nonexistent"]])
def test_every_command_ends_with_its_heap_collected_and_frozen(
    data_copy: Path, args: list[str]
) -> None:
    """Nothing left for the interpreter's collections at exit to walk, whatever the outcome."""
    if args == ["validate"]:
        args = [*args, "--data", str(data_copy)]
    frozen, _, _ = gc_state(*args, check=False)
    assert frozen > 1_000


def collector_state(_: int) -> tuple[int, tuple[int, int, int]]:
    import gc

    return gc.get_freeze_count(), gc.get_threshold()


def test_warm_worker_processes_settle_the_collector_as_a_run_does() -> None:
    from evidence.runs.warmpool import WarmPool

    with WarmPool(1) as pool:
        [(frozen, threshold)] = pool.run(collector_state, [0], died=lambda _: (0, (0, 0, 0)))
    assert frozen > 10_000 and threshold == RUN_GC_THRESHOLD
