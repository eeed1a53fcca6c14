"""The Prefect flows: the same outputs as the plain functions, artifacts, several protocols."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from evidence import batch
from evidence.runs.workspace import Workspace

pytestmark = pytest.mark.usefixtures("prefect_server")


def tables(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("*.csv"))}


def test_synthesize_flow_equals_the_plain_run_and_publishes_artifacts(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.artifacts import Artifact

    from flows.synthesize import synthesize

    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-25")
    plain = Workspace(data_copy, tmp_path / "plain-p", tmp_path / "plain-r")
    batch.run_jobs(batch.plan(plain, None))
    written = synthesize(None, str(data_copy), str(tmp_path / "p"), str(tmp_path / "r"))
    assert str(tmp_path / "r" / "baclofen" / "index.html") in written
    assert tables(tmp_path / "p" / "baclofen") == tables(tmp_path / "plain-p" / "baclofen")
    assert (tmp_path / "r" / "baclofen" / "index.html").read_bytes() == (
        tmp_path / "plain-r" / "baclofen" / "index.html"
    ).read_bytes()
    changes = Artifact.get("baclofen-changes")
    ratings = Artifact.get("baclofen-ratings")
    assert changes is not None and "first run" in str(changes.data)
    assert ratings is not None and "spasticity" in str(ratings.data)


def copies(data: Path, n: int) -> list[str]:
    """n copies of the bundled protocol under new ids (same data files)."""
    src = yaml.safe_load((data / "protocols" / "baclofen.yaml").read_text())
    folder = data / "many"
    folder.mkdir()
    for i in range(n):
        src["protocol_id"] = f"copy{i:02d}"
        (folder / f"copy{i:02d}.yaml").write_text(yaml.safe_dump(src, sort_keys=False))
    return [str(folder)]


@pytest.mark.parametrize("runner", ["serial", "threads", "processes", "dask"])
def test_several_protocols_on_a_task_runner(data_copy: Path, tmp_path: Path, runner: str) -> None:
    from flows.run import run_orchestrated

    ws = Workspace(data_copy, tmp_path / "p", tmp_path / "r")
    jobs = batch.plan(ws, copies(data_copy, 3))
    assert all(j.workspace == ws for j in jobs)  # each protocol writes its own folders there
    results = run_orchestrated(jobs, runner, 2, None, False)
    assert len(results) == 3
    first = tables(tmp_path / "p" / "copy00")
    assert first and all(tables(tmp_path / "p" / f"copy{i:02d}") == first for i in (1, 2))
    for i in range(3):
        assert (tmp_path / "r" / f"copy{i:02d}" / "index.html").is_file()


def test_the_cli_runs_through_the_flow(data_copy: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from evidence.cli import app

    shutil.rmtree(data_copy / "pubmed", ignore_errors=True)
    result = CliRunner().invoke(app, ["run", "--data", str(data_copy), "--processed",
                                      str(tmp_path / "p"), "--reports", str(tmp_path / "r")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "p" / "baclofen" / "table_uses.csv").is_file()


def test_the_flow_finishes_an_interrupted_run_before_it_reads_the_history(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.artifacts import Artifact

    from flows.synthesize import synthesize
    from tests.report.test_report import add_trial

    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-25")
    p, r = tmp_path / "p", tmp_path / "r"
    batch.run_jobs(batch.plan(Workspace(data_copy, p, r), None))
    add_trial(data_copy)
    killed = subprocess.run(
        [sys.executable, "-c", "from evidence.cli import main; main()", "run",
         "--no-orchestrator", "--data", str(data_copy), "--processed", str(p), "--reports",
         str(r)],
        env={**os.environ, "EVIDENCE_FAULT_AT": "journal"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert killed.returncode == -9, killed.stderr
    synthesize(None, str(data_copy), str(p), str(r))
    log = (r / "baclofen" / "changelog.md").read_text(encoding="utf-8")
    # the killed run was published first, so this one repeats it: no third entry
    assert "newtrial_2026" in log and log.count("\n## Run ") == 2
    changes = Artifact.get("baclofen-changes")
    assert changes is not None and "newtrial_2026" in str(changes.data)
    assert len(list((p / "runs").iterdir())) == 2 and not (r / ".swap").exists()


def test_a_flow_takes_the_pool_its_run_started_even_if_some_protocols_did_not_load() -> None:
    """The run sizes its pool by the protocol files, the flow by the protocols that loaded."""
    from flows.many import started_pools, take_pool

    class Started:
        workers = 2

    started = Started()
    started_pools.append(("processes", None, started))  # type: ignore[arg-type]
    try:
        assert take_pool("processes", 1, None) is started
        assert started_pools == []
    finally:
        started_pools.clear()
