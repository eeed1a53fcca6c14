"""Publishing outputs deletes nothing that is not the run's own, whatever ids or journals arrive,
and a folder swapped in is seen whole: all old or all new, at every point a run can die."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from evidence.pipeline import RunOutputs, recover_outputs, write_outputs
from evidence.runs.exchange import FORCE_FALLBACK_ENV, ExchangeUnsupported, exchange
from evidence.runs.outputs import (
    Folder,
    PublishError,
    Slot,
    commit,
    fault_points,
    publish,
    recover,
    recover_folders,
)
from evidence.runs.workspace import Workspace
from evidence.safepath import UnsafePath
from tests.conftest import synthesize

BESIDE = {  # a checkout: the outputs' folders with other people's files in and beside them
    ".git/HEAD": "ref: refs/heads/main\n",
    "README.md": "readme\n",
    "canary.txt": "beside the output folders\n",
    "data/raw/studies.csv": "study_id\n",
    "data/processed/canary.txt": "in --processed\n",
    "reports/canary.txt": "in --reports\n",
    "reports/baclofen/mine.txt": "a reader's notes in the report folder\n",
}


class Killed(BaseException):
    """Stands for SIGKILL: nothing after the fault point runs, nothing is cleaned up."""


def kill_at(point: str) -> Callable[[int | str], None]:
    def fault(p: int | str) -> None:
        if str(p) == point:
            raise Killed(point)

    return fault


def files(root: Path) -> dict[str, bytes] | None:
    if not root.is_dir():
        return None
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel, text in BESIDE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def workspace(repo: Path) -> Workspace:
    return Workspace(repo / "data" / "raw", repo / "data" / "processed", repo / "reports")


def run_outputs(pid: str, run: str = "2026-11-25-0123456789", v: str = "1") -> RunOutputs:
    return RunOutputs(
        processed={"pooled.csv": f"pooled v{v}\n"},
        reports={"index.html": f"<p>v{v}</p>\n", "figures/a.svg": f"<svg>{v}</svg>\n"},
        archive={"pooled.csv": f"pooled v{v}\n", "manifest.json": f'{{"v": "{v}"}}\n'},
        run_id=run,
        protocol=pid,
    )


def assert_beside_untouched(repo: Path) -> None:
    for rel, text in BESIDE.items():
        assert (repo / rel).read_text() == text, rel


# --- ids that are paths ---------------------------------------------------------------------


@pytest.mark.parametrize("pid", ["..", "", "/", "../..", "../x", ".", "a/b", "/tmp", "runs"])
def test_a_protocol_id_that_is_a_path_writes_and_deletes_nothing(repo: Path, pid: str) -> None:
    before = files(repo)
    with pytest.raises(UnsafePath):
        write_outputs(workspace(repo), run_outputs(pid))
    assert files(repo) == before


@pytest.mark.parametrize("run", ["..", "../x", "/tmp/x", "", "a/b"])
def test_a_run_id_that_is_a_path_is_refused(repo: Path, run: str) -> None:
    before = files(repo)
    with pytest.raises(UnsafePath):
        write_outputs(workspace(repo), run_outputs("baclofen", run=run))
    assert files(repo) == before


@pytest.mark.parametrize("name", ["a/../../x.html", "../x.html", "/etc/x", "a//b"])
def test_an_output_name_that_is_a_path_never_leaves_its_folder(repo: Path, name: str) -> None:
    out = run_outputs("baclofen")
    out.reports[name] = "x"
    with pytest.raises(UnsafePath):
        write_outputs(workspace(repo), out)
    assert_beside_untouched(repo)
    assert not (repo / "x.html").exists() and not (repo / "reports" / "x.html").exists()


def test_the_cli_refuses_a_dotdot_protocol_id_and_the_checkout_survives(
    repo: Path, data_copy: Path
) -> None:
    path = data_copy / "protocols" / "baclofen.yaml"
    proto = yaml.safe_load(path.read_text())
    proto["protocol_id"] = ".."
    path.write_text(yaml.safe_dump(proto, sort_keys=False))
    before = files(repo)
    result = synthesize(data_copy, repo / "data" / "processed", repo / "reports")
    assert result.exit_code == 1
    assert "protocol_id" in result.output and "'..'" in result.output
    assert files(repo) == before


def test_processed_and_reports_in_one_folder_is_refused(repo: Path) -> None:
    ws = Workspace(repo / "data" / "raw", repo / "out", repo / "out")
    with pytest.raises(UnsafePath, match="overlap"):
        write_outputs(ws, run_outputs("baclofen"))
    assert not (repo / "out" / "baclofen").exists()


def test_a_linked_report_folder_is_refused_and_its_target_untouched(
    repo: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "index.html").write_text("someone else's\n")
    (repo / "reports" / "baclofen" / "mine.txt").unlink()
    (repo / "reports" / "baclofen").rmdir()
    (repo / "reports" / "baclofen").symlink_to(elsewhere)
    with pytest.raises(PublishError, match="not a folder"):
        write_outputs(workspace(repo), run_outputs("baclofen"))
    assert files(elsewhere) == {"index.html": b"someone else's\n"}
    assert not (repo / "data" / "processed" / "runs").exists()  # refused before anything


def test_a_linked_state_folder_pointing_outside_is_refused(repo: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "baclofen" / "tables").mkdir(parents=True)
    (outside / "baclofen" / "tables" / "keep.txt").write_text("keep\n")
    (repo / "data" / "processed" / ".swap").symlink_to(outside)
    with pytest.raises(UnsafePath):
        write_outputs(workspace(repo), run_outputs("baclofen"))
    assert files(outside) == {"baclofen/tables/keep.txt": b"keep\n"}


# --- what a run may delete ------------------------------------------------------------------


def test_only_outputs_the_previous_run_published_unchanged_are_removed(repo: Path) -> None:
    ws = workspace(repo)
    first = run_outputs("baclofen", v="1")
    first.reports["figures/b.svg"] = "<svg>b</svg>\n"
    first.reports["figures/c.svg"] = "<svg>c</svg>\n"
    write_outputs(ws, first)
    report = repo / "reports" / "baclofen"
    (report / "figures" / "c.svg").write_text("<svg>edited by hand</svg>\n")
    (report / "figures" / "mine.svg").write_text("<svg>a reader's</svg>\n")
    (report / "notes").mkdir()
    (report / "notes" / "n.md").write_text("notes\n")
    write_outputs(ws, run_outputs("baclofen", run="2026-11-26-0123456789", v="2"))
    assert files(report) == {
        "index.html": b"<p>v2</p>\n",
        "figures/a.svg": b"<svg>2</svg>\n",
        "figures/c.svg": b"<svg>edited by hand</svg>\n",  # no longer written, but edited: kept
        "figures/mine.svg": b"<svg>a reader's</svg>\n",
        "notes/n.md": b"notes\n",
        "mine.txt": BESIDE["reports/baclofen/mine.txt"].encode(),
    }  # figures/b.svg, published by the first run and unchanged, is gone
    assert_beside_untouched(repo)
    assert sorted(os.listdir(repo / "data" / "processed" / "runs")) == [
        "2026-11-25-0123456789",
        "2026-11-26-0123456789",
    ]


def test_without_a_listing_nothing_unknown_is_removed(repo: Path) -> None:
    report = repo / "reports" / "baclofen"
    (report / "old-figure.svg").write_text("from a version that kept no listing\n")
    write_outputs(workspace(repo), run_outputs("baclofen"))
    assert (report / "old-figure.svg").read_text() == "from a version that kept no listing\n"
    assert (report / "index.html").read_text() == "<p>v1</p>\n"


def test_a_crafted_publishing_journal_deletes_nothing_outside(repo: Path, tmp_path: Path) -> None:
    ws = workspace(repo)
    write_outputs(ws, run_outputs("baclofen"))
    outside = tmp_path / "x"
    outside.write_text("outside\n")
    digest = "0" * 64
    journal = repo / "data" / "processed" / ".swap" / "baclofen" / ".journal.json"
    journal.write_text(
        json.dumps(
            {
                "key": "baclofen",
                "phase": "publishing",
                "published": {
                    "report": {
                        "leaf": "baclofen",
                        "files": {"../canary.txt": digest, str(outside): digest},
                    },
                    "tables": {"leaf": "..", "files": {"canary.txt": digest}},
                    "archive": {"leaf": "../../..", "files": {}},
                },
                "pending": [
                    {"name": "report", "leaf": "../..", "inode": [1, 2], "files": {}},
                    {"name": "tables", "leaf": "/tmp", "inode": [1, 2], "files": {}},
                    {"name": "archive", "leaf": "../../canary", "inode": [1, 2], "files": {}},
                    {"name": "elsewhere", "leaf": "x", "inode": [1, 2], "files": {}},
                    {"name": "report", "leaf": "baclofen", "inode": [1, 2], "files": {}},
                    "not a step",
                ],
            }
        )
    )
    before = files(repo)
    notes = recover_outputs(ws, "baclofen")
    assert outside.read_text() == "outside\n"
    assert_beside_untouched(repo)
    assert {k: v for k, v in files(repo).items() if not k.endswith(".journal.json")} == {
        k: v for k, v in before.items() if not k.endswith(".journal.json")
    }
    text = "\n".join(notes)
    assert text.count("ignored") >= 8 and "cannot finish publishing" in text
    write_outputs(ws, run_outputs("baclofen", run="2026-11-26-0123456789", v="2"))
    assert outside.read_text() == "outside\n"
    assert_beside_untouched(repo)


@pytest.mark.parametrize(
    "entry",
    [
        ["../../canary.txt", False, None],
        ["../canary.txt", False],
        ["/tmp/x", False, [0, 0]],
        ["inside.txt", False],  # no inode: it cannot be proven to be the commit's own
        ["inside.txt", False, [0, 1]],  # an inode that is not the file's
        ["a", "no", None],
        "not an entry",
    ],
)
def test_a_crafted_commit_journal_deletes_nothing(tmp_path: Path, entry: object) -> None:
    root, state = tmp_path / "root", tmp_path / "root" / ".swap" / "x"
    state.mkdir(parents=True)
    (root / "inside.txt").write_text("inside\n")
    (tmp_path / "canary.txt").write_text("canary\n")
    (state / ".journal.json").write_text(json.dumps({"phase": "swapping", "targets": [entry]}))
    message = recover(state, root)
    assert (root / "inside.txt").read_text() == "inside\n"
    assert (tmp_path / "canary.txt").read_text() == "canary\n"
    assert not (state / ".journal.json").exists()
    if entry[0] != "inside.txt":
        assert "ignored journal entries" in message


# --- all old or all new, at every point -----------------------------------------------------

NAMES = ("archive", "tables", "report")


def slots(base: Path) -> list[Slot]:
    return [
        Slot("archive", base / "p", parent="runs"),
        Slot("tables", base / "p", leaf="proto"),
        Slot("report", base / "r", leaf="proto"),
    ]


def contents(v: str, run: str, extra: bool = False) -> list[tuple[str, dict[str, str]]]:
    report = {"index.html": f"index {v}\n", "figures/f.svg": f"figure {v}\n"}
    if extra:
        report["figures/old.svg"] = "a figure the next run no longer draws\n"
    return [
        (run, {"t.csv": f"table {v}\n", "manifest.json": f"{v}\n"}),
        ("proto", {"t.csv": f"table {v}\n", "u.csv": f"u {v}\n"}),
        ("proto", report),
    ]


def seen(base: Path, run: str) -> dict[str, dict[str, bytes] | None]:
    return {
        "archive": files(base / "p" / "runs" / run),
        "tables": files(base / "p" / "proto"),
        "report": files(base / "r" / "proto"),
    }


EXPECTED = {
    "archive": {"manifest.json": b"2\n", "t.csv": b"table 2\n"},
    "tables": {"t.csv": b"table 2\n", "u.csv": b"u 2\n"},
    "report": {"figures/f.svg": b"figure 2\n", "index.html": b"index 2\n", "reader.txt": b"mine\n"},
}


def folders(base: Path, v: str, run: str, extra: bool = False) -> list[Folder]:
    return [
        Folder(s, leaf, f)
        for s, (leaf, f) in zip(slots(base), contents(v, run, extra), strict=True)
    ]


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "fallback"])
@pytest.mark.parametrize("repeat", [False, True], ids=["new-run", "same-run"])
@pytest.mark.parametrize("point", fault_points(NAMES))
def test_publish_killed_at_every_point_leaves_each_folder_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str, repeat: bool, fallback: bool
) -> None:
    if fallback:
        monkeypatch.setenv(FORCE_FALLBACK_ENV, "1")
    (tmp_path / "r" / "proto").mkdir(parents=True)
    (tmp_path / "r" / "proto" / "reader.txt").write_text("mine\n")
    (tmp_path / "r" / "canary.txt").write_text("canary\n")
    run = "run-1" if repeat else "run-2"
    publish("proto", folders(tmp_path, "1", "run-1", extra=True))
    old = seen(tmp_path, run)
    try:
        publish("proto", folders(tmp_path, "2", run), fault=kill_at(point))
        killed = False
    except Killed:
        killed = True
    now = seen(tmp_path, run)
    for name in NAMES:
        if killed and point == f"moved-aside:{name}":
            assert now[name] is None  # the fallback's one gap, closed by the next run
        else:
            assert now[name] in (old[name], EXPECTED[name]), name
    is_new = [now[n] == EXPECTED[n] for n in NAMES]
    assert is_new == sorted(is_new, reverse=True)  # archive, then tables, then report

    notes = recover_folders("proto", slots(tmp_path))
    points = fault_points(NAMES)
    published = not killed or points.index(point) >= points.index("journal")
    assert seen(tmp_path, run) == (EXPECTED if published else old)
    finished = killed and points.index("journal") <= points.index(point) < points.index("done")
    assert any("finished publishing an interrupted run" in n for n in notes) == finished
    assert (tmp_path / "r" / "canary.txt").read_text() == "canary\n"
    assert not (tmp_path / "r" / ".swap").exists()
    assert os.listdir(tmp_path / "p" / ".swap" / "proto") == [".journal.json"]


@pytest.mark.parametrize("point", ["staged", "1", "2", "3", "committed"])
def test_commit_killed_at_every_point_is_all_or_nothing_after_recovery(
    tmp_path: Path, point: str
) -> None:
    root = tmp_path / "raw"
    state = root / ".swap" / "extraction"
    root.mkdir()
    (root / "studies.csv").write_text("old studies\n")
    (root / "gone.csv").write_text("to remove\n")
    old = files(root)
    with pytest.raises(Killed):
        commit(
            state,
            root,
            {root / "studies.csv": "new studies\n", root / "outcomes.csv": "new outcomes\n"},
            remove=[root / "gone.csv"],
            fault=kill_at(point),
        )
    recover(state, root)
    now = {k: v for k, v in files(root).items() if not k.startswith(".swap")}
    if point == "committed":
        assert now == {"studies.csv": b"new studies\n", "outcomes.csv": b"new outcomes\n"}
    else:
        assert now == old


def test_commit_refuses_files_outside_its_root(tmp_path: Path) -> None:
    root = tmp_path / "raw"
    root.mkdir()
    with pytest.raises(UnsafePath):
        commit(root / ".swap" / "x", root, {tmp_path / "evil.csv": "x"})
    with pytest.raises(UnsafePath):
        commit(root / ".swap" / "x", root, {root / ".." / "evil.csv": "x"})
    assert not (tmp_path / "evil.csv").exists()


def test_exchange_swaps_two_folders_or_says_it_cannot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "x").write_text("a\n")
    (b / "x").write_text("b\n")
    try:
        exchange(a, b)
    except ExchangeUnsupported:
        pytest.fail("this Linux filesystem supports RENAME_EXCHANGE")
    assert (a / "x").read_text() == "b\n" and (b / "x").read_text() == "a\n"
    monkeypatch.setenv(FORCE_FALLBACK_ENV, "1")
    with pytest.raises(ExchangeUnsupported):
        exchange(a, b)
    assert (a / "x").read_text() == "b\n"


def test_outputs_inside_the_data_folder_are_refused(tmp_path: Path) -> None:
    from tests.conftest import RAW, synthesize

    data = tmp_path / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    before = {p: p.read_bytes() for p in data.rglob("*") if p.is_file()}
    result = synthesize(data, data / "protocols", tmp_path / "reports")
    assert result.exit_code != 0 and "inside the data folder" in result.output
    after = {p: p.read_bytes() for p in data.rglob("*") if p.is_file() and "lock" not in p.name}
    assert after == before
