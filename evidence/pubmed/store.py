"""The PubMed store: one SQLite database (WAL mode) per cache folder, and its text form in git.

Why SQLite: a cache of a million records must not cost a million files, nor a listing of them
in every run. The store keeps each record's JSON with the columns queries need (PMID, DOI,
entry and retrieval dates, source, retracted flag) and its MeSH headings, publication types and
notices (retractions, errata) as tables, indexed on PMID, dates, DOI, MeSH UI and notice PMID.

Concurrency: WAL journal, so readers never wait for a writer; every write is one `BEGIN
IMMEDIATE` transaction (one writer at a time, the others wait up to `BUSY_TIMEOUT` seconds).

Files in a cache folder (`data/raw/pubmed` for the bundled data):
- `store.sqlite` (+ `-wal`, `-shm`): the database, local to the machine (gitignored).
- `records.jsonl`: the records in git, one JSON object per line, sorted by PMID, written only
  by `export_jsonl` (`evidence pubmed-export`, and the migration). It is loaded into the store
  on first use and again whenever its bytes change (a pull, a checkout), so a fresh clone's
  offline run reads exactly what is committed.
- `records/<pmid>.json`: the former per-file cache; found on first use, it is loaded into the
  store, written to `records.jsonl` and removed (`migrate`).
The living search's small state files (search_state.json, queue.csv, refresh_state.json) stay
JSON/CSV beside them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from evidence.io import atomic_write_bytes
from evidence.pubmed.records import PubmedRecord
from evidence.safepath import PMID_RULE, is_pmid

STORE_FILE = "store.sqlite"
JSONL_FILE = "records.jsonl"
LEGACY_DIR = "records"  # the former one-file-per-PMID cache
SCHEMA_VERSION = "1"
BUSY_TIMEOUT = 60.0  # seconds a writer waits for another writer
CHUNK = 500  # PMIDs per `IN (...)` query, below SQLite's variable limit

# Which source may replace which: a live fetch replaces anything it fetched, a file import
# replaces snapshot and file records, the snapshot only fills gaps or refreshes itself.
RANK = {"snapshot": 0, "file": 1, "live": 2}

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    pmid INTEGER PRIMARY KEY,
    doi TEXT NOT NULL,
    entrez_date TEXT NOT NULL,
    retrieved TEXT NOT NULL,
    source TEXT NOT NULL,
    retracted INTEGER NOT NULL,
    bundled INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS mesh (
    pmid INTEGER NOT NULL, descriptor TEXT NOT NULL, ui TEXT NOT NULL, major INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS publication_types (
    pmid INTEGER NOT NULL, name TEXT NOT NULL, ui TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS notices (
    pmid INTEGER NOT NULL, ref_type TEXT NOT NULL, ref_source TEXT NOT NULL,
    ref_pmid TEXT NOT NULL
);
"""
# Secondary indexes: dropped before a bulk load into an empty store and built after it.
INDEXES = {
    "records_doi": "records(doi)",
    "records_entrez_date": "records(entrez_date)",
    "records_retrieved": "records(retrieved)",
    "records_source": "records(source)",
    "mesh_pmid": "mesh(pmid)",
    "mesh_ui": "mesh(ui)",
    "publication_types_pmid": "publication_types(pmid)",
    "publication_types_name": "publication_types(name)",
    "notices_pmid": "notices(pmid)",
    "notices_ref_pmid": "notices(ref_pmid)",
}
RECORD_COLUMNS = ("pmid", "doi", "entrez_date", "retrieved", "source", "retracted", "data")
CHILD_COLUMNS = {
    "mesh": ("pmid", "descriptor", "ui", "major"),
    "publication_types": ("pmid", "name", "ui"),
    "notices": ("pmid", "ref_type", "ref_source", "ref_pmid"),
}


def store_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / STORE_FILE


def jsonl_path(cache_dir: Path) -> Path:
    return Path(cache_dir) / JSONL_FILE


def pmid_key(pmid: str) -> int:
    """The integer key of a PMID; refuses anything but a PMID."""
    if not is_pmid(pmid):
        raise ValueError(f"not a PMID: {pmid!r}; {PMID_RULE}")
    return int(pmid)


def check_record(record: PubmedRecord) -> None:
    """A record the store takes: exactly a PMID (whatever its constructor let through), and
    its provenance."""
    pmid_key(record.pmid)
    if not record.source or not record.retrieved:
        raise ValueError(f"PMID {record.pmid}: a cached record needs `source` and `retrieved`")


