"""Make a run's outputs visible all at once, and delete nothing that is not the run's own.

Two mechanisms, both journaled so that a run killed at any point is finished or undone by the
next one (which calls the recovery first, under its run lock, before it reads anything):

`publish` is for folders a run owns whole: a protocol's tables, its report, a run's archive.
Each folder is written complete into a staging folder beside its destination
(`BASE/.swap/<key>/<name>`), then swapped in with one atomic exchange (Linux renameat2
RENAME_EXCHANGE; where that is missing, two renames, between which the destination is briefly
absent). The steps, each with a fault point for the tests (`EVIDENCE_FAULT_AT=<point>`):

1. `staged:<name>`: every folder staged, in the order given;
2. `journal`: the journal says "publishing" (the commit point: a run killed before it leaves
   only its staging, which the next run discards; killed after it, the next run finishes it);
3. `exchanged:<name>` (after the exchange) or `moved-aside:<name>` (fallback, between the two
   renames), then `swapped:<name>`: each folder goes live, in the order given;
4. `swept:<name>`: from each replaced folder, the files this run rewrote and the files the
   previous run published there, unchanged since (its own listing with each file's SHA-256,
   kept in the journal), are removed; anything else (a reader's notes, an output someone
   edited) was carried into the new folder when it was staged, or is moved back into it;
5. `done`: the journal says "done" and keeps this run's listing for the next run.

`commit` is for a few files among others (two CSVs in data/raw, say): each old file is moved to a
backup before its replacement goes in; a run killed before the journal says "committed" is
rolled back, after it the clean-up is completed. It is all-or-nothing after recovery, but a
reader looking during the swap may see some files new and some old.

The journal holds only names and inode numbers; paths are always built from a base folder given
by the code and checked names (`evidence.safepath`), and every journal entry read back is
checked again: an entry that is not one this code could have written is ignored, with a message.
"""

from __future__ import annotations

import filecmp
import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evidence.io import atomic_write_text
from evidence.runs.exchange import ExchangeUnsupported, exchange
from evidence.safepath import UnsafePath, check_id, entry_inside, relative_name

STATE = ".swap"
STAGE = ".staging"
BACKUP = ".backup"
JOURNAL = ".journal.json"
# Written before the commit point, so that closing the journal (done) or undoing the publication
# (rolled back) is a rename, which needs no free space on a full disk.
JOURNAL_DONE = ".journal.done.json"
JOURNAL_UNDO = ".journal.undo.json"

Fault = Callable[[int | str], None]
_FAULT_ENV = "EVIDENCE_FAULT_AT"
_BAD_ENTRY = (UnsafePath, ValueError, TypeError, KeyError, AttributeError)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Files written and synced at once while staging a folder (`_write_stage`).
_SYNC_WORKERS = 8


def _fault(point: int | str) -> None:
    """Kill this process (SIGKILL) at `point` when EVIDENCE_FAULT_AT names it: for the tests."""
    if os.environ.get(_FAULT_ENV) == str(point):
        os.kill(os.getpid(), 9)


def _no_fault(point: int | str) -> None:
    return None


class PublishError(ValueError):
    """A destination that cannot be replaced (a file or link where a folder should be, ...);
    what is live there is left as it was."""


class OutputsNotWritten(OSError):
    """The system refused a write (disk full, read-only folder, quota, ...): the previous outputs
    are live and whole, and nothing of the failed run is left behind.

    Built like an OSError (errno, strerror, path) so that it pickles; `str` is the one line an
    operator reads: "cannot write <path>: <reason>".
    """

    def __str__(self) -> str:
        return f"cannot write {shown(self.filename)}: {self.strerror}"


def shown(path: object) -> str:
    """A path relative to the working folder when it lies inside it, else as it is."""
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else str(path)
    try:
        rel = os.path.relpath(text)
    except ValueError:
        return text
    return text if rel.startswith("..") else rel


