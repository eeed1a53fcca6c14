"""A run killed (SIGKILL) at any point of publishing: a reader of each folder sees all of the old
run or all of the new one, the next run finishes and reports the real changes, and nothing else
is touched. Two runs of a protocol never write at once."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.runs.outputs import fault_points
from evidence.runs.runlock import protocol_lock
from tests import published
from tests.conftest import synthesize
from tests.published import run_offline as run_cli
from tests.report.test_report import add_trial

runner = CliRunner()
DESTS = ("archive", "tables", "report")
POINTS = fault_points(DESTS)
# A new run's archive is a new folder (renamed in, nothing to exchange), and the fallback's
# points are reached only with the fallback: those runs are below, with the fallback forced.
EXCHANGE = [p for p in POINTS if not p.startswith("moved-aside:") and p != "exchanged:archive"]
FALLBACK = ["moved-aside:tables", "moved-aside:report"]
CANARIES = ("canary.txt", "reports/canary.txt", "processed/canary.txt", "reports/baclofen/mine.txt")

View = published.Tree | None


def tree(root: Path) -> View:
    """Every file under `root` (None when `root` is absent); the archive's staging,
    PROCESSED/runs/.swap/, is the publisher's, not a run's folder."""
    return published.tree(root, skip=".swap") if root.is_dir() else None


def seen(out: Path) -> dict[str, View]:
    """What a reader of each destination sees."""
    return {
        "archive": tree(out / "processed" / "runs"),
        "tables": tree(out / "processed" / "baclofen"),
        "report": tree(out / "reports" / "baclofen"),
    }


@pytest.fixture(scope="module")
def states(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict, Path]:
    """Inputs after a new trial; outputs of a run before it (with a reader's files about) and of
    a complete run after it."""
    from tests.conftest import RAW

    base = tmp_path_factory.mktemp("kill")
    before, after = base / "before", base / "after"
    shutil.copytree(RAW, before, ignore=shutil.ignore_patterns("pubmed"))
    shutil.copytree(before, after)
    add_trial(after)
    old = base / "old"
    assert run_cli(before, old, {}).returncode == 0
    for name in CANARIES:
        (old / name).write_text(f"a reader's {name}\n")
    new = base / "new"
    shutil.copytree(old, new)
    assert run_cli(after, new, {}).returncode == 0
    return after, old, seen(old), seen(new), new


def without_changelog(t: View) -> View:
    return {k: v for k, v in t.items() if k != "changelog.md"} if t is not None else None


@pytest.mark.parametrize(
    ("point", "fallback"), [(p, False) for p in EXCHANGE] + [(p, True) for p in FALLBACK]
)
def test_kill_9_at_every_point_readers_see_old_or_new_and_the_next_run_reports_the_changes(
    states: tuple[Path, Path, dict, dict, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    point: str,
    fallback: bool,
) -> None:
    after, old, previous, expected, _ = states
    work = tmp_path / "out"
    shutil.copytree(old, work)
    env = {"EVIDENCE_FAULT_AT": point}
    if fallback:
        env["EVIDENCE_NO_RENAME_EXCHANGE"] = "1"
    killed = run_cli(after, work, env)
    assert killed.returncode == -9, killed.stderr

    # (a) each destination is all old or all new (the fallback's one gap: moved aside, absent)
    now = seen(work)
    for dest in DESTS:
        if point == f"moved-aside:{dest}":
            assert now[dest] is None
        else:
            assert now[dest] in (previous[dest], expected[dest]), dest
    is_new = [now[d] == expected[d] for d in DESTS]
    assert is_new == sorted(is_new, reverse=True)  # in order: archive, then tables, then report
    if POINTS.index(point) < POINTS.index("journal"):
        assert not any(is_new)

    # (b) the next run finishes or discards the killed one first, then reports the real changes
    monkeypatch.setenv("EVIDENCE_RUN_DATE", published.RUN_DATE)
    again = synthesize(after, work / "processed", work / "reports")
    assert again.exit_code == 0, again.output
    final = seen(work)
    assert final["archive"] == expected["archive"] and final["tables"] == expected["tables"]
    # past the commit point the killed run was finished before the history was read, so it
    # counts as published and this run repeats it, appending nothing; before, it left no trace
    # and this run appends the same entry: either way the changelog is the complete run's
    assert final["report"] == expected["report"]
    log = (work / "reports" / "baclofen" / "changelog.md").read_text(encoding="utf-8")
    pool = "Alcohol use disorder, oral baclofen vs placebo: Abstinence"
    assert "newtrial_2026" in log and pool in log and log.count("\n## Run ") == 2
    html = (work / "reports" / "baclofen" / "index.html").read_text(encoding="utf-8")
    assert "newtrial_2026" in html.split('id="changes"')[1].split("</div>")[0]

    # (c) a reader's files survive, and the bookkeeping is tidied away
    for name in CANARIES:
        assert (work / name).read_text() == f"a reader's {name}\n", name
    assert not (work / "reports" / ".swap").exists()
    assert not (work / "processed" / "runs" / ".swap").exists()
    assert sorted(p.name for p in (work / "processed" / ".swap" / "baclofen").iterdir()) == [
        ".journal.json"
    ]


def test_kill_9_while_a_repeated_run_exchanges_its_archive(
    states: tuple[Path, Path, dict, dict, Path], tmp_path: Path
) -> None:
    """The one point a new run does not reach: its archive folder already exists."""
    after, _, _, expected, new = states
    work = tmp_path / "out"
    shutil.copytree(new, work)
    killed = run_cli(after, work, {"EVIDENCE_FAULT_AT": "exchanged:archive"})
    assert killed.returncode == -9, killed.stderr
    assert seen(work) == expected  # a repeat: the old and the new folders hold the same files
    again = run_cli(after, work, {})
    assert again.returncode == 0, again.stderr
    assert "finished publishing an interrupted run" in again.stderr
    assert without_changelog(seen(work)["report"]) == without_changelog(expected["report"])
    assert seen(work)["archive"] == expected["archive"]
    for name in CANARIES:
        assert (work / name).read_text() == f"a reader's {name}\n", name
    assert sorted(p.name for p in (work / "processed" / ".swap" / "baclofen").iterdir()) == [
        ".journal.json"
    ]


def test_a_second_run_exits_with_a_clear_message_or_waits(data_copy: Path, tmp_path: Path) -> None:
    args = [
        "run",
        "--no-orchestrator",
        "--data",
        str(data_copy),
        "--processed",
        str(tmp_path / "p"),
        "--reports",
        str(tmp_path / "r"),
    ]
    tables = tmp_path / "p" / "baclofen"
    with protocol_lock(tmp_path / "p", "baclofen"):
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert "is still writing here" in result.output and f"pid {os.getpid()}" in result.output
    assert not tables.exists()

    written_while_held: list[bool] = []

    def release_later(ready: threading.Event, go: threading.Event) -> None:
        with protocol_lock(tmp_path / "p", "baclofen"):
            ready.set()
            go.wait(60)
            written_while_held.append(tables.exists())

    ready, go = threading.Event(), threading.Event()
    holder = threading.Thread(target=release_later, args=(ready, go))
    holder.start()
    ready.wait()
    threading.Timer(1.0, go.set).start()
    result = runner.invoke(app, [*args, "--wait"])
    holder.join()
    assert result.exit_code == 0, result.output
    assert "waiting for the run by pid" in result.output
    assert written_while_held == [False]  # the waiting run wrote only after the lock was free
    assert (tables / "pooled.csv").is_file()