def record_text(record: PubmedRecord) -> str:
    """A record's stored JSON: one line, sorted keys, so the store and the JSONL are stable."""
    return json.dumps(record.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def record_row(record: PubmedRecord, text: str | None = None) -> tuple:
    return (
        int(record.pmid),
        record.doi.lower(),
        record.entrez_date,
        record.retrieved,
        record.source,
        int(record.retracted),
        record_text(record) if text is None else text,
    )


def child_rows(record: PubmedRecord) -> dict[str, list[tuple]]:
    key = int(record.pmid)
    return {
        "mesh": [(key, m.descriptor, m.ui, int(m.major)) for m in record.mesh_headings],
        "publication_types": [(key, p.name, p.ui) for p in record.publication_types],
        "notices": [(key, n.ref_type, n.ref_source, n.pmid) for n in record.notices],
    }


def parse_text(text: str, where: str) -> PubmedRecord:
    try:
        return PubmedRecord.from_dict(json.loads(text))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{where}: not a cached PubMed record ({exc})") from None


def may_replace(new_source: str, old_source: str | None) -> bool:
    """Whether a record from `new_source` should overwrite one from `old_source`."""
    if old_source is None:
        return True
    return RANK.get(new_source, 0) >= RANK.get(old_source, 0)


# ----------------------------------------------------------------------------- connections


def _connect(db: Path) -> sqlite3.Connection:
    con = sqlite3.connect(db, timeout=BUSY_TIMEOUT, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT * 1000)}")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    return con


