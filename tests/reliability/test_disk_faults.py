"""Disk and filesystem faults while a run publishes its outputs: a reports folder on another
filesystem works; a full disk or a read-only folder ends in one line (exit 1) with the previous
outputs byte-identical and nothing left behind, and the next run, once the fault is gone, writes
exactly what a clean run writes."""

from __future__ import annotations

import errno
import os
import resource
import shutil
import signal
import stat
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence import pipeline
from evidence.report import figcache
from evidence.runs import outputs as outputs_mod
from evidence.runs.outputs import OutputsNotWritten
from evidence.runs.workspace import Workspace
from tests import published
from tests.conftest import RAW, synthesize
from tests.flows.conftest import prefect_server  # noqa: F401  (the Prefect test server)
from tests.published import RUN_DATE, Tree, leftovers
from tests.published import run_offline as cli
from tests.report.test_report import add_trial

FIGURE_CACHE = figcache.FOLDER  # drawn figures kept under PROCESSED for reuse


def tree(root: Path) -> Tree:
    """Every entry under `root`, folders included; drawn figures kept for reuse are a cache,
    not an output."""
    return published.tree(root, skip=FIGURE_CACHE, folders=True)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Outputs of a run (with a reader's file among them), inputs with a new trial, the outputs
    that trial's run computes, and what a clean publication of them leaves on disk."""
    saved = os.environ.get("EVIDENCE_RUN_DATE")
    os.environ["EVIDENCE_RUN_DATE"] = RUN_DATE
    try:
        base = tmp_path_factory.mktemp("disk")
        before, after = base / "before", base / "after"
        shutil.copytree(RAW, before, ignore=shutil.ignore_patterns("pubmed"))
        shutil.copytree(before, after)
        add_trial(after)
        old = base / "old"
        res = synthesize(before, old / "processed", old / "reports")
        assert res.exit_code == 0, res.output
        (old / "reports" / "baclofen" / "mine.txt").write_text("a reader's notes\n")
        ws = Workspace(after, old / "processed", old / "reports")
        pid = pipeline.protocol_id(ws, None)
        snapshot = pipeline.load(ws, None)
        ctx = pipeline.load_context(ws, snapshot)
        tab = pipeline.tabulate(snapshot)
        analyses = pipeline.pool(snapshot, tab)
        ratings = pipeline.rate(snapshot, tab, analyses, after / snapshot.protocol.rating.rule_set)
        outs = pipeline.report(snapshot, tab, analyses, ratings, ctx)
        clean = base / "clean"
        shutil.copytree(old, clean)
        pipeline.write_outputs(Workspace(after, clean / "processed", clean / "reports"), outs)
        assert tree(clean) != tree(old)
        yield {"after": after, "old": old, "outputs": outs, "clean": tree(clean), "pid": pid}
    finally:
        if saved is None:
            os.environ.pop("EVIDENCE_RUN_DATE", None)
        else:
            os.environ["EVIDENCE_RUN_DATE"] = saved


# --- injecting refused writes into the primitives publishing uses ------------------------------

OPS = ("write", "mkdir", "rename", "replace", "exchange", "link")


class Injector:
    """Counts the calls of each primitive and raises `error` at the chosen one."""

    def __init__(
        self, mp: pytest.MonkeyPatch, op: str | None = None, at: int = -1, error: int = errno.ENOSPC
    ) -> None:
        self.op, self.at, self.error = op, at, error
        self.calls: dict[str, list[str]] = {o: [] for o in OPS}
        self.raised = False
        self.lock = threading.Lock()
        real_fsync, real_exchange = os.fsync, outputs_mod.exchange

        def fsync(fd: int) -> None:  # a regular file's data reaching the disk: its write
            if stat.S_ISREG(os.fstat(fd).st_mode):
                self.hit("write", os.readlink(f"/proc/self/fd/{fd}"))
            real_fsync(fd)

        mp.setattr(os, "fsync", fsync)
        for name in ("mkdir", "rename", "replace", "link"):
            mp.setattr(os, name, self.wrap(name, getattr(os, name)))
        mp.setattr(outputs_mod, "exchange", self.wrap("exchange", real_exchange))

    def hit(self, op: str, path: object) -> None:
        with self.lock:  # staging writes its files from several threads at once
            self.calls[op].append(str(path))
            chosen = op == self.op and len(self.calls[op]) - 1 == self.at
            self.raised = self.raised or chosen
        if chosen:
            raise OSError(self.error, os.strerror(self.error), str(path))

    def wrap(self, op: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if op != "mkdir":
                self.hit(op, f"{os.fsdecode(args[0])} -> {os.fsdecode(args[1])}")
            elif not os.path.lexists(args[0]):  # creating a folder (an existing one is no write)
                self.hit(op, args[0])
            return real(*args, **kwargs)

        return call


def publish_with(world: dict[str, Any], work: Path, mp: pytest.MonkeyPatch, **kw: Any) -> Injector:
    """Publish the new trial's outputs over a copy of the old ones, with the fault given."""
    shutil.copytree(world["old"], work)
    ws = Workspace(world["after"], work / "processed", work / "reports")
    with pytest.MonkeyPatch.context() as inner:
        inj = Injector(inner, **kw)
        try:
            pipeline.write_outputs(ws, world["outputs"])
        except OutputsNotWritten as exc:
            inj.error_text = str(exc)  # type: ignore[attr-defined]
    return inj


def points(world: dict[str, Any], tmp: Path, fallback: bool) -> dict[str, list[int]]:
    """Every call of each primitive in a clean publication; of the file writes, the first and
    last into each folder and every journal write (all writes alike beyond that)."""
    with pytest.MonkeyPatch.context() as mp:
        if fallback:
            mp.setenv("EVIDENCE_NO_RENAME_EXCHANGE", "1")
        rec = publish_with(world, tmp / "record", mp)
    shutil.rmtree(tmp / "record")
    chosen = {op: list(range(len(calls))) for op, calls in rec.calls.items()}
    firsts: dict[str, int] = {}
    lasts: dict[str, int] = {}
    for i, path in enumerate(rec.calls["write"]):
        folder = str(Path(path).parent)
        firsts.setdefault(folder, i)
        lasts[folder] = i
    chosen["write"] = sorted(set(firsts.values()) | set(lasts.values()))
    return chosen


@pytest.mark.parametrize("fallback", [False, True], ids=["exchange", "two-renames"])
def test_a_refused_write_or_rename_at_any_point_leaves_the_previous_outputs_and_nothing_else(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fallback: bool
) -> None:
    if fallback:
        monkeypatch.setenv("EVIDENCE_NO_RENAME_EXCHANGE", "1")
    old = tree(world["old"])
    chosen = points(world, tmp_path, fallback)
    assert chosen["write"] and chosen["rename"] and chosen["mkdir"]
    tried = 0
    for op in OPS:
        for n in chosen[op]:
            work = tmp_path / f"{op}-{n}"
            inj = publish_with(world, work, monkeypatch, op=op, at=n)
            assert inj.raised, f"{op} #{n} was not reached"
            tried += 1
            if op == "link":
                # a link refused (another filesystem) falls back to a copy: the run completes
                assert tree(work) == world["clean"], f"{op} #{n}"
                shutil.rmtree(work)
                continue
            message = getattr(inj, "error_text", None)
            assert message is not None, f"{op} #{n}: publishing went on after the refusal"
            assert "\n" not in message and message.startswith("cannot write ")
            assert message.endswith(": No space left on device"), message
            now = tree(work)
            if inj.calls[op][n].split(" -> ")[0].endswith(outputs_mod.JOURNAL_DONE):
                # closing the journal once every folder is live (a rename over a file, which
                # needs no space): the new outputs are live, the next run closes the journal
                assert {k: v for k, v in now.items() if ".swap" not in k} == {
                    k: v for k, v in world["clean"].items() if ".swap" not in k
                }, f"{op} #{n}"
            else:
                assert now == old, f"{op} #{n}: {leftovers(old, now)}"
            # once space is back, the next run writes exactly what a clean run writes
            ws = Workspace(world["after"], work / "processed", work / "reports")
            pipeline.write_outputs(ws, world["outputs"])
            again = tree(work)
            assert again == world["clean"], f"{op} #{n}: {leftovers(world['clean'], again)}"
            shutil.rmtree(work)
    assert tried >= 12


def test_a_full_disk_for_real_ends_in_one_line_and_the_rerun_completes(
    world: dict[str, Any], tmp_path: Path
) -> None:
    """A file-size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the kernel refuse the largest
    output's write (EFBIG) as a full disk would: the command's one line, exit 1, old outputs."""
    work = tmp_path / "out"
    shutil.copytree(world["old"], work)
    old = tree(work)
    largest = max(len(v) for v in world["clean"].values() if v is not None)
    limit = largest - 1

    def small_disk() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    failed = cli(world["after"], work, preexec_fn=small_disk)
    assert failed.returncode == 1, failed.stderr
    lines = failed.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in failed.stderr, failed.stderr
    assert lines[0].startswith("evidence: cannot write ") and lines[0].endswith(
        ": File too large"
    ), lines[0]
    now = tree(work)
    assert now == old, leftovers(old, now)
    rerun = cli(world["after"], work)
    assert rerun.returncode == 0, rerun.stderr
    assert tree(work) == world["clean"], leftovers(world["clean"], tree(work))


# --- a read-only reports folder ----------------------------------------------------------------


def refuses_writes(folder: Path) -> bool:
    """Whether the system really refuses to create a file in `folder` (root ignores modes)."""
    try:
        fd, probe = tempfile.mkstemp(dir=folder)
    except OSError:
        return True
    os.close(fd)
    os.unlink(probe)
    return False


def read_only(mp: pytest.MonkeyPatch, folder: Path) -> None:
    """Make every creation or move of an entry under `folder` fail with EROFS, as a read-only
    mount does: for when the tests run as root."""
    root = str(folder.resolve())

    def under(path: object) -> bool:
        text = os.path.abspath(os.fsdecode(path))  # type: ignore[arg-type]
        return text == root or text.startswith(root + os.sep)

    def guard(real: Callable[..., Any], *which: int) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if any(under(args[i]) for i in which if i < len(args)):
                raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(args[which[-1]]))
            return real(*args, **kwargs)

        return call

    real_open = os.open

    def open_(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR) and under(path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    mp.setattr(os, "open", open_)
    mp.setattr(os, "mkdir", guard(os.mkdir, 0))
    for name in ("rename", "replace", "link"):
        mp.setattr(os, name, guard(getattr(os, name), 0, 1))
    mp.setattr(outputs_mod, "exchange", guard(outputs_mod.exchange, 0, 1))


def test_a_read_only_reports_folder_ends_in_one_line_with_the_previous_outputs(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "out"
    shutil.copytree(world["old"], work)
    old = tree(work)
    reports = work / "reports"
    mode = reports.stat().st_mode
    reports.chmod(0o555)
    try:
        if refuses_writes(reports):
            expected = "Permission denied"
        else:  # as root the mode stops nothing: refuse the writes as a read-only mount would
            read_only(monkeypatch, reports)
            expected = "Read-only file system"
        assert refuses_writes(reports)
        res = synthesize(world["after"], work / "processed", reports)
    finally:
        monkeypatch.undo()
        reports.chmod(stat.S_IMODE(mode))
    assert res.exit_code == 1, res.output
    lines = res.output.strip().splitlines()
    assert lines == [f"evidence: cannot write {reports / 'baclofen'}: {expected}"], res.output
    now = tree(work)
    assert now == old, leftovers(old, now)
    rerun = synthesize(world["after"], work / "processed", reports)
    assert rerun.exit_code == 0, rerun.output
    assert tree(work) == world["clean"], leftovers(world["clean"], tree(work))


# --- a reports folder on another filesystem ----------------------------------------------------


def other_device(than: Path) -> Path | None:
    """A writable folder on another filesystem than `than`, if this machine has one."""
    dev = than.stat().st_dev
    for cand in (Path("/dev/shm"), Path("/run"), Path("/tmp"), Path("/var/tmp")):
        try:
            if cand.is_dir() and cand.stat().st_dev != dev and os.access(cand, os.W_OK):
                return Path(tempfile.mkdtemp(prefix="evidence-xdev-", dir=cand))
        except OSError:
            continue
    return None


def cross_device(mp: pytest.MonkeyPatch, a: Path, b: Path) -> None:
    """Renames and links between the trees `a` and `b` fail with EXDEV, as across mounts."""
    roots = [str(a.resolve()), str(b.resolve())]

    def tree_of(path: object) -> int:
        text = os.path.abspath(os.fsdecode(path))  # type: ignore[arg-type]
        return next((i for i, r in enumerate(roots) if text.startswith(r + os.sep)), -1)

    def guard(real: Callable[..., Any]) -> Callable[..., Any]:
        def call(src: Any, dst: Any, *args: Any, **kwargs: Any) -> Any:
            if tree_of(src) != tree_of(dst):
                raise OSError(errno.EXDEV, os.strerror(errno.EXDEV), str(src), None, str(dst))
            return real(src, dst, *args, **kwargs)

        return call

    for name in ("rename", "replace", "link"):
        mp.setattr(os, name, guard(getattr(os, name)))
    mp.setattr(outputs_mod, "exchange", guard(outputs_mod.exchange))


def test_reports_on_another_filesystem_than_the_processed_folder(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", RUN_DATE)
    elsewhere = other_device(tmp_path)
    try:
        if elsewhere is None:  # one filesystem only: refuse cross-tree moves as mounts would
            elsewhere = tmp_path / "elsewhere"
            elsewhere.mkdir()
            cross_device(monkeypatch, tmp_path / "processed", elsewhere)
        else:
            assert elsewhere.stat().st_dev != tmp_path.stat().st_dev
        reports = elsewhere / "reports"
        shutil.copytree(world["old"] / "reports", reports)
        shutil.copytree(world["old"] / "processed", tmp_path / "processed")
        res = synthesize(world["after"], tmp_path / "processed", reports)
        assert res.exit_code == 0, res.output
        clean = world["clean"]
        got: Tree = {"processed": None, "reports": None}
        got |= {
            **{f"processed/{k}": v for k, v in tree(tmp_path / "processed").items()},
            **{f"reports/{k}": v for k, v in tree(reports).items()},
        }
        assert got == clean, leftovers(clean, got)
        # and a first run into empty folders there
        shutil.rmtree(reports)
        shutil.rmtree(tmp_path / "processed")
        res = synthesize(world["after"], tmp_path / "processed", reports)
        assert res.exit_code == 0, res.output
        assert (reports / "baclofen" / "index.html").is_file()
        assert not (reports / ".swap").exists()
    finally:
        if elsewhere is not None and elsewhere.is_relative_to(Path("/dev/shm")):
            shutil.rmtree(elsewhere, ignore_errors=True)
        elif elsewhere is not None and not elsewhere.is_relative_to(tmp_path):
            shutil.rmtree(elsewhere, ignore_errors=True)


# --- the same under the orchestrator -----------------------------------------------------------


@pytest.mark.usefixtures("prefect_server")
def test_under_prefect_the_write_outputs_task_fails_with_the_same_line(
    world: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.synthesize import synthesize as flow

    monkeypatch.setenv("EVIDENCE_RUN_DATE", RUN_DATE)
    work = tmp_path / "out"
    shutil.copytree(world["old"], work)
    old = tree(work)
    with pytest.MonkeyPatch.context() as mp:
        Injector(mp, op="exchange", at=1)  # the report's exchange refused: disk full
        state = flow(
            None,
            str(world["after"]),
            str(work / "processed"),
            str(work / "reports"),
            return_state=True,
        )
    assert state.is_failed()
    line = f"cannot write {work / 'reports' / 'baclofen'}: No space left on device"
    assert line in (state.message or ""), state.message
    # The flow fails with the write-outputs task's own error. (Read from the returned state: the
    # server's task-run records arrive as events, which a process that ran other Prefect
    # servers before may still be sending elsewhere.)
    exc = state.result(raise_on_failure=False)
    assert isinstance(exc, OutputsNotWritten) and line in str(exc), repr(exc)
    steps = [frame.name for frame in traceback.extract_tb(exc.__traceback__)]
    assert "write_outputs" in steps, steps
    now = tree(work)
    assert now == old, leftovers(old, now)
