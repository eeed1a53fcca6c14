"""Staging writes a folder's files several at a time (their syncs then reach the disk together):
every file still holds exactly its text, and a write refused in the middle leaves the previous
outputs live and whole, no staging behind, and no write still going on after `publish` raised."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from evidence.runs.outputs import Folder, OutputsNotWritten, Slot, publish

N = 40


def contents(run: str) -> dict[str, str]:
    """Many files, in two sub-folders too, each text different from the others and the run's."""
    files = {f"t{i:02d}.csv": f"run {run}, file {i}\n" * (i + 1) for i in range(N)}
    files |= {f"figures/f{i}.svg": f"<svg>{run} {i}</svg>\n" for i in range(5)}
    files["deep/er/one.md"] = f"# {run}\n"
    return files


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_every_staged_file_holds_its_own_text(tmp_path: Path) -> None:
    slot = Slot("tables", tmp_path, leaf="proto")
    publish("proto", [Folder(slot, "proto", contents("1"))])
    publish("proto", [Folder(slot, "proto", contents("2"))])
    assert tree(tmp_path / "proto") == contents("2")


@pytest.mark.parametrize("which", [0, N // 2, N + 5])
def test_a_write_refused_midway_leaves_the_previous_folder_and_no_writer_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, which: int
) -> None:
    slot = Slot("tables", tmp_path, leaf="proto")
    publish("proto", [Folder(slot, "proto", contents("1"))])
    before = tree(tmp_path / "proto")
    real_fsync = os.fsync
    lock = threading.Lock()
    calls: list[str] = []

    def fsync(fd: int) -> None:
        path = os.readlink(f"/proc/self/fd/{fd}")
        with lock:
            calls.append(path)
            n = len(calls) - 1
        if n == which:
            raised.set()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        real_fsync(fd)

    raised = threading.Event()
    threads = set(threading.enumerate())
    monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(OutputsNotWritten, match="No space left on device"):
        publish("proto", [Folder(slot, "proto", contents("2"))])
    monkeypatch.undo()
    assert raised.is_set()
    assert tree(tmp_path / "proto") == before
    stage = slot.stage("proto")
    assert not stage.exists(), sorted(p.name for p in stage.rglob("*"))
    # every writer has finished when publish raises: none is left to write into the staging
    assert set(threading.enumerate()) == threads
    # and the next publication, with space back, is complete
    publish("proto", [Folder(slot, "proto", contents("2"))])
    assert tree(tmp_path / "proto") == contents("2")