@contextmanager
def write_transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One writer at a time: BEGIN IMMEDIATE takes the write lock now (or waits for it)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def connect(cache_dir: Path, *, sync: bool = True) -> Iterator[sqlite3.Connection]:
    """A connection to the cache folder's store, made ready first: schema, a per-file cache
    migrated, the committed JSONL loaded when its bytes changed (`sync`)."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    db = store_path(cache_dir)
    con = _connect(db)
    try:
        names = {n for (n,) in con.execute("SELECT name FROM sqlite_master")}
        if not {"meta", "records", *CHILD_COLUMNS, *INDEXES} <= names:
            with write_transaction(con):
                for statement in _TABLES.split(";"):
                    if statement.strip():
                        con.execute(statement)
                for name, target in INDEXES.items():
                    con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
                con.execute(
                    "INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (SCHEMA_VERSION,)
                )
        if sync:
            if (cache_dir / LEGACY_DIR).is_dir():
                migrate(cache_dir, con)
            sync_jsonl(cache_dir, con)
        yield con
    finally:
        con.close()


def exists(cache_dir: Path) -> bool:
    """Whether the folder has a store or something to build one from (JSONL, per-file cache);
    readers of a folder without any answer "nothing cached" and leave it as it was."""
    cache_dir = Path(cache_dir)
    return (
        store_path(cache_dir).is_file()
        or jsonl_path(cache_dir).is_file()
        or (cache_dir / LEGACY_DIR).is_dir()
    )


@contextmanager
def reading(cache_dir: Path) -> Iterator[sqlite3.Connection]:
    """A connection for reads: the store when the folder has one (or its sources), else an
    empty in-memory store, so that asking creates nothing on disk."""
    if exists(cache_dir):
        with connect(cache_dir) as con:
            yield con
        return
    con = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for statement in _TABLES.split(";"):
            if statement.strip():
                con.execute(statement)
        yield con
    finally:
        con.close()


def _meta(con: sqlite3.Connection, key: str) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def _set_meta(con: sqlite3.Connection, key: str, value: str) -> None:
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


# ----------------------------------------------------------------------------- reads


def get(con: sqlite3.Connection, pmid: str) -> PubmedRecord | None:
    row = con.execute("SELECT data FROM records WHERE pmid = ?", (pmid_key(pmid),)).fetchone()
    return parse_text(row[0], f"{STORE_FILE}: PMID {pmid}") if row else None


def _chunks(items: Sequence, size: int = CHUNK) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def get_many(con: sqlite3.Connection, pmids: Iterable[str]) -> dict[str, PubmedRecord]:
    """The stored records among these PMIDs, by PMID, in numeric order."""
    keys = sorted({pmid_key(p) for p in pmids})
    out: dict[str, PubmedRecord] = {}
    for part in _chunks(keys):
        marks = ",".join("?" * len(part))
        rows = con.execute(
            f"SELECT pmid, data FROM records WHERE pmid IN ({marks}) ORDER BY pmid", tuple(part)
        )
        for key, text in rows:
            out[str(key)] = parse_text(text, f"{STORE_FILE}: PMID {key}")
    return out


def sources(con: sqlite3.Connection, pmids: Iterable[str]) -> dict[str, str]:
    """PMID -> source of the stored record, for those stored among `pmids`."""
    keys = sorted({pmid_key(p) for p in pmids})
    out: dict[str, str] = {}
    for part in _chunks(keys):
        marks = ",".join("?" * len(part))
        for key, source in con.execute(
            f"SELECT pmid, source FROM records WHERE pmid IN ({marks})", tuple(part)
        ):
            out[str(key)] = source
    return out


def pmids(con: sqlite3.Connection) -> list[str]:
    return [str(k) for (k,) in con.execute("SELECT pmid FROM records ORDER BY pmid")]


def iter_records(con: sqlite3.Connection) -> Iterator[PubmedRecord]:
    for key, text in con.execute("SELECT pmid, data FROM records ORDER BY pmid"):
        yield parse_text(text, f"{STORE_FILE}: PMID {key}")


def retrieved_since(con: sqlite3.Connection, day: str) -> list[str]:
    """PMIDs cached (retrieved) on or after `day` (ISO date), in numeric order."""
    # no ORDER BY: sorting by the primary key would make SQLite walk the whole table in key
    # order instead of the few rows the date index finds
    rows = con.execute("SELECT pmid FROM records WHERE retrieved >= ?", (day,)).fetchall()
    return [str(k) for k in sorted(k for (k,) in rows)]


def oldest_retrieved(con: sqlite3.Connection) -> str | None:
    row = con.execute("SELECT min(retrieved) FROM records WHERE retrieved != ''").fetchone()
    return row[0] if row else None


def watched(con: sqlite3.Connection, cited: Iterable[str]) -> dict[str, str]:
    """PMID -> retrieval date of the records the modification-date pass asks about, in numeric
    order: every record fetched live or bundled as the snapshot, and the stored records among
    `cited` (the PMIDs protocols reference) whatever their source. The other `file` records, a
    baseline mirror's millions, are kept current by importing NLM's update files, not by asking
    esearch about each one; the source index finds the rest without reading the mirror."""
    out = {
        str(k): r
        for k, r in con.execute(
            "SELECT pmid, retrieved FROM records WHERE source IN ('live', 'snapshot')"
        )
    }
    keys = sorted({pmid_key(p) for p in cited})
    for part in _chunks(keys):
        marks = ",".join("?" * len(part))
        for key, retrieved in con.execute(
            f"SELECT pmid, retrieved FROM records WHERE pmid IN ({marks})", tuple(part)
        ):
            out[str(key)] = retrieved
    return {k: out[k] for k in sorted(out, key=int)}


def count(con: sqlite3.Connection) -> int:
    return con.execute("SELECT count(*) FROM records").fetchone()[0]


# ----------------------------------------------------------------------------- writes


def _put(con: sqlite3.Connection, rows: list[tuple], children: dict[str, list[tuple]]) -> None:
    """Replace these records and their MeSH, publication types and notices (inside a write)."""
    if not rows:
        return
    keys = [(r[0],) for r in rows]
    for table in CHILD_COLUMNS:
        con.executemany(f"DELETE FROM {table} WHERE pmid = ?", keys)
    con.executemany(
        f"INSERT OR REPLACE INTO records ({', '.join(RECORD_COLUMNS)}, bundled) "
        f"VALUES ({', '.join('?' * len(RECORD_COLUMNS))}, 0)",
        rows,
    )
    for table, columns in CHILD_COLUMNS.items():
        if children.get(table):
            con.executemany(
                f"INSERT INTO {table} VALUES ({', '.join('?' * len(columns))})", children[table]
            )


def put_records(
    con: sqlite3.Connection, records: Iterable[PubmedRecord], *, force: bool = False
) -> tuple[list[str], list[str], list[str]]:
    """Store records in one write transaction, keeping a record from a better source unless
    `force`. Returns (written, unchanged, kept) PMIDs in input order; a PMID given twice: the
    last one counts."""
    written: list[str] = []
    unchanged: list[str] = []
    kept: list[str] = []
    with write_transaction(con):
        batch: list[PubmedRecord] = []
        for record in records:
            check_record(record)
            batch.append(record)
            if len(batch) >= CHUNK:
                _put_batch(con, batch, force, written, unchanged, kept)
                batch = []
        _put_batch(con, batch, force, written, unchanged, kept)
    return written, unchanged, kept


def _put_batch(
    con: sqlite3.Connection,
    batch: list[PubmedRecord],
    force: bool,
    written: list[str],
    unchanged: list[str],
    kept: list[str],
) -> None:
    if not batch:
        return
    keys = sorted({int(r.pmid) for r in batch})
    marks = ",".join("?" * len(keys))
    old = {
        str(k): (s, d)
        for k, s, d in con.execute(
            f"SELECT pmid, source, data FROM records WHERE pmid IN ({marks})", tuple(keys)
        )
    }
    last = {r.pmid: r for r in batch}  # a PMID given twice: the last one counts
    rows: list[tuple] = []
    children: dict[str, list[tuple]] = {t: [] for t in CHILD_COLUMNS}
    for pmid, record in last.items():
        before = old.get(pmid)
        if not force and before is not None and not may_replace(record.source, before[0]):
            kept.append(pmid)
            continue
        text = record_text(record)
        if before is not None and before[1] == text:
            unchanged.append(pmid)
            continue
        rows.append(record_row(record, text))
        for table, items in child_rows(record).items():
            children[table] += items
        written.append(pmid)
    _put(con, rows, children)


def delete(con: sqlite3.Connection, pmids: Iterable[str]) -> list[str]:
    """Remove these PMIDs' records; returns those that were stored, in numeric order."""
    keys = sorted({pmid_key(p) for p in pmids})
    removed: list[str] = []
    with write_transaction(con):
        for part in _chunks(keys):
            marks = ",".join("?" * len(part))
            found = [
                k
                for (k,) in con.execute(
                    f"SELECT pmid FROM records WHERE pmid IN ({marks})", tuple(part)
                )
            ]
            for table in ("records", *CHILD_COLUMNS):
                con.execute(f"DELETE FROM {table} WHERE pmid IN ({marks})", tuple(part))
            removed += [str(k) for k in sorted(found)]
    return removed


