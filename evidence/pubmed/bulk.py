"""Baseline imports at scale: parse files in parallel into partitioned Parquet, load it in bulk.

Why two steps: parsing is CPU-bound and independent per file, so it spreads over processes or a
Dask cluster (one task per file); loading is one writer into one SQLite file, fastest as large
`executemany` transactions with the secondary indexes built once at the end. Parquet is the
hand-over: columnar, compressed, and readable by any worker or by the loader.

One partition per input file, `<parts>/<NNNNN>/`: `records.parquet` (the store's columns plus
`seq`, the record's position in the file), `mesh.parquet`, `publication_types.parquet`,
`notices.parquet` (each row with its record's `seq`) and `deleted.parquet` (the file's
DeleteCitation PMIDs). Partitions load in file order: within a file the last record of a PMID
wins, and its deletions apply after its records, as NLM applies them; a later file overrides an
earlier one. Source precedence is the store's (`store.RANK`): a file record never replaces a
live one unless `force`.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.pubmed import store

if TYPE_CHECKING:
    from evidence.pubmed.parse import Limits

TABLES = ("records", "mesh", "publication_types", "notices", "deleted")
TRANSACTION_ROWS = 200_000  # records per write transaction in a bulk load


@dataclass
class FileResult:
    """What parsing one file produced."""

    path: str
    partition: str
    records: int = 0
    deleted: int = 0
    error: str = ""
    seconds: float = 0.0  # wall time of the task, where it ran
    cpu: float = 0.0  # CPU time of the process that ran it, during the task


@dataclass
class BulkReport:
    """What a bulk load did, counted (a million PMIDs are not listed)."""

    written: int = 0
    unchanged: int = 0
    kept: int = 0  # a live record was stored and `force` was not given
    deleted: list[str] = field(default_factory=list)  # DeleteCitation PMIDs that were stored
    files: list[FileResult] = field(default_factory=list)


def _schemas() -> dict[str, Any]:
    import pyarrow as pa

    return {
        "records": pa.schema(
            [
                ("pmid", pa.int64()),
                ("doi", pa.string()),
                ("entrez_date", pa.string()),
                ("retrieved", pa.string()),
                ("source", pa.string()),
                ("retracted", pa.int8()),
                ("data", pa.string()),
                ("seq", pa.int64()),
            ]
        ),
        "mesh": pa.schema(
            [
                ("pmid", pa.int64()),
                ("descriptor", pa.string()),
                ("ui", pa.string()),
                ("major", pa.int8()),
                ("seq", pa.int64()),
            ]
        ),
        "publication_types": pa.schema(
            [("pmid", pa.int64()), ("name", pa.string()), ("ui", pa.string()), ("seq", pa.int64())]
        ),
        "notices": pa.schema(
            [
                ("pmid", pa.int64()),
                ("ref_type", pa.string()),
                ("ref_source", pa.string()),
                ("ref_pmid", pa.string()),
                ("seq", pa.int64()),
            ]
        ),
        "deleted": pa.schema([("pmid", pa.int64())]),
    }


def parse_to_parquet(
    path: str, partition: str, retrieved: str, limits: Limits | None = None
) -> FileResult:
    """One task: parse one file and write its partition. Runs on any worker; imports inside so
    a worker pays for them once. A file that does not parse leaves no partition."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from evidence.pubmed.parse import PubmedParseError, iter_records

    started, cpu = time.perf_counter(), time.process_time()
    out = FileResult(path=path, partition=partition)
    columns: dict[str, dict[str, list]] = {
        name: {f.name: [] for f in schema} for name, schema in _schemas().items()
    }
    deleted: list[str] = []
    try:
        for seq, record in enumerate(iter_records(Path(path), deleted=deleted, limits=limits)):
            record = record.with_provenance("file", retrieved)
            row = store.record_row(record)
            for name, value in zip(store.RECORD_COLUMNS, row, strict=True):
                columns["records"][name].append(value)
            columns["records"]["seq"].append(seq)
            for table, rows in store.child_rows(record).items():
                names = store.CHILD_COLUMNS[table]
                for item in rows:
                    for name, value in zip(names, item, strict=True):
                        columns[table][name].append(value)
                    columns[table]["seq"].append(seq)
    except PubmedParseError as exc:
        out.error = str(exc)
        out.seconds, out.cpu = time.perf_counter() - started, time.process_time() - cpu
        return out
    columns["deleted"]["pmid"] = [int(p) for p in deleted]
    folder = Path(partition)
    staging = folder.with_name(folder.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name, schema in _schemas().items():
        table = pa.table(columns[name], schema=schema)
        pq.write_table(table, staging / f"{name}.parquet", compression="zstd")
    os.replace(staging, folder)  # a partition is whole or absent
    out.records = len(columns["records"]["pmid"])
    out.deleted = len(deleted)
    out.seconds, out.cpu = time.perf_counter() - started, time.process_time() - cpu
    return out


def warm() -> None:
    """Import what a parse task needs, once per worker process before the first task: the
    parser (lxml), pyarrow and the Parquet writer, so no task pays for them."""
    import pyarrow.parquet  # noqa: F401

    import evidence.pubmed.parse  # noqa: F401

    _schemas()


def partition_name(parts: Path, index: int) -> str:
    return str(Path(parts) / f"{index:05d}")


def parse_files(
    paths: Sequence[Path],
    parts: Path,
    retrieved: str,
    *,
    limits: Limits | None = None,
    workers: int = 1,
    dask_address: str | None = None,
) -> list[FileResult]:
    """Parse every file into `parts`, one task per file: in this process when `workers` is 1
    and no address is given, else on a Dask cluster (a LocalCluster of `workers` processes, or
    the scheduler at `dask_address`, whose workers must see the same paths).

    On a cluster each worker writes its file's partition itself and returns only counts (a
    `FileResult`): parsed records never travel to the client. Workers are single-threaded
    processes (the parser holds the GIL) and import the parser before the first task (`warm`).
    """
    names = [str(Path(p).resolve()) for p in paths]
    targets = [partition_name(Path(parts).resolve(), i) for i in range(len(names))]
    if workers <= 1 and not dask_address:
        return [
            parse_to_parquet(p, t, retrieved, limits) for p, t in zip(names, targets, strict=True)
        ]
    import dask
    from distributed import Client, LocalCluster

    if dask_address:
        client = Client(dask_address)
        cluster = None
    else:
        # one thread per process: the parser holds the GIL; and no statistical profiler
        # sampling the task's stack every 10 ms (a dashboard nobody reads here)
        with dask.config.set({"distributed.worker.profile.enabled": False}):
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            )
        client = Client(cluster)
    try:
        client.run(warm)  # on every worker, at once, before any task is timed or queued
        futures = client.map(
            parse_to_parquet, names, targets, retrieved=retrieved, limits=limits, pure=False
        )
        return client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


