"""Starting the CLI loads nothing heavy: each command imports what it uses, and a run whose
figures are cached draws nothing, so it never loads matplotlib. Nor does a run load what only
other commands or options need (the PDF, PubMed's network client and bulk files, the warm
worker processes, rich's help and tracebacks). Checked by the modules a subprocess has loaded
when it exits, not by timing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import synthesize

HEAVY = ("pandas", "scipy", "statsmodels", "matplotlib", "prefect")
# Packages that `evidence --help` has no use for (the help is typer's, from the commands' names).
LIBRARIES = ("numpy", "pydantic", "yaml", "jinja2")
# Modules a run never uses: each belongs to another command, an option, or the figures' drawing.
RUN_NEVER = (
    "evidence.report.pdf",  # --pdf, `evidence report`
    "evidence.pubmed.client",  # network: `evidence pubmed ...`
    "evidence.pubmed.bulk",
    "evidence.pubmed.extraction",
    "evidence.inputs.importer",  # `evidence import-evidence`
    "evidence.runs.warmpool",  # --task-runner processes
    "evidence.runs.daskpool",  # --task-runner dask, --dask-address
    "distributed",
    "pyarrow.parquet",
    "multiprocessing",
    "rich",  # typer's rich help and tracebacks (pretty exceptions are off)
    "Bio",
)
PROBE = """
import atexit, json, runpy, sys
heavy = {heavy!r}
named = {named!r}
atexit.register(lambda: print("LOADED=" + json.dumps(
    sorted({{m.split(".")[0] for m in sys.modules}} & set(heavy) | {{
        m for m in named if m in sys.modules}}))))
sys.argv = ["evidence", *{args!r}]
runpy.run_module("evidence.cli", run_name="__main__")
"""


def loaded(*args: str, env: dict[str, str] | None = None) -> set[str]:
    """The heavy modules, and those of RUN_NEVER, `evidence ARGS...` has imported by the time it
    exits (scipy.stats and scipy.optimize by name, besides scipy)."""
    named = ("scipy.stats", "scipy.optimize", *RUN_NEVER)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY + LIBRARIES, args=list(args), named=named)],
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
    # typer draws help with rich; a command's help builds its options' converters (pydantic)
    assert loaded(*args) - {"pydantic", "rich"} == set()


def test_the_commands_list_needs_no_validation_or_templates() -> None:
    assert loaded("--help") == {"rich"}


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
    assert {"pandas", "jinja2"} <= mods  # the probe saw the run itself
    assert not mods & {"matplotlib", "statsmodels", "prefect", "scipy.stats", "scipy.optimize"}
    assert not mods & set(RUN_NEVER)
    again = sorted((tmp_path / "reports2" / "baclofen" / "figures").glob("*.svg"))
    assert again and all(
        p.read_bytes() == (reports / "baclofen" / "figures" / p.name).read_bytes() for p in again
    )


def test_a_run_that_feeds_a_pool_loads_no_synthesis_itself(data_copy: Path, tmp_path: Path) -> None:
    # The workers import the synthesis; the run's own process only plans and feeds them, so
    # its start (and, orchestrated, Prefect's) is not held up by pandas and the statistics.
    from tests.security.test_parallel_protocols import copies

    folder = copies(data_copy, 2)
    mods = loaded(
        "run",
        "--no-orchestrator",
        "--task-runner",
        "processes",
        "--protocol",
        str(folder),
        "--data",
        str(data_copy),
        "--processed",
        str(tmp_path / "processed"),
        "--reports",
        str(tmp_path / "reports"),
        env={"EVIDENCE_RUN_DATE": "2026-11-27"},
    )
    assert "evidence.runs.warmpool" in mods  # the probe saw a pool run
    assert not mods & {"pandas", "numpy", "scipy", "statsmodels", "matplotlib", "prefect"}
    assert (tmp_path / "reports" / "copy01").is_dir()
