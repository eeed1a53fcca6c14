"""The PubMed cache: thin functions over the SQLite store of a cache folder (`store.py`).

Callers keep passing the cache folder (`data/raw/pubmed`); each call opens the store, which
loads the committed `records.jsonl` when it changed and migrates a former per-file cache on first
use. Writes are single transactions, so a reader sees the old records or the new, never a mix.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.pubmed import store
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.store import may_replace, record_text
from evidence.safepath import ascii_digits

if TYPE_CHECKING:
    from evidence.pubmed.parse import Limits

STAGING_PREFIX = ".import-"  # then the importing process id, "-", a random part

__all__ = ["may_replace", "record_text"]


@dataclass
class WriteReport:
    """What a bulk write did, per PMID."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # a better source was already cached
    deleted: list[str] = field(default_factory=list)  # removed: PubMed deleted the citation


def staging_dir(cache_dir: Path) -> Path:
    """Where an import stages the records of a file before any reaches the store."""
    return Path(cache_dir)


def write_record(cache_dir: Path, record: PubmedRecord) -> bool:
    """Store a record (it must carry `source` and `retrieved`); False when it was stored as is."""
    store.check_record(record)  # refused before the store is opened or created
    with store.connect(cache_dir) as con:
        written, _, _ = store.put_records(con, [record], force=True)
    return bool(written)


def read_record(cache_dir: Path, pmid: str) -> PubmedRecord | None:
    store.pmid_key(pmid)  # refuse a non-PMID before touching the disk
    with store.reading(cache_dir) as con:
        return store.get(con, pmid)


def read_records(cache_dir: Path, pmids: Iterable[str]) -> dict[str, PubmedRecord]:
    """The cached records among these PMIDs, by PMID: one query, however large the store."""
    with store.reading(cache_dir) as con:
        return store.get_many(con, pmids)


def cached_pmids(cache_dir: Path) -> list[str]:
    """PMIDs present in the cache, in numeric order."""
    with store.reading(cache_dir) as con:
        return store.pmids(con)


def iter_cached(cache_dir: Path) -> Iterator[PubmedRecord]:
    """Every cached record, in numeric PMID order (streamed from the store)."""
    with store.reading(cache_dir) as con:
        yield from store.iter_records(con)


def cached_sources(cache_dir: Path, pmids: Iterable[str] | None = None) -> dict[str, str]:
    """PMID -> source of the cached record (of these PMIDs, default all)."""
    with store.reading(cache_dir) as con:
        if pmids is not None:
            return store.sources(con, pmids)
        return dict(con.execute("SELECT CAST(pmid AS TEXT), source FROM records ORDER BY pmid"))


def write_records(
    cache_dir: Path, records: Iterable[PubmedRecord], *, force: bool = False
) -> WriteReport:
    """Store records, leaving a record from a better source in place unless `force`."""
    with store.connect(cache_dir) as con:
        written, unchanged, kept = store.put_records(con, records, force=force)
    return WriteReport(written=written, unchanged=unchanged, kept=kept)


def pmids_to_fetch(cache_dir: Path, pmids: Iterable[str], *, refresh: bool = False) -> list[str]:
    """PMIDs a live fetch still needs: not cached, or cached only from the snapshot.

    Records from a live fetch or an imported file count as cached; `refresh` refetches them all.
    """
    wanted: list[str] = []
    seen: set[str] = set()
    for pmid in pmids:
        pmid = str(pmid).strip()
        if pmid not in seen:
            seen.add(pmid)
            wanted.append(pmid)
    if refresh or not wanted:
        return wanted
    with store.reading(cache_dir) as con:
        have = store.sources(con, wanted)
    return [p for p in wanted if have.get(p, "snapshot") == "snapshot"]


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
    """Remove these PMIDs' records (one transaction); returns those that were cached."""
    with store.reading(cache_dir) as con:
        return store.delete(con, pmids)


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
    the parser (so memory stays flat), and stored in one transaction after the last was read.
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

    folder = staging_dir(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(folder)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=folder))
    try:
        staged = staging / "records.jsonl"
        offsets: dict[str, int] = {}  # PMID -> line offset of its last record in the file
        deleted: list[str] = []
        with staged.open("w", encoding="utf-8") as out:
            for record in iter_records(Path(path), deleted=deleted, limits=limits):
                offsets[record.pmid] = out.tell()
                out.write(record_text(record.with_provenance("file", retrieved)) + "\n")
        order = list(offsets)
        gone = set(deleted)

        def staged_records() -> Iterator[PubmedRecord]:
            with staged.open(encoding="utf-8") as fh:
                for pmid in order:
                    if pmid in gone:
                        continue
                    fh.seek(offsets[pmid])
                    yield store.parse_text(fh.readline(), str(staged))

        with store.connect(cache_dir) as con:
            written, unchanged, kept = store.put_records(con, staged_records(), force=force)
            report = WriteReport(written=written, unchanged=unchanged, kept=kept)
            report.deleted = store.delete(con, gone)
        return report, len(order)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
