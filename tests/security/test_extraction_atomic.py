"""add-extraction changes studies.csv and outcomes.csv together, one addition at a time.

A kill between the two swaps used to leave a study without its outcomes; now whatever reads the
data next (validate, run, add-extraction) first finishes or undoes the interrupted change.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.inputs import rawdata
from evidence.runs.runlock import RunLocked, run_lock
from evidence.safepath import UnsafePath
from tests.foundation import csvedit
from tests.foundation.test_extraction import PMID, prepare

runner = CliRunner()
EVIDENCE = [sys.executable, "-c", "from evidence.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]
TABLES = ("studies.csv", "outcomes.csv")


def tables(data: Path) -> dict[str, bytes]:
    return {name: (data / name).read_bytes() for name in TABLES}


def completed(data: Path) -> Path:
    """A template for PMID with one outcome row filled in."""
    folder = prepare(data)
    where = {"outcome": "abstinence", "arm_role": "treatment"}
    csvedit.set_cell(folder / "outcomes.csv", where, "n", "50")
    csvedit.set_cell(folder / "outcomes.csv", where, "events", "20")
    return folder


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*EVIDENCE, *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def added(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, dict]:
    """A data folder with a completed template, the tables before, and after the addition."""
    from tests.conftest import RAW

    base = tmp_path_factory.mktemp("atomic")
    data = base / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    completed(data)
    before = tables(data)
    done = base / "done"
    shutil.copytree(data, done)
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(done)])
    assert result.exit_code == 0, result.output
    return data, before, tables(done)


@pytest.mark.parametrize(
    ("point", "reader"),
    [("2", "validate"), ("1", "add-extraction"), ("2", "run"), ("committed", "validate")],
)
def test_a_kill_during_the_swap_is_undone_or_finished_by_the_next_reader(
    added: tuple[Path, dict, dict], tmp_path: Path, point: str, reader: str
) -> None:
    source, before, after = added
    data = tmp_path / "raw"
    shutil.copytree(source, data)
    killed = cli(
        "add-extraction", "--pmid", PMID, "--data", str(data), env={"EVIDENCE_FAULT_AT": point}
    )
    assert killed.returncode == -9, killed.stderr
    assert rawdata.pending(data)
    if point == "2":  # outcomes.csv swapped, studies.csv not: the state the old code left
        assert (data / "outcomes.csv").read_bytes() == after["outcomes.csv"]
        assert (data / "studies.csv").read_bytes() == before["studies.csv"]
    finished = point == "committed"
    if reader == "validate":
        result = cli("validate", "--data", str(data))
        assert result.returncode == 0, result.stderr
        assert tables(data) == (after if finished else before)
    elif reader == "run":
        out = tmp_path / "out"
        result = cli(
            "run",
            "--no-orchestrator",
            "--data",
            str(data),
            "--processed",
            str(out / "p"),
            "--reports",
            str(out / "r"),
            env={"EVIDENCE_RUN_DATE": "2026-11-25"},
        )
        assert result.returncode == 0, result.stderr
        assert tables(data) == before
        assert (out / "p" / "baclofen" / "pooled.csv").is_file()
    else:
        retry = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data)])
        assert retry.exit_code == 0, retry.output
        assert tables(data) == after
    assert not rawdata.pending(data)
    if not finished:  # the retry that used to be refused now adds the study and its outcomes
        retry = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data)])
        assert (retry.exit_code == 0) == (reader != "add-extraction"), retry.output
        assert tables(data) == after


def test_an_addition_waits_for_or_refuses_another_change_of_the_data(data_copy: Path) -> None:
    completed(data_copy)
    before = tables(data_copy)
    with run_lock(data_copy):
        busy = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert busy.exit_code == 1 and "still writing here" in busy.output
    assert tables(data_copy) == before
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert tables(data_copy) != before


def test_a_reader_never_undoes_a_change_still_being_made(
    added: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    source, before, after = added
    data = tmp_path / "raw"
    shutil.copytree(source, data)
    killed = cli(
        "add-extraction", "--pmid", PMID, "--data", str(data), env={"EVIDENCE_FAULT_AT": "2"}
    )
    assert killed.returncode == -9, killed.stderr
    with run_lock(data):  # as if the writer were still at work
        with pytest.raises(RunLocked):
            rawdata.recover(data, timeout=0.3)
        assert (data / "outcomes.csv").read_bytes() == after["outcomes.csv"]
    assert rawdata.recover(data).startswith("rolled back")
    assert tables(data) == before


def test_nothing_pending_means_no_lock_and_no_write(data_copy: Path) -> None:
    os.chmod(data_copy, 0o555)  # a read-only data folder can still be validated and read
    try:
        assert rawdata.recover(data_copy) == "nothing to recover"
        assert not (data_copy / rawdata.SWAP_DIR).exists()
    finally:
        os.chmod(data_copy, 0o755)


def test_a_change_never_writes_outside_the_data_folder(tmp_path: Path) -> None:
    data = tmp_path / "raw"
    data.mkdir()
    outside = tmp_path / "outside.csv"
    outside.write_text("keep", encoding="utf-8")
    (data / "linked.csv").symlink_to(outside)
    with rawdata.changing(data):
        for path in (tmp_path / "x.csv", data / ".." / "x.csv"):
            with pytest.raises(UnsafePath, match="must be a relative path inside"):
                rawdata.replace(data, {path: "x"})
        (data / "sub").symlink_to(tmp_path, target_is_directory=True)
        with pytest.raises(UnsafePath, match="would leave"):
            rawdata.replace(data, {data / "sub" / "x.csv": "x"})
        rawdata.replace(data, {data / "linked.csv": "new"})
    assert outside.read_text(encoding="utf-8") == "keep"  # the link is replaced, not followed
    assert not (data / "linked.csv").is_symlink()
    assert (data / "linked.csv").read_text(encoding="utf-8") == "new"
    assert not (tmp_path / "x.csv").exists()


def test_a_change_waits_for_a_run_reading_the_data_and_a_run_waits_for_a_change(
    data_copy: Path,
) -> None:
    """Readers share DATA's lock, a change holds it alone: neither sees the other half-done."""
    import threading

    events: list[str] = []

    def read() -> None:
        with rawdata.reading(data_copy):
            events.append("read")

    with rawdata.changing(data_copy):  # a change is being made (creates the lock file)
        reader = threading.Thread(target=read)
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and events == []  # the reader waits for the change
        events.append("changed")
    reader.join(10)
    assert events == ["changed", "read"]
    with rawdata.reading(data_copy), pytest.raises(RunLocked):
        with rawdata.changing(data_copy):  # a change cannot start while a run reads
            pass
