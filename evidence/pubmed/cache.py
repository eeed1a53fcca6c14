"""The on-disk PubMed cache: one JSON file per PMID under `<cache>/records/`.

One small file per record keeps diffs reviewable and lets a fetch that stops half-way resume:
every file is written atomically (temporary file in the same directory, then `os.replace`), so
a reader sees either the old record or the new one, never a fragment. Bytes are deterministic
(sorted keys, indent 2, UTF-8, trailing newline) so rebuilding an unchanged cache changes nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.io import atomic_write_bytes
from evidence.pubmed.records import PubmedRecord
from evidence.safepath import PMID_RULE, ascii_digits, is_pmid

if TYPE_CHECKING:
    from evidence.pubmed.parse import Limits

RECORDS_DIR = "records"
STAGING_PREFIX = ".import-"  # then the importing process id, "-", a random part

# Which source may replace which: a live fetch replaces anything it fetched, a file import
# replaces snapshot and file records, the snapshot only fills gaps or refreshes itself.
_RANK = {"snapshot": 0, "file": 1, "live": 2}


@dataclass
class WriteReport:
    """What a bulk write did, per PMID."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # a better source was already cached
    deleted: list[str] = field(default_factory=list)  # removed: PubMed deleted the citation


def records_dir(cache_dir: Path) -> Path:
    return Path(cache_dir) / RECORDS_DIR


def record_path(cache_dir: Path, pmid: str) -> Path:
    """Where a PMID's record lives; refuses anything but digits so no path can escape the dir."""
    if not is_pmid(pmid):  # exactly a PMID, nothing stripped: one file per PMID
        raise ValueError(f"not a PMID: {pmid!r}; {PMID_RULE}")
    return records_dir(cache_dir) / f"{pmid}.json"


def record_bytes(record: PubmedRecord) -> bytes:
    """The exact bytes a record is stored as."""
    text = json.dumps(record.to_dict(), sort_keys=True, indent=2, ensure_ascii=False)
    return (text + "\n").encode("utf-8")


def write_record(cache_dir: Path, record: PubmedRecord) -> bool:
    """Store a record (it must carry `source` and `retrieved`); False when the bytes were equal."""
    if not record.source or not record.retrieved:
        raise ValueError(f"PMID {record.pmid}: a cached record needs `source` and `retrieved`")
    path = record_path(cache_dir, record.pmid)
    data = record_bytes(record)
    if path.is_file() and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def read_record(cache_dir: Path, pmid: str) -> PubmedRecord | None:
    path = record_path(cache_dir, pmid)
    if not path.is_file():
        return None
    return _load(path)


def _load(path: Path) -> PubmedRecord:
    try:
        return PubmedRecord.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a cached PubMed record ({exc})") from None


def cached_pmids(cache_dir: Path) -> list[str]:
    """PMIDs present in the cache, in numeric order."""
    folder = records_dir(cache_dir)
    if not folder.is_dir():
        return []
    pmids = [p.stem for p in folder.glob("*.json") if is_pmid(p.stem)]
    return sorted(pmids, key=int)


def iter_cached(cache_dir: Path) -> Iterator[PubmedRecord]:
    """Every cached record, in numeric PMID order."""
    for pmid in cached_pmids(cache_dir):
        yield _load(record_path(cache_dir, pmid))


def cached_sources(cache_dir: Path) -> dict[str, str]:
    """PMID -> source of the cached record."""
    return {r.pmid: r.source for r in iter_cached(cache_dir)}


def may_replace(new_source: str, old_source: str | None) -> bool:
    """Whether a record from `new_source` should overwrite one from `old_source`."""
    if old_source is None:
        return True
    return _RANK.get(new_source, 0) >= _RANK.get(old_source, 0)


def write_records(
    cache_dir: Path, records: Iterable[PubmedRecord], *, force: bool = False
) -> WriteReport:
    """Store records, leaving a record from a better source in place unless `force`."""
    report = WriteReport()
    for record in records:
        old = read_record(cache_dir, record.pmid)
        if not force and old is not None and not may_replace(record.source, old.source):
            report.kept.append(record.pmid)
            continue
        if write_record(cache_dir, record):
            report.written.append(record.pmid)
        else:
            report.unchanged.append(record.pmid)
    return report


