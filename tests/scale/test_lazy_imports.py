"""Starting the CLI loads nothing heavy: each command imports what it uses, and a run whose
figures are cached draws nothing, so it never loads matplotlib. Checked by the modules a
subprocess has loaded when it exits, not by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import synthesize

HEAVY = ("pandas", "scipy", "statsmodels", "matplotlib", "prefect")
PROBE = """
import atexit, json, runpy, sys
heavy = {heavy!r}
atexit.register(lambda: print("LOADED=" + json.dumps(
    sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy) | {{
        m for m in ("scipy.stats", "scipy.optimize") if m in sys.modules}}))))
sys.argv = ["evidence", *{args!r}]
runpy.run_module("evidence.cli", run_name="__main__")
"""


def loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The heavy modules `evidence ARGS...` has imported by the time it exits."""
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY, args=list(args))],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )
    line = [x for x in proc.stdout.splitlines() if x.startswith("LOADED=")]
    assert line, proc.stdout + proc.stderr
    return set(json.loads(line[-1].removeprefix("LOADED=")))


@pytest.mark.parametrize("args", [["--help"], ["run", "--help"], ["meta", "--help"]])
def test_help_imports_nothing_heavy(args: list[str]) -> None:
    assert loaded(*args) == set()


def test_validate_needs_no_statistics_plotting_or_orchestrator(data_copy: Path) -> None:
    mods = loaded("validate", "--data", str(data_copy))
    assert not mods & {"statsmodels", "matplotlib", "prefect", "scipy.stats"}


def test_a_run_with_cached_figures_loads_no_plotting_statsmodels_or_optimizer(
    data_copy: Path, tmp_path: Path
) -> None:
    processed, reports = tmp_path / "processed", tmp_path / "reports"
    first = synthesize(data_copy, processed, reports)  # draws every figure into the cache
    assert first.exit_code == 0, first.output
    assert list((processed / ".figures").glob("*.svg"))
    mods = loaded(
        "run",
        "--no-orchestrator",
        "--data",
        str(data_copy),
        "--processed",
        str(processed),
        "--reports",
        str(tmp_path / "reports2"),
        env={"EVIDENCE_RUN_DATE": "2026-11-27"},
    )
    assert "pandas" in mods  # the probe saw the run itself
    assert not mods & {"matplotlib", "statsmodels", "prefect", "scipy.stats", "scipy.optimize"}
    again = sorted((tmp_path / "reports2" / "baclofen" / "figures").glob("*.svg"))
    assert again and all(
        p.read_bytes() == (reports / "baclofen" / "figures" / p.name).read_bytes() for p in again
    )