def not_written(where: Path, exc: OSError) -> OutputsNotWritten:
    """`exc` as the error an operator reads, naming the destination it was for."""
    if isinstance(exc, OutputsNotWritten):
        return exc
    reason = exc.strerror or str(exc) or type(exc).__name__
    return OutputsNotWritten(exc.errno or 0, reason, str(where))


# --- small file-system helpers --------------------------------------------------------------


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _is_dir(path: Path) -> bool:
    st = _lstat(path)
    return st is not None and stat.S_ISDIR(st.st_mode)


def _dir_ident(path: Path) -> list[int] | None:
    """(device, inode) of a real folder (not a link to one), which a rename keeps."""
    st = _lstat(path)
    return [st.st_dev, st.st_ino] if st is not None and stat.S_ISDIR(st.st_mode) else None


def _file_ident(path: Path) -> list[int] | None:
    st = _lstat(path)
    return [st.st_dev, st.st_ino] if st is not None and stat.S_ISREG(st.st_mode) else None


def _entries(root: Path, prefix: str = "") -> Iterator[tuple[str, bool]]:
    """(relative path, is a real folder) under `root`, parents first; links are not followed."""
    with os.scandir(root) as it:
        items = sorted(it, key=lambda e: e.name)
    for entry in items:
        rel = f"{prefix}{entry.name}"
        is_dir = entry.is_dir(follow_symlinks=False)
        yield rel, is_dir
        if is_dir:
            yield from _entries(Path(entry.path), rel + "/")


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _sha256(path: Path) -> str | None:
    """The digest of a regular file (not through a link), None for anything else."""
    if _file_ident(path) is None:
        return None
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _same(a: Path, b: Path) -> bool:
    """The same file (one inode, or equal bytes, or links with one target)."""
    sa, sb = _lstat(a), _lstat(b)
    if sa is None or sb is None:
        return False
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True
    if stat.S_ISLNK(sa.st_mode) and stat.S_ISLNK(sb.st_mode):
        return os.readlink(a) == os.readlink(b)
    if stat.S_ISREG(sa.st_mode) and stat.S_ISREG(sb.st_mode):
        return filecmp.cmp(a, b, shallow=False)
    return False


def _remove_own_dir(path: Path) -> None:
    """Remove a folder this code created (staging, backups); a link or file there is refused."""
    st = _lstat(path)
    if st is None:
        return
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafePath(
            f"{path}: expected a staging folder of this program, found a file or link; "
            "remove it by hand"
        )
    shutil.rmtree(path)