# ----------------------------------------------------------------------------- JSONL in git


def _signature(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_jsonl(path: Path) -> Iterator[PubmedRecord]:
    """The records of a JSONL file; a bad line is named by file and line number."""
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if line.strip():
                yield parse_text(line, f"{path}, line {number}")


def sync_jsonl(cache_dir: Path, con: sqlite3.Connection) -> bool:
    """Load the committed JSONL into the store when its bytes changed since the last load.

    A JSONL record replaces the stored one when that came from the JSONL too, or when its
    source ranks higher, or ranks the same and it was retrieved no earlier: a record fetched
    here and not yet exported stays. Records an earlier JSONL brought and this one no longer
    holds leave the store. Returns whether anything was loaded.
    """
    path = jsonl_path(cache_dir)
    if not path.is_file():
        return False
    signature = _signature(path)
    if _meta(con, "jsonl_signature") == signature:
        return False
    with write_transaction(con):
        if _meta(con, "jsonl_signature") == signature:  # another process loaded it meanwhile
            return False
        digest = _digest(path)
        if _meta(con, "jsonl_sha256") != digest:
            _load_jsonl(con, path)
            _set_meta(con, "jsonl_sha256", digest)
        _set_meta(con, "jsonl_signature", signature)
    return True


def _load_jsonl(con: sqlite3.Connection, path: Path) -> None:
    con.execute("CREATE TEMP TABLE IF NOT EXISTS seen (pmid INTEGER PRIMARY KEY)")
    con.execute("DELETE FROM seen")
    batch: list[PubmedRecord] = []

    def flush() -> None:
        keys = [int(r.pmid) for r in batch]
        con.executemany("INSERT OR IGNORE INTO seen VALUES (?)", [(k,) for k in keys])
        marks = ",".join("?" * len(keys))
        old = {
            k: (s, r, b)
            for k, s, r, b in con.execute(
                f"SELECT pmid, source, retrieved, bundled FROM records WHERE pmid IN ({marks})",
                tuple(keys),
            )
        }
        rows, children = [], {t: [] for t in CHILD_COLUMNS}
        for record in batch:
            before = old.get(int(record.pmid))
            if before is not None and not before[2]:
                rank_new, rank_old = RANK.get(record.source, 0), RANK.get(before[0], 0)
                if rank_new < rank_old or (rank_new == rank_old and record.retrieved < before[1]):
                    continue
            rows.append(record_row(record))
            for table, items in child_rows(record).items():
                children[table] += items
        _put(con, rows, children)
        con.executemany("UPDATE records SET bundled = 1 WHERE pmid = ?", [(r[0],) for r in rows])
        batch.clear()

    for record in read_jsonl(path):
        batch.append(record)
        if len(batch) >= CHUNK:
            flush()
    if batch:
        flush()
    gone = "SELECT pmid FROM records WHERE bundled = 1 AND pmid NOT IN (SELECT pmid FROM seen)"
    for table in (*CHILD_COLUMNS, "records"):
        con.execute(f"DELETE FROM {table} WHERE pmid IN ({gone})")
    con.execute("DELETE FROM seen")


def jsonl_bytes(con: sqlite3.Connection, sources: Sequence[str] | None = None) -> bytes:
    """The JSONL text of the stored records (of these sources, default all), sorted by PMID."""
    if sources:
        marks = ",".join("?" * len(sources))
        rows = con.execute(
            f"SELECT data FROM records WHERE source IN ({marks}) ORDER BY pmid", tuple(sources)
        )
    else:
        rows = con.execute("SELECT data FROM records ORDER BY pmid")
    return "".join(text + "\n" for (text,) in rows).encode("utf-8")


def export_jsonl(
    cache_dir: Path, con: sqlite3.Connection, sources: Sequence[str] | None = None
) -> tuple[Path, int]:
    """Write the store's records to the JSONL in git (atomically), and mark them as its own so
    the next use does not load them back. Returns the file and the number of records."""
    path = jsonl_path(cache_dir)
    with write_transaction(con):
        data = jsonl_bytes(con, sources)
        if not path.is_file() or path.read_bytes() != data:
            atomic_write_bytes(path, data)
        con.execute("UPDATE records SET bundled = 0")
        if sources:
            marks = ",".join("?" * len(sources))
            con.execute(f"UPDATE records SET bundled = 1 WHERE source IN ({marks})", tuple(sources))
        else:
            con.execute("UPDATE records SET bundled = 1")
        _set_meta(con, "jsonl_sha256", hashlib.sha256(data).hexdigest())
        _set_meta(con, "jsonl_signature", _signature(path))
    return path, data.count(b"\n")


# ----------------------------------------------------------------------------- migration


def migrate(cache_dir: Path, con: sqlite3.Connection) -> int:
    """Move the former per-file cache (`records/<pmid>.json`) into the store, write the JSONL,
    then remove the folder. Nothing is removed unless every file was read and stored; a file
    that is no record is named. Returns the number of records moved."""
    folder = Path(cache_dir) / LEGACY_DIR
    if not folder.is_dir():
        return 0
    sync_jsonl(cache_dir, con)  # a committed JSONL first: the per-file records are newer
    files = sorted((p for p in folder.glob("*.json") if is_pmid(p.stem)), key=lambda p: int(p.stem))
    records = [parse_text(p.read_text(encoding="utf-8"), str(p)) for p in files]
    for path, record in zip(files, records, strict=True):
        if record.pmid != path.stem:
            raise ValueError(f"{path}: holds PMID {record.pmid}, not {path.stem}")
    put_records(con, records)
    export_jsonl(cache_dir, con)
    shutil.rmtree(folder, ignore_errors=True)
    return len(records)


def remove_store(cache_dir: Path) -> None:
    """Delete the local database (it is rebuilt from the JSONL on next use)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store_path(cache_dir)}{suffix}").unlink(missing_ok=True)


def database_bytes(cache_dir: Path) -> int:
    """Disk used by the database and its WAL."""
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{store_path(cache_dir)}{suffix}")
        total += p.stat().st_size if p.is_file() else 0
    return total


__all__ = [
    "CHILD_COLUMNS",
    "INDEXES",
    "JSONL_FILE",
    "RANK",
    "RECORD_COLUMNS",
    "STORE_FILE",
    "child_rows",
    "connect",
    "count",
    "database_bytes",
    "delete",
    "export_jsonl",
    "get",
    "get_many",
    "iter_records",
    "jsonl_path",
    "may_replace",
    "migrate",
    "oldest_retrieved",
    "pmids",
    "put_records",
    "record_row",
    "record_text",
    "remove_store",
    "retrieved_since",
    "sources",
    "store_path",
    "sync_jsonl",
    "watched",
    "write_transaction",
]