def pmids_to_fetch(cache_dir: Path, pmids: Iterable[str], *, refresh: bool = False) -> list[str]:
    """PMIDs a live fetch still needs: not cached, or cached only from the snapshot.

    Records from a live fetch or an imported file count as cached; `refresh` refetches them all.
    """
    out: list[str] = []
    seen: set[str] = set()
    for pmid in pmids:
        pmid = str(pmid).strip()
        if pmid in seen:
            continue
        seen.add(pmid)
        if refresh:
            out.append(pmid)
            continue
        old = read_record(cache_dir, pmid)
        if old is None or old.source == "snapshot":
            out.append(pmid)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def remove_abandoned_staging(folder: Path) -> list[Path]:
    """Remove staging folders whose import died without cleaning up (killed outright); those
    of imports still running are left alone. Returns what was removed."""
    import shutil

    removed: list[Path] = []
    if os.name != "posix" or not folder.is_dir():
        return removed
    for entry in folder.iterdir():
        pid, sep, _ = entry.name[len(STAGING_PREFIX) :].partition("-")
        if not entry.name.startswith(STAGING_PREFIX) or not sep or not ascii_digits(pid):
            continue
        if entry.is_symlink() or not entry.is_dir() or _alive(int(pid)):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def remove_records(cache_dir: Path, pmids: Iterable[str]) -> list[str]:
    """Remove these PMIDs' records (each unlink is atomic); returns those that were cached."""
    removed = []
    for pmid in pmids:
        path = record_path(cache_dir, pmid)
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(pmid)
    return removed


def import_file(
    cache_dir: Path,
    path: Path,
    *,
    retrieved: str,
    force: bool = False,
    limits: Limits | None = None,
) -> tuple[WriteReport, int]:
    """Import a saved PubMed file with source `file`; nothing is stored unless it all parses.

    Records are staged in a temporary folder inside the cache while the file streams through
    the parser (so memory stays flat), and moved into place only after the last one was read.
    The folder is removed however the import ends (an input beyond `limits` included); one left
    by an import that was killed is removed by the next. Returns the write report and the
    number of records the file held.

    PMIDs the file lists under `DeleteCitation` (PubMed deleted those citations; baseline and
    update files carry them) leave the cache whatever their source, and only once the whole
    file parsed; `report.deleted` lists those that were cached. A deleted PMID the same file
    also holds a record for is deleted: NLM applies deletions after the file's records.
    """
    import shutil

    from evidence.pubmed.parse import iter_records

    folder = records_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(folder)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
    report = WriteReport()
    try:
        staged_digests: dict[str, bytes] = {}  # in file order; a repeated PMID: the last wins
        deleted: list[str] = []
        for record in iter_records(Path(path), deleted=deleted, limits=limits):
            data = record_bytes(record.with_provenance("file", retrieved))
            digest = hashlib.blake2b(data, digest_size=16).digest()
            if staged_digests.get(record.pmid) == digest:
                continue  # the same bytes again: rewriting a file costs far more than parsing
            staged_digests[record.pmid] = digest
            (staging / f"{record.pmid}.json").write_bytes(data)
        order = list(staged_digests)
        gone = set(deleted)
        for pmid in order:
            if pmid in gone:
                continue
            old = read_record(cache_dir, pmid)
            if not force and old is not None and not may_replace("file", old.source):
                report.kept.append(pmid)
                continue
            target = record_path(cache_dir, pmid)
            staged = staging / f"{pmid}.json"
            if target.is_file() and target.read_bytes() == staged.read_bytes():
                report.unchanged.append(pmid)
                continue
            os.replace(staged, target)
            report.written.append(pmid)
        report.deleted = remove_records(cache_dir, sorted(gone, key=int))
        return report, len(order)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