# --- folders swapped in whole ---------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """Where one folder of outputs goes: BASE/PARENT/<leaf>, staged in BASE/.swap/<key>/<name>.

    `leaf` fixes the folder's name (a protocol's own folder); without it any plain id is
    accepted (a run's archive under runs/).
    """

    name: str
    base: Path
    parent: str = ""
    leaf: str | None = None

    def dest(self, leaf: str) -> Path:
        check_id(leaf, f"{self.name} folder")
        if self.leaf is not None and leaf != self.leaf:
            raise UnsafePath(f"{self.name} folder: {leaf!r} is not {self.leaf!r}")
        return entry_inside(self.base, f"{self.parent}/{leaf}" if self.parent else leaf)

    def stage(self, key: str) -> Path:
        return self.state(key) / self.name

    def old(self, key: str) -> Path:
        return self.state(key) / f"{self.name}.old"

    def state(self, key: str) -> Path:
        """BASE/PARENT/.swap/<key>: in the destination's own folder, so on its filesystem, and
        every move between the two is a rename (never across devices)."""
        home = f"{self.parent}/{STATE}" if self.parent else STATE
        return entry_inside(self.base, f"{home}/{check_id(key, 'key')}")

    def legacy_stage(self, key: str) -> Path | None:
        """Where earlier versions staged a folder with a `parent` (BASE/.swap/<key>/<name>)."""
        if not self.parent:
            return None
        return entry_inside(self.base, f"{STATE}/{check_id(key, 'key')}/{self.name}")


@dataclass(frozen=True)
class Folder:
    """The complete contents of one destination: relative path → text."""

    slot: Slot
    leaf: str
    files: Mapping[str, str]


def fault_points(names: Sequence[str]) -> list[str]:
    """Every fault point of a `publish` of folders with these names, in order."""
    return [
        *(f"staged:{n}" for n in names),
        "journal",
        *(p for n in names for p in (f"exchanged:{n}", f"moved-aside:{n}", f"swapped:{n}")),
        *(f"swept:{n}" for n in names),
        "done",
    ]


def _journal_path(key: str, slots: Sequence[Slot]) -> Path:
    return entry_inside(slots[0].base, f"{STATE}/{check_id(key, 'key')}/{JOURNAL}")


def _check_entry(slots: Mapping[str, Slot], name: object, entry: Any, inode: bool) -> dict:
    if not isinstance(name, str) or name not in slots:
        raise ValueError(f"no destination called {name!r}")
    leaf = entry["leaf"]
    if not isinstance(leaf, str):
        raise ValueError(f"folder name {leaf!r} is not text")
    slots[name].dest(leaf)
    files = entry["files"]
    if not isinstance(files, dict) or not all(
        isinstance(v, str) and _SHA256.fullmatch(v) for v in files.values()
    ):
        raise ValueError("files must map relative paths to SHA-256 digests")
    out: dict[str, Any] = {
        "name": name,
        "leaf": leaf,
        "files": {str(relative_name(f, "listed file")): d for f, d in sorted(files.items())},
    }
    if inode:
        ident = entry["inode"]
        if not (
            isinstance(ident, list)
            and len(ident) == 2
            and all(type(i) is int and i >= 0 for i in ident)
        ):
            raise ValueError(f"inode {ident!r} is not a (device, inode) pair")
        out["inode"] = ident
    return out


def _read_journal(path: Path, key: str, slots: Sequence[Slot]) -> tuple[dict, list[str]]:
    """The journal, with every entry checked; what fails a check is left out and reported."""
    empty: dict[str, Any] = {"phase": "done", "published": {}, "pending": []}
    if not os.path.lexists(path):
        return empty, []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return empty, [f"{path}: unreadable journal ignored ({exc}); nothing was changed"]
    if (
        not isinstance(raw, dict)
        or raw.get("key") != key
        or raw.get("phase") not in ("publishing", "done")
    ):
        return empty, [f"{path}: not a journal of the {key!r} outputs; ignored, nothing changed"]
    by_name = {s.name: s for s in slots}
    notes: list[str] = []
    published: dict[str, dict] = {}
    listed = raw.get("published")
    for name, entry in (listed if isinstance(listed, dict) else {}).items():
        try:
            checked = _check_entry(by_name, name, entry, inode=False)
            published[name] = {"leaf": checked["leaf"], "files": checked["files"]}
        except _BAD_ENTRY as exc:
            notes.append(f"{path}: ignored the listing of {name!r}: {exc}")
    pending: list[dict] = []
    steps = raw.get("pending")
    for entry in steps if isinstance(steps, list) else []:
        try:
            checked = _check_entry(by_name, entry.get("name"), entry, inode=True)
            if any(p["name"] == checked["name"] for p in pending):
                raise ValueError("a second step for the same destination")
            pending.append(checked)
        except _BAD_ENTRY as exc:
            notes.append(f"{path}: ignored the step {entry!r}: {exc}")
    return {"phase": raw["phase"], "published": published, "pending": pending}, notes


def _write_journal(path: Path, plan: dict) -> None:
    atomic_write_text(path, json.dumps(plan, sort_keys=True, indent=1) + "\n")


def _listing(published: Mapping[str, dict], name: str, leaf: str) -> dict[str, str]:
    """What the previous run published in this folder: relative path → SHA-256."""
    entry = published.get(name)
    return dict(entry["files"]) if entry and entry["leaf"] == leaf else {}


def _ours(path: Path, rel: str, rewritten: Mapping[str, str], listed: Mapping[str, str]) -> bool:
    """A file this run replaces, or one the previous run wrote and nobody changed since."""
    return rel in rewritten or (rel in listed and _sha256(path) == listed[rel])


def _disjoint(dests: Sequence[Path]) -> None:
    for i, a in enumerate(dests):
        for b in dests[i + 1 :]:
            if a == b or a in b.parents or b in a.parents:
                raise UnsafePath(
                    f"{a} and {b} overlap: the processed and reports folders must be separate"
                )


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _write_stage(stage: Path, files: Mapping[str, str]) -> dict[str, str]:
    """Write each file into the staging folder; relative path → SHA-256 of what was written.

    Each file reaches the disk (fsync) before the commit point, several at a time: the
    filesystem commits syncs issued together at once, where one after another each waits for
    its own (most of a run's wall time spent writing). Every write has finished, or failed,
    when this returns or raises (the first error, in the files' order)."""
    written = {}
    jobs: list[tuple[Path, bytes]] = []
    for rel, text in sorted(files.items()):
        path = entry_inside(stage, rel)
        path.parent.mkdir(parents=True, exist_ok=True)
        data = text.encode("utf-8")
        jobs.append((path, data))
        written[str(relative_name(rel))] = hashlib.sha256(data).hexdigest()
    if len(jobs) < 2:
        for path, data in jobs:
            _write_synced(path, data)
        return written
    with ThreadPoolExecutor(max_workers=min(_SYNC_WORKERS, len(jobs))) as pool:
        for _ in pool.map(lambda job: _write_synced(*job), jobs):
            pass
    return written


def _link_or_copy(src: Path, dst: Path) -> None:
    """A hard link, or a copy where links fail (another filesystem, no link support)."""
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        elif src.is_file():
            shutil.copy2(src, dst)


def _carry_forward(
    dest: Path, stage: Path, rewritten: Mapping[str, str], listed: Mapping[str, str]
) -> None:
    """Link into the staged folder what the live one holds that is not ours (`_ours`)."""
    if not _is_dir(dest):
        return
    blocked: list[str] = []
    for rel, is_dir in _entries(dest):
        if any(rel.startswith(b + "/") for b in blocked):
            continue
        target = stage.joinpath(*rel.split("/"))
        if is_dir:
            if not os.path.lexists(target):
                target.mkdir()
            elif not _is_dir(target):
                blocked.append(rel)
            continue
        src = dest.joinpath(*rel.split("/"))
        if not os.path.lexists(target) and not _ours(src, rel, rewritten, listed):
            _link_or_copy(src, target)


def _keep(slot: Slot, key: str, path: Path, why: str) -> str:
    n = 1
    while os.path.lexists(kept := slot.state(key) / f"kept-{slot.name}-{n}"):
        n += 1
    os.rename(path, kept)
    return f"{why}: moved to {kept}, nothing deleted"


def _sweep(slot: Slot, key: str, item: dict, published: Mapping[str, dict]) -> list[str]:
    """Empty the replaced folder: delete only files that are ours (`_ours`) or carried over."""
    old, dest = slot.old(key), slot.dest(item["leaf"])
    if not os.path.lexists(old):
        return []
    if not _is_dir(old):
        return [f"{old}: not a folder; left as it is"]
    listed = _listing(published, slot.name, item["leaf"])
    entries = list(_entries(old))
    for rel, is_dir in entries:
        if is_dir:
            continue
        src = old.joinpath(*rel.split("/"))
        try:
            live = entry_inside(dest, rel)
        except UnsafePath:
            continue
        if _ours(src, rel, item["files"], listed) or _same(src, live):
            src.unlink()
            continue
        if os.path.lexists(live):
            continue
        try:  # a file added to the live folder while this run was staging: put it back
            live.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(src, live)
            src.unlink()
        except OSError:
            continue
    for rel, is_dir in reversed(entries):
        if is_dir:
            try:
                os.rmdir(old.joinpath(*rel.split("/")))
            except OSError:
                pass
    try:
        os.rmdir(old)
    except OSError:
        return [_keep(slot, key, old, f"{dest}: files the previous folder held that no run wrote")]
    return []


def _swap_in(slot: Slot, key: str, item: dict, fault: Fault) -> str | None:
    """Make the staged folder live (idempotent); a message when it cannot be finished."""
    stage, dest, old = slot.stage(key), slot.dest(item["leaf"]), slot.old(key)
    want = item["inode"]
    legacy = slot.legacy_stage(key)
    if legacy is not None and _dir_ident(stage) != want and _dir_ident(legacy) == want:
        stage.parent.mkdir(parents=True, exist_ok=True)  # staged by an earlier version
        os.rename(legacy, stage)
    if _dir_ident(dest) == want:  # live already; an exchange leaves the old folder at `stage`
        if _is_dir(stage) and not os.path.lexists(old):
            os.rename(stage, old)
        return None
    if _dir_ident(stage) != want:
        return (
            f"{dest}: cannot finish publishing it: neither it nor {stage} is the folder the "
            "journal recorded; left as it is"
        )
    st = _lstat(dest)
    if st is not None and not stat.S_ISDIR(st.st_mode):
        return f"{dest}: a file or link, not a folder; refusing to replace it"
    dest.parent.mkdir(parents=True, exist_ok=True)
    if st is None:  # a new folder, or the fallback was killed with the old one moved aside
        os.rename(stage, dest)
    elif os.path.lexists(old):
        return f"{old}: left from an earlier run; {dest} was not replaced"
    else:
        try:
            exchange(stage, dest)
        except ExchangeUnsupported:
            os.rename(dest, old)
            fault(f"moved-aside:{slot.name}")
            os.rename(stage, dest)
        else:
            fault(f"exchanged:{slot.name}")
            os.rename(stage, old)
    _fsync_dir(dest.parent)
    _fsync_dir(stage.parent)
    fault(f"swapped:{slot.name}")
    return None


def _swap_all(
    key: str, by_name: Mapping[str, Slot], items: Sequence[dict], fault: Fault
) -> tuple[list[str], set[str], list[dict]]:
    """Swap in every pending folder; an OSError comes out as `OutputsNotWritten` naming it."""
    notes, failed, done = [], set(), []
    for item in items:
        slot = by_name[item["name"]]
        try:
            problem = _swap_in(slot, key, item, fault)
        except OSError as exc:
            raise not_written(slot.dest(item["leaf"]), exc) from exc
        if problem:
            notes.append(problem)
            failed.add(item["name"])
        else:
            done.append(item)
    return notes, failed, done


def _sweep_all(
    key: str, by_name: Mapping[str, Slot], done: Sequence[dict], published: dict, fault: Fault
) -> list[str]:
    notes = []
    for item in done:
        notes += _sweep(by_name[item["name"]], key, item, published)
        fault(f"swept:{item['name']}")
    return notes


def _closed(key: str, published: Mapping[str, dict], done: Sequence[dict]) -> dict:
    """The journal once `done` are live: their listings replace the previous ones."""
    listed = dict(published)
    listed.update({i["name"]: {"leaf": i["leaf"], "files": i["files"]} for i in done})
    return {"key": key, "phase": "done", "published": listed, "pending": []}


def _finish(
    key: str, slots: Sequence[Slot], journal: Path, plan: dict, fault: Fault
) -> tuple[list[str], set[str]]:
    """Swap in every pending folder, sweep the replaced ones, mark the journal done."""
    by_name = {s.name: s for s in slots}
    items = plan["pending"]
    _disjoint([by_name[i["name"]].dest(i["leaf"]) for i in items])
    notes, failed, done = _swap_all(key, by_name, items, fault)
    notes += _sweep_all(key, by_name, done, plan["published"], fault)
    _write_journal(journal, _closed(key, plan["published"], done))
    fault("done")
    return notes, failed


def _undo(slot: Slot, key: str, item: dict) -> None:
    """Put back the folder that was live before this run (idempotent); the new one goes back to
    its staging folder. Renames only: it needs no free space."""
    stage, dest, old = slot.stage(key), slot.dest(item["leaf"]), slot.old(key)
    if _dir_ident(dest) == item["inode"]:
        if _is_dir(old):  # swapped and moved aside
            try:
                exchange(old, dest)
            except ExchangeUnsupported:
                os.rename(dest, stage)
                os.rename(old, dest)
            else:
                os.rename(old, stage)
        elif _is_dir(stage):  # exchanged; the previous folder is still at `stage`
            try:
                exchange(stage, dest)
            except ExchangeUnsupported:
                os.rename(dest, old)
                os.rename(stage, dest)
                os.rename(old, stage)
        else:  # a new folder
            os.rename(dest, stage)
    elif not os.path.lexists(dest) and _is_dir(old):  # the fallback stopped between its renames
        os.rename(old, dest)
    _fsync_dir(dest.parent)


def _side_files(journal: Path) -> tuple[Path, Path]:
    return journal.parent / JOURNAL_DONE, journal.parent / JOURNAL_UNDO


def _abandon(key: str, slots: Sequence[Slot], journal: Path) -> None:
    """Remove everything of a publication that did not happen: staging, side journals, folders
    left empty. The live folders and the journal are not touched."""
    for slot in slots:
        try:
            _remove_own_dir(slot.stage(key))
        except (OSError, UnsafePath):
            pass
    for side in _side_files(journal):
        try:
            side.unlink(missing_ok=True)
        except OSError:
            pass
    _tidy(key, slots)


def _discard_leftovers(key: str, slots: Sequence[Slot], skip: set[str]) -> list[str]:
    """Staging a killed run left before its commit point is its own: removed."""
    notes = []
    for slot in slots:
        if slot.name in skip:
            continue
        _remove_own_dir(slot.stage(key))
        legacy = slot.legacy_stage(key)
        if legacy is not None:
            _remove_own_dir(legacy)
        if os.path.lexists(slot.old(key)):
            notes.append(_keep(slot, key, slot.old(key), f"{slot.old(key)}: left over"))
    for side in _side_files(_journal_path(key, slots)):
        side.unlink(missing_ok=True)
    return notes


def _make_stage(stage: Path) -> None:
    """A new, empty staging folder; another protocol's run may be removing the shared parent
    `.swap` it has just emptied, so a vanished parent is retried."""
    for _ in range(10):
        try:
            stage.mkdir(parents=True)
            return
        except FileNotFoundError:
            continue
    stage.mkdir(parents=True)


def _tidy(key: str, slots: Sequence[Slot]) -> None:
    """Remove state folders left empty (the journal's stays)."""
    folders = [_journal_path(key, slots).parent, *(s.state(key) for s in slots)]
    for folder in folders:
        for path in (folder, folder.parent):
            try:
                os.rmdir(path)
            except OSError:
                pass


def recover_folders(key: str, slots: Sequence[Slot]) -> list[str]:
    """Finish a `publish` killed after its commit point; discard staging killed before it.

    Call it under the run lock, before reading anything the outputs feed (the run history), so
    that a run killed while publishing counts as published. Returns what it did, in words.
    A write the system refuses (disk still full) raises `OutputsNotWritten`; the journal is
    left as it was, and the next call finishes the work.
    """
    key = check_id(key, "key")
    journal = _journal_path(key, slots)
    try:
        plan, notes = _read_journal(journal, key, slots)
        failed: set[str] = set()
        if plan["phase"] == "publishing":
            done, failed = _finish(key, slots, journal, plan, _no_fault)
            notes += done
            names = ", ".join(i["name"] for i in plan["pending"]) or "nothing"
            notes.append(f"{journal.parent}: finished publishing an interrupted run ({names})")
        elif notes:  # keep only what passed the checks, so the message is given once
            _write_journal(journal, {**plan, "key": key})
        notes += _discard_leftovers(key, slots, failed)
    except OSError as exc:
        raise not_written(journal.parent, exc) from exc
    _tidy(key, slots)
    return notes


def publish(key: str, folders: Sequence[Folder], fault: Fault = _fault) -> list[str]:
    """Make each folder live in one step, in the order given (see the module's docstring).

    `key` names the bookkeeping (BASE/.swap/<key>/, the journal in the first folder's base);
    one publisher per key at a time (hold the run lock). Returns notes on anything recovered or
    kept aside, in words. A write or rename the system refuses (disk full, read-only folder)
    raises `OutputsNotWritten`: the previous outputs stay live and whole, and this run's
    staging is removed.
    """
    key = check_id(key, "key")
    slots = [f.slot for f in folders]
    if not slots or len({s.name for s in slots}) != len(slots):
        raise ValueError("publish: give each destination once")
    by_name = {s.name: s for s in slots}
    notes = recover_folders(key, slots)
    journal = _journal_path(key, slots)
    plan, _ = _read_journal(journal, key, slots)
    dests = [f.slot.dest(f.leaf) for f in folders]
    _disjoint(dests)
    for dest in dests:
        st = _lstat(dest)
        if st is not None and not stat.S_ISDIR(st.st_mode):
            raise PublishError(f"{dest}: a file or link, not a folder; refusing to replace it")
    pending: list[dict] = []
    done_file, undo_file = _side_files(journal)
    had_journal = os.path.lexists(journal)
    where = journal
    try:
        for f in folders:
            where = f.slot.dest(f.leaf)
            stage = f.slot.stage(key)
            _make_stage(stage)
            files = _write_stage(stage, f.files)
            listed = _listing(plan["published"], f.slot.name, f.leaf)
            _carry_forward(f.slot.dest(f.leaf), stage, files, listed)
            for rel, is_dir in _entries(stage):
                if is_dir:
                    _fsync_dir(stage.joinpath(*rel.split("/")))
            _fsync_dir(stage)
            pending.append(
                {"name": f.slot.name, "leaf": f.leaf, "inode": _dir_ident(stage), "files": files}
            )
            fault(f"staged:{f.slot.name}")
        where = journal
        _write_journal(done_file, _closed(key, plan["published"], pending))
        _write_journal(undo_file, {**plan, "key": key, "phase": "done", "pending": []})
        _write_journal(
            journal,
            {"key": key, "phase": "publishing", "published": plan["published"], "pending": pending},
        )
    except OSError as exc:  # before the commit point: nothing is live, all of it is ours
        _abandon(key, slots, journal)
        raise not_written(where, exc) from exc
    fault("journal")
    try:
        done_notes, failed, done = _swap_all(key, by_name, pending, fault)
    except OutputsNotWritten:
        try:  # put every previous folder back, then the journal as it was before this run
            for item in reversed(pending):
                _undo(by_name[item["name"]], key, item)
            if had_journal:
                os.replace(undo_file, journal)
            else:
                journal.unlink()
        except OSError:
            pass  # the journal still says "publishing": the next run finishes this one
        else:
            _abandon(key, slots, journal)
        raise
    try:
        done_notes += _sweep_all(key, by_name, done, plan["published"], fault)
        if failed:
            _write_journal(journal, _closed(key, plan["published"], done))
        else:
            os.replace(done_file, journal)
        undo_file.unlink(missing_ok=True)
    except OSError as exc:  # the new folders are live; the next run completes the bookkeeping
        raise not_written(journal.parent, exc) from exc
    fault("done")
    if failed:
        raise PublishError("; ".join(done_notes))
    _tidy(key, slots)
    return notes + done_notes


# --- a few files among others ---------------------------------------------------------------


def _rel_under(root: Path, path: Path) -> str:
    """`path` as a plain relative path under `root` (its folders resolved, its name not)."""
    path = Path(path)
    parent = (path.parent if path.is_absolute() else Path.cwd() / path.parent).resolve()
    rel = os.path.relpath(parent / path.name, Path(root).resolve())
    return str(relative_name(rel, f"{path} (not under {root})"))


def _check_target(entry: Any) -> tuple[str, bool, list[int] | None]:
    if not isinstance(entry, list | tuple) or len(entry) not in (2, 3):
        raise ValueError("not a [path, had_old, inode] entry")
    rel, had_old = entry[0], entry[1]
    ident = entry[2] if len(entry) == 3 else None
    if not isinstance(rel, str) or not isinstance(had_old, bool):
        raise ValueError("not a [path, had_old, inode] entry")
    if ident is not None and not (
        isinstance(ident, list) and len(ident) == 2 and all(type(i) is int for i in ident)
    ):
        raise ValueError(f"inode {ident!r} is not a (device, inode) pair")
    return str(relative_name(rel, "journal entry")), had_old, ident


def recover(state: Path, root: Path) -> str:
    """Finish or undo an interrupted `commit` of files under `root` (bookkeeping in `state`).

    Only entries naming a file under `root` are acted on; a file is deleted only when it is the
    very file (same inode) the interrupted commit put there.
    """
    state, root = Path(state), Path(root)
    journal = state / JOURNAL
    done = "nothing to recover"
    ignored: list[str] = []
    if os.path.lexists(journal):
        try:
            plan = json.loads(journal.read_text(encoding="utf-8"))
            phase, targets = plan["phase"], list(plan["targets"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            phase, targets = "unreadable", []
            ignored.append(f"the journal itself ({exc})")
        if phase == "swapping":
            for entry in targets:
                try:
                    rel, had_old, ident = _check_target(entry)
                    dest, backup = entry_inside(root, rel), entry_inside(state / BACKUP, rel)
                except _BAD_ENTRY as exc:
                    ignored.append(f"{entry!r} ({exc})")
                    continue
                if had_old and os.path.lexists(backup):
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(backup, dest)
                elif not had_old and ident is not None and _file_ident(dest) == ident:
                    dest.unlink()  # the new file this commit put in before it was killed
            done = "rolled back an interrupted run: the previous outputs are restored"
        elif phase == "committed":
            done = "completed the clean-up of a committed run"
        journal.unlink()
    _remove_own_dir(state / STAGE)
    _remove_own_dir(state / BACKUP)
    if ignored:
        done += f"; ignored journal entries that are not files under {root}: " + "; ".join(ignored)
    return done


def commit(
    state: Path,
    root: Path,
    files: dict[Path, str],
    remove: list[Path] | None = None,
    fault: Fault = _fault,
) -> list[Path]:
    """Replace `files` (paths under `root` → text) and delete `remove`, all or nothing.

    `state` is a folder of this bookkeeping's own (e.g. ROOT/.swap/<name>/), on the same
    filesystem as `root`. Fault points: "staged", each step's number (1, 2, ...), "committed".
    """
    state, root = Path(state), Path(root)
    recover(state, root)
    stage = state / STAGE
    targets = sorted(files)
    rels = {p: _rel_under(root, p) for p in targets}
    staged_ids = {}
    for path in targets:
        staged = entry_inside(stage, rels[path])
        atomic_write_text(staged, files[path])
        staged_ids[path] = _file_ident(staged)
    fault("staged")
    gone = sorted(p for p in (remove or []) if p not in files and os.path.lexists(p))
    plan = [
        [rels[p], os.path.lexists(entry_inside(root, rels[p])), staged_ids[p]] for p in targets
    ] + [[_rel_under(root, p), True, None] for p in gone]
    atomic_write_text(state / JOURNAL, json.dumps({"phase": "swapping", "targets": plan}))
    for step, (rel, had_old, _) in enumerate(plan, start=1):
        fault(step)
        dest, backup = entry_inside(root, rel), entry_inside(state / BACKUP, rel)
        if had_old:
            backup.parent.mkdir(parents=True, exist_ok=True)
            os.replace(dest, backup)
        staged = entry_inside(stage, rel)
        if os.path.lexists(staged):
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged, dest)
    atomic_write_text(state / JOURNAL, json.dumps({"phase": "committed", "targets": plan}))
    fault("committed")
    recover(state, root)
    return targets