# ----------------------------------------------------------------------------- loading

_RANK_SQL = "CASE {col} WHEN 'live' THEN 2 WHEN 'file' THEN 1 ELSE 0 END"
_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS stage (
    pmid INTEGER PRIMARY KEY, doi TEXT, entrez_date TEXT, retrieved TEXT, source TEXT,
    retracted INTEGER, data TEXT, seq INTEGER);
CREATE TEMP TABLE IF NOT EXISTS stage_mesh (
    pmid INTEGER, descriptor TEXT, ui TEXT, major INTEGER, seq INTEGER);
CREATE TEMP TABLE IF NOT EXISTS stage_publication_types (
    pmid INTEGER, name TEXT, ui TEXT, seq INTEGER);
CREATE TEMP TABLE IF NOT EXISTS stage_notices (
    pmid INTEGER, ref_type TEXT, ref_source TEXT, ref_pmid TEXT, seq INTEGER);
CREATE TEMP TABLE IF NOT EXISTS stage_write (pmid INTEGER PRIMARY KEY)
"""


def _rows(table: Any) -> list[tuple]:
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))


def _load_partition(con: Any, folder: Path, force: bool, report: BulkReport) -> None:
    import pyarrow.parquet as pq

    for statement in _STAGE.split(";"):
        con.execute(statement)
    for name in ("stage", "stage_mesh", "stage_publication_types", "stage_notices", "stage_write"):
        con.execute(f"DELETE FROM {name}")
    records = pq.read_table(folder / "records.parquet")
    # in file order: a PMID given twice keeps its last record (INSERT OR REPLACE)
    con.executemany("INSERT OR REPLACE INTO stage VALUES (?, ?, ?, ?, ?, ?, ?, ?)", _rows(records))
    for table, columns in store.CHILD_COLUMNS.items():
        rows = _rows(pq.read_table(folder / f"{table}.parquet"))
        marks = ", ".join("?" * (len(columns) + 1))
        con.executemany(f"INSERT INTO stage_{table} VALUES ({marks})", rows)
    allowed = (
        "1"
        if force
        else (f"{_RANK_SQL.format(col='s.source')} >= {_RANK_SQL.format(col='r.source')}")
    )
    con.execute(
        "INSERT INTO stage_write SELECT s.pmid FROM stage s LEFT JOIN records r ON r.pmid = s.pmid "
        f"WHERE r.pmid IS NULL OR (r.data != s.data AND {allowed})"
    )
    (staged,) = con.execute("SELECT count(*) FROM stage").fetchone()
    (written,) = con.execute("SELECT count(*) FROM stage_write").fetchone()
    (kept,) = con.execute(
        "SELECT count(*) FROM stage s JOIN records r ON r.pmid = s.pmid "
        f"WHERE r.data != s.data AND NOT ({allowed})"
    ).fetchone()
    for table in store.CHILD_COLUMNS:
        con.execute(f"DELETE FROM {table} WHERE pmid IN (SELECT pmid FROM stage_write)")
    columns = ", ".join(store.RECORD_COLUMNS)
    con.execute(
        f"INSERT OR REPLACE INTO records ({columns}, bundled) SELECT {columns}, 0 FROM stage "
        "WHERE pmid IN (SELECT pmid FROM stage_write)"
    )
    for table, names in store.CHILD_COLUMNS.items():
        cols = ", ".join(f"c.{n}" for n in names)
        con.execute(
            f"INSERT INTO {table} SELECT {cols} FROM stage_{table} c "
            "JOIN stage s ON s.pmid = c.pmid AND s.seq = c.seq "
            "WHERE c.pmid IN (SELECT pmid FROM stage_write)"
        )
    gone = sorted(pq.read_table(folder / "deleted.parquet").column("pmid").to_pylist())
    if gone:
        con.execute("CREATE TEMP TABLE IF NOT EXISTS stage_deleted (pmid INTEGER PRIMARY KEY)")
        con.execute("DELETE FROM stage_deleted")
        con.executemany("INSERT OR IGNORE INTO stage_deleted VALUES (?)", [(p,) for p in gone])
        present = [
            str(p)
            for (p,) in con.execute(
                "SELECT pmid FROM records WHERE pmid IN (SELECT pmid FROM stage_deleted) "
                "ORDER BY pmid"
            )
        ]
        for table in ("records", *store.CHILD_COLUMNS):
            con.execute(f"DELETE FROM {table} WHERE pmid IN (SELECT pmid FROM stage_deleted)")
        report.deleted += present
    report.written += written
    report.kept += kept
    report.unchanged += staged - written - kept


def load_parquet(cache_dir: Path, partitions: Sequence[Path], *, force: bool = False) -> BulkReport:
    """Load partitions (in order) into the store: large transactions, and into an empty store
    without its secondary indexes, built once after the last row."""
    report = BulkReport()
    with store.connect(cache_dir) as con:
        empty = store.count(con) == 0
        if empty:
            with store.write_transaction(con):
                for name in store.INDEXES:
                    con.execute(f"DROP INDEX IF EXISTS {name}")
        try:
            pending = 0
            con.execute("BEGIN IMMEDIATE")
            try:
                for folder in partitions:
                    before = report.written
                    _load_partition(con, Path(folder), force, report)
                    pending += report.written - before
                    if pending >= TRANSACTION_ROWS:
                        con.execute("COMMIT")
                        con.execute("BEGIN IMMEDIATE")
                        pending = 0
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            if empty:
                with store.write_transaction(con):
                    for name, target in store.INDEXES.items():
                        con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {target}")
        report.deleted = sorted(set(report.deleted), key=int)
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the journal back to nothing
    return report


def import_files(
    cache_dir: Path,
    paths: Sequence[Path],
    *,
    retrieved: str,
    force: bool = False,
    limits: Limits | None = None,
    workers: int = 1,
    dask_address: str | None = None,
    keep_parts: Path | None = None,
) -> BulkReport:
    """Parse `paths` in parallel into Parquet, then load every file that parsed in one pass.

    A file that does not parse is reported in `files` with its error and contributes nothing;
    the others load. The Parquet partitions are staged under the cache folder (removed after,
    unless `keep_parts` names a folder to keep them in).
    """
    from evidence.pubmed.cache import STAGING_PREFIX, remove_abandoned_staging

    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    remove_abandoned_staging(cache_dir)
    staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", dir=cache_dir))
    try:
        parts = Path(keep_parts) if keep_parts else staging / "parts"
        parts.mkdir(parents=True, exist_ok=True)
        results = parse_files(
            paths, parts, retrieved, limits=limits, workers=workers, dask_address=dask_address
        )
        good = [Path(r.partition) for r in results if not r.error]
        report = load_parquet(cache_dir, good, force=force)
        report.files = results
        return report
    finally:
        shutil.rmtree(staging, ignore_errors=True)
