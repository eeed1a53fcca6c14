"""PubMed commands: search, fetch, seed-cache, import-pubmed, records, resolve, designs.

Everything works offline from the cache under DATA/pubmed; `--live` is the only way a command
talks to NCBI (E-utilities at $EVIDENCE_EUTILS_URL, identified by $NCBI_EMAIL, with
$NCBI_API_KEY when set). Heavy modules are imported inside the commands so `evidence --help`
stays fast.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from evidence.cli.app import DataOpt, ProcessedOpt, ReportsOpt, app, fail, workspace
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS, Workspace
from evidence.safepath import UnsafePath, check_id, inside, is_pmid

if TYPE_CHECKING:
    from evidence.pubmed.client import EutilsClient
    from evidence.pubmed.records import PubmedRecord

LiveOpt = Annotated[
    bool,
    typer.Option(
        "--live/--offline",
        help="Ask NCBI E-utilities ($EVIDENCE_EUTILS_URL; needs $NCBI_EMAIL). Offline by default.",
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", help="Output format: table or json.")]
OptionalProtocolOpt = Annotated[
    str | None, typer.Option("--protocol", help="Protocol name under DATA/protocols/, or a path.")
]
SearchProtocolOpt = OptionalProtocolOpt


def _reflow(text: str) -> str:
    """Help text for typer: paragraphs kept, line breaks inside a paragraph removed."""
    return "\n\n".join(" ".join(p.split()) for p in text.strip().split("\n\n"))


SEARCH_HELP = _reflow(
    """
Find new PubMed records for each indication of a protocol and queue them for screening.

Live: each indication's query is searched by Entrez date, and by MeSH date (records that
match only once indexed), from the day before its last successful search (or --since);
PMIDs not in studies.csv or pubmed_records.csv join DATA/pubmed/queue.csv, their metadata
is fetched into the cache (with that of queued records an earlier failed fetch left
without it), and the search date in DATA/pubmed/search_state.json advances for the
indications that succeeded. A failed search or fetch exits non-zero; what was stored stays
stored. Offline: no search is made; the queue and the date of the last live search are
shown.

With --update-cached (live), cached records PubMed modified since the last such pass
(esearch by modification date over the cached PMIDs) are fetched again, so a retraction
or erratum reaches the cache; the pass's date is kept in DATA/pubmed/refresh_state.json.

"""
)

FETCH_HELP = _reflow(
    """
Fill the PubMed cache for --pmids and/or every PMID of a --protocol's data and queue.

Live: efetch in batches of 200 (never one request per record) for PMIDs not cached or
cached only from the snapshot (all of them with --refresh); each batch is stored as soon
as it is complete, so an interrupted fetch resumes. PMIDs NCBI no longer returns are
listed. Offline with --protocol: seeds the cache from the snapshot tables (without
replacing live or imported records) and lists the studies it could not fill.

"""
)

SEED_CACHE_HELP = _reflow(
    """
(Re)build snapshot records in the cache from DATA/studies.csv and pubmed_records.csv.

One record per study with a PMID (source "snapshot"); reruns give identical bytes. Studies
without a PMID are listed. Live and imported records are left alone unless --force.

"""
)

IMPORT_PUBMED_HELP = _reflow(
    """
Import saved PubMed files into the cache with source "file".

A file is imported whole or not at all: a truncated or non-PubMed file is reported by
name and nothing from it is stored. Live records are kept unless --force.

PMIDs a file lists under DeleteCitation (PubMed deleted them; baseline and update files
carry such lists) are removed from the cache once the file has parsed whole; the command
lists them, and names any study of the data whose PMID was deleted.

Files are not trusted: a compressed file may expand to at most --max-decompressed (default
2G, or $EVIDENCE_PUBMED_MAX_DECOMPRESSED) and to at most --max-ratio times its size (default
100, or $EVIDENCE_PUBMED_MAX_RATIO; real PubMed XML compresses 4-15 times), and no tag,
record or nesting may grow far beyond what PubMed writes; such a file is refused within
seconds, naming the limit, and nothing from it is stored.

With --workers N (a local Dask cluster) or --dask-address, each file is parsed by its own
task into Parquet (one partition per file), and the files that parsed are loaded into the
store in bulk, in the order given; a file that does not parse is named and loads nothing.

"""
)

RECORDS_HELP = _reflow(
    """
List the PubMed cache, sorted by PMID, with each record's design.

The design is the curated one from studies.csv where the record belongs to a study, else
the one PubMed's publication types and MeSH headings suggest (`design_origin` says which).

"""
)

RESOLVE_HELP = _reflow(
    """
Find PMIDs for studies (and the protocol's cited papers) that have none.

Live: by DOI, else by title words + first author + year; each match says how it was made,
several hits are listed as ambiguous and none as missing, never guessed. The table is
written to DATA/pubmed/resolutions.csv. Offline: the unresolved studies are listed only.

"""
)

DESIGNS_HELP = _reflow(
    """
Compare curated designs (studies.csv) with those PubMed indexing suggests.

Lists the disagreements (the curated design stays authoritative) and writes them to
PROCESSED/pubmed_design_disagreements.csv.

"""
)


EXPORT_HELP = _reflow(
    """
Write the PubMed store's records to DATA/pubmed/records.jsonl, the form kept in git.

One record per line, sorted by PMID, byte-stable: exporting an unchanged store changes
nothing. The store itself (DATA/pubmed/store.sqlite) is local and rebuilt from this file on
first use; live fetches and imports write to the store only, so `git status` shows a change
of the committed records only after an export. --source limits the export to records of
those sources (live, file, snapshot; repeatable), e.g. to leave a baseline mirror out.

"""
)

MIGRATE_HELP = _reflow(
    """
Move a per-file PubMed cache (DATA/pubmed/records/<pmid>.json) into the store.

The records are loaded into DATA/pubmed/store.sqlite, written to DATA/pubmed/records.jsonl
and the folder is removed; nothing is removed unless every file was read. Any command that
opens the store does the same on first use; this one does it now and says what it did.

"""
)


# ----------------------------------------------------------------------------- helpers


def _today() -> date:
    return date.today()


def _check_format(fmt: str) -> None:
    if fmt not in {"table", "json"}:
        raise fail(f"--format must be table or json, not {fmt!r}", code=2)


def _emit_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True))


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(width=max(120, Console().width)).print(table)


@contextmanager
def _progress(total: int, label: str) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal; a silent counter when output is piped or captured."""
    if total <= 0 or not sys.stderr.isatty():
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """Turn SIGTERM (a timeout, a service stop) into SystemExit while a file is imported, so
    the import's clean-up runs instead of the process vanishing with its staging folder."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _client() -> EutilsClient:
    from evidence.pubmed.client import ClientConfig, EutilsClient, EutilsError

    try:
        return EutilsClient(ClientConfig.from_env())
    except EutilsError as exc:
        raise fail(str(exc)) from None


def _cache(ws: Workspace) -> Path:
    return ws.pubmed_cache


def _write_live(ws: Workspace, retrieved: str) -> Callable[[list[PubmedRecord]], None]:
    """A batch callback that stores NCBI's records, replacing whatever was cached."""
    from evidence.pubmed.cache import write_records

    def store(records: list[PubmedRecord]) -> None:
        write_records(
            _cache(ws), [r.with_provenance("live", retrieved) for r in records], force=True
        )

    return store


def _protocol_pmids(ws: Workspace, protocol_id: str | None) -> list[str]:
    """PMIDs a protocol's data names (studies, PubMed rows) plus its screening queue."""
    from evidence.pubmed.search import QUEUE_FILE, load_queue
    from evidence.pubmed.snapshot import known_pmids

    pmids = set(known_pmids(ws.data))
    for row in load_queue(_cache(ws) / QUEUE_FILE):
        if protocol_id is None or row.protocol == protocol_id:
            pmids.add(row.pmid)
    return sorted(pmids, key=int)


def _protocol_id(ws: Workspace, protocol: str) -> str:
    try:
        path = ws.protocol_path(protocol)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if not path.is_file():  # a protocol id whose file is gone: its queue rows still count
        try:
            return check_id(protocol, "--protocol")
        except UnsafePath as exc:
            raise fail(str(exc)) from None
    return str(_load_search(ws, protocol).protocol_id)


def _load_search(ws: Workspace, protocol: str | None) -> Any:
    from evidence.pubmed.search import load_protocol_search

    try:
        path = ws.protocol_path(protocol)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        return load_protocol_search(path)
    except Exception as exc:
        raise fail(f"{path}: cannot read the protocol: {exc}") from None


# ----------------------------------------------------------------------------- search


@app.command("search", help=SEARCH_HELP)
def search_cmd(
    protocol: SearchProtocolOpt = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Search from this Entrez date (YYYY-MM-DD) instead."),
    ] = None,
    live: LiveOpt = False,
    update_cached: Annotated[
        bool,
        typer.Option(
            "--update-cached",
            help="Also re-fetch cached records PubMed modified since the last pass (live).",
        ),
    ] = False,
    fmt: FormatOpt = "table",
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Find new PubMed records for each indication of a protocol and queue them for screening."""
    from evidence.pubmed.cache import read_record
    from evidence.pubmed.search import (
        QUEUE_FILE,
        STATE_FILE,
        last_search,
        load_queue,
        load_state,
    )

    _check_format(fmt)
    ws = workspace(data, processed, reports)
    spec = _load_search(ws, protocol)
    cache = _cache(ws)
    state_path, queue_path = cache / STATE_FILE, cache / QUEUE_FILE
    since_date = None
    if since:
        try:
            since_date = date.fromisoformat(since)
        except ValueError:
            raise fail(f"--since must be a date YYYY-MM-DD, not {since!r}", code=2) from None

    if update_cached and not live:
        raise fail("--update-cached asks PubMed: pass --live as well", code=2)
    if not live:
        state = load_state(state_path)
        lasts = {q.id: last_search(state, spec.protocol_id, q.id) for q in spec.queries}
        rows = [r for r in load_queue(queue_path) if r.protocol == spec.protocol_id]
        for row in rows:
            if not row.title:
                cached = read_record(cache, row.pmid)
                row.title = cached.title if cached else ""
        if fmt == "json":
            _emit_json(
                {
                    "searched": False,
                    "protocol": spec.protocol_id,
                    "last_live_search": lasts,
                    "queue": [r.as_dict() for r in rows],
                }
            )
            return
        typer.echo("No PubMed search was made (offline; pass --live to search NCBI).")
        for ind, last in lasts.items():
            typer.echo(f"  {ind}: last live search {last or 'never'}")
        _table(
            f"Queue for {spec.protocol_id}: {len(rows)} record(s) awaiting screening",
            ["pmid", "indication", "found", "title"],
            [(r.pmid, r.indication, r.found, r.title) for r in rows],
        )
        return

    from evidence.pubmed import refresh

    client = _client()
    today = _today()
    outcomes = refresh.search(client, cache, ws.data, spec, today, since_date)
    new = refresh.new_pmids(outcomes)
    # Queued records whose fetch failed on an earlier run are fetched again with the new ones.
    wanted = refresh.fetch_list(cache, queue_path, outcomes)
    fetch_error = ""
    with _progress(len(wanted), "fetching records") as advance:
        try:
            fetched = refresh.fetch(client, cache, wanted, today, progress=advance)
        except refresh.FetchFailed as exc:  # stored batches are kept; the rest stay queued
            fetched, fetch_error = exc.outcome, str(exc)
    missing = fetched.missing
    designs = refresh.classify(cache, new)
    rows = refresh.update_queue(cache, ws.data, spec, outcomes, today, designs)
    titles = {r.pmid: r.title for r in rows}
    updated = None
    if update_cached:
        from evidence.pubmed.updates import update_cached as update_pass

        updated = update_pass(client, cache, today)
    if fmt == "json":
        _emit_json(
            {
                "searched": True,
                "protocol": spec.protocol_id,
                "indications": [
                    {
                        "indication": o.indication,
                        "mindate": o.mindate.isoformat() if o.mindate else None,
                        "maxdate": o.maxdate.isoformat(),
                        "found": len(o.found),
                        "new": list(o.new),
                        "by_mesh_date": list(o.by_mesh_date),
                        "error": o.error or None,
                    }
                    for o in outcomes
                ],
                "missing": missing,
                "fetch_error": fetch_error or None,
                "queue": [r.as_dict() for r in rows if r.protocol == spec.protocol_id],
                **(
                    {
                        "updated": {
                            "mindate": updated.mindate.isoformat() if updated.mindate else None,
                            "maxdate": updated.maxdate.isoformat(),
                            "checked": updated.checked,
                            "modified": updated.modified,
                            "refreshed": updated.refreshed,
                            "missing": updated.missing,
                            "error": updated.error or None,
                        }
                    }
                    if updated is not None
                    else {}
                ),
            }
        )
    else:
        _table(
            f"PubMed search for {spec.protocol_id} on {today.isoformat()}",
            ["indication", "from", "to", "found", "new", "status"],
            [
                (
                    o.indication,
                    o.mindate.isoformat() if o.mindate else "(all)",
                    o.maxdate.isoformat(),
                    len(o.found),
                    len(o.new),
                    "ok" if o.ok else f"FAILED: {o.error}",
                )
                for o in outcomes
            ],
        )
        for pmid in new:
            typer.echo(f"new: {pmid}  {titles.get(pmid, '')}")
        if missing:
            typer.echo(f"not returned by NCBI: {', '.join(missing)}")
        typer.echo(f"queue: {queue_path} ({len(rows)} row(s))")
        if updated is not None and updated.ok:
            since = updated.mindate.isoformat() if updated.mindate else "(nothing cached)"
            typer.echo(
                f"modified since {since}: {len(updated.modified)} of {updated.checked} cached "
                f"record(s); re-fetched: {', '.join(updated.refreshed) or 'none'}"
            )
    failed = [o for o in outcomes if not o.ok]
    update_error = updated.error if updated is not None else ""
    if failed or fetch_error or update_error:
        for o in failed:
            typer.echo(f"search failed for {o.indication}: {o.error}", err=True)
        if fetch_error:
            typer.echo(
                f"{fetch_error}. The records are queued and fetched again on the next live search.",
                err=True,
            )
        if update_error:
            typer.echo(f"updating cached records failed: {update_error}", err=True)
        raise typer.Exit(1)


# ----------------------------------------------------------------------------- fetch


@app.command("fetch", help=FETCH_HELP)
def fetch_cmd(
    pmids: Annotated[
        str | None, typer.Option("--pmids", help="Comma-separated PMIDs to fetch.")
    ] = None,
    protocol: OptionalProtocolOpt = None,
    refresh: Annotated[
        bool, typer.Option("--refresh", help="Fetch again even records already cached.")
    ] = False,
    live: LiveOpt = False,
    workers: Annotated[
        int, typer.Option("--workers", min=1, max=8, help="Parallel batches (one shared limit).")
    ] = 1,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Fill the PubMed cache for --pmids and/or every PMID of a --protocol's data and queue."""
    from evidence.pubmed.cache import cached_sources, pmids_to_fetch

    ws = workspace(data, processed, reports)
    cache = _cache(ws)
    wanted: list[str] = []
    if pmids:
        wanted += [p.strip() for p in pmids.split(",") if p.strip()]
        bad = [p for p in wanted if not is_pmid(p)]
        if bad:
            raise fail(f"not PMIDs: {', '.join(bad)}", code=2)
    protocol_id = None
    if protocol:
        protocol_id = _protocol_id(ws, protocol)
        try:
            wanted += _protocol_pmids(ws, protocol_id)
        except (FileNotFoundError, ValueError) as exc:
            raise fail(str(exc)) from None
    if not pmids and not protocol:
        raise fail("give --pmids and/or --protocol", code=2)
    wanted = list(dict.fromkeys(wanted))

    if not live:
        if protocol:
            _seed(ws, retrieved=None, force=False)
        have = set(cached_sources(cache, wanted))
        absent = [p for p in wanted if p not in have]
        typer.echo(
            f"No PubMed request was made (offline). {len(wanted) - len(absent)} of "
            f"{len(wanted)} PMID(s) are in the cache ({cache})."
        )
        if absent:
            typer.echo(f"not cached (fetch with --live): {', '.join(absent)}")
        return

    from evidence.pubmed.client import EutilsError

    todo = pmids_to_fetch(cache, wanted, refresh=refresh)
    typer.echo(f"{len(todo)} of {len(wanted)} PMID(s) to fetch; the rest are cached.")
    if not todo:
        return
    client = _client()
    try:
        with _progress(len(todo), "fetching PubMed records") as advance:
            result = client.fetch(
                todo,
                on_batch=_write_live(ws, _today().isoformat()),
                workers=workers,
                progress=advance,
            )
    except EutilsError as exc:
        raise fail(
            f"fetch stopped: {exc}. Batches already stored are kept; rerun to resume."
        ) from None
    typer.echo(
        f"fetched {len(result.records)} record(s) in {result.requests} request(s) into {cache}"
    )
    if result.missing:
        typer.echo(f"not returned by NCBI (kept as they were): {', '.join(result.missing)}")


def _seed(ws: Workspace, retrieved: str | None, force: bool) -> None:
    from evidence.pubmed.cache import cached_sources, write_records
    from evidence.pubmed.snapshot import SNAPSHOT_DATE, snapshot_records

    try:
        records, unfilled = snapshot_records(ws.data, retrieved or SNAPSHOT_DATE)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    cache = _cache(ws)
    if not force:
        # A snapshot record never replaces NCBI's or an imported file's.
        have = cached_sources(cache, [r.pmid for r in records])
        records = [r for r in records if have.get(r.pmid, "snapshot") == "snapshot"]
    report = write_records(cache, records, force=force)
    typer.echo(
        f"snapshot: {len(report.written)} record(s) written, {len(report.unchanged)} unchanged "
        f"in {cache}"
    )
    if unfilled:
        typer.echo(
            f"{len(unfilled)} stud(ies) without a PMID (not filled; see `evidence resolve`):"
        )
        for item in unfilled:
            typer.echo(f"  {item.study_id}: {item.reason}")


@app.command("seed-cache", help=SEED_CACHE_HELP)
def seed_cache_cmd(
    retrieved: Annotated[
        str, typer.Option("--retrieved", help="Retrieval date stamped on snapshot records.")
    ] = "2026-11-25",
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite live and imported records too.")
    ] = False,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """(Re)build snapshot records in the cache from DATA/studies.csv and pubmed_records.csv."""
    try:
        date.fromisoformat(retrieved)
    except ValueError:
        raise fail(f"--retrieved must be a date YYYY-MM-DD, not {retrieved!r}", code=2) from None
    _seed(workspace(data, processed, reports), retrieved, force)


# ----------------------------------------------------------------------------- import


@app.command("import-pubmed", help=IMPORT_PUBMED_HELP)
def import_pubmed_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(help="efetch XML, MEDLINE/baseline XML (.gz too) or MEDLINE text."),
    ],
    force: Annotated[
        bool, typer.Option("--force", help="Replace records fetched live as well.")
    ] = False,
    max_decompressed: Annotated[
        str | None,
        typer.Option(
            "--max-decompressed",
            metavar="SIZE",
            help="Most a compressed file may expand to, e.g. 800M or 4G (default 2G).",
        ),
    ] = None,
    max_ratio: Annotated[
        str | None,
        typer.Option(
            "--max-ratio",
            metavar="N",
            help="Most a compressed file may expand, as a multiple of its size (default 100).",
        ),
    ] = None,
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Parse the files on a local Dask cluster of N processes, via Parquet.",
        ),
    ] = 1,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            metavar="ADDR",
            help="Parse on this Dask scheduler (tcp://host:8786); its workers must see the "
            "files and the data folder at the same absolute paths.",
        ),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Import saved PubMed files into the cache with source "file"."""
    from evidence.pubmed.cache import import_file
    from evidence.pubmed.parse import Limits, PubmedParseError, parse_ratio, parse_size

    try:
        limits = Limits.from_env(
            max_decompressed=(
                parse_size(max_decompressed, "--max-decompressed") if max_decompressed else None
            ),
            max_ratio=parse_ratio(max_ratio, "--max-ratio") if max_ratio else None,
        )
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    ws = workspace(data, processed, reports)
    if workers > 1 or dask_address:
        _bulk_import(ws, files, force=force, limits=limits, workers=workers, address=dask_address)
        return
    failures = 0
    for path in files:
        try:
            with _terminate_as_exit():
                report, count = import_file(
                    _cache(ws), path, retrieved=_today().isoformat(), force=force, limits=limits
                )
        except PubmedParseError as exc:
            failures += 1
            typer.echo(f"error: {exc}", err=True)
            continue
        typer.echo(
            f"{path}: {count} record(s); {len(report.written)} written, "
            f"{len(report.unchanged)} unchanged, {len(report.kept)} kept (fetched live)"
            + (f", {len(report.deleted)} deleted (DeleteCitation)" if report.deleted else "")
        )
        if report.deleted:
            _report_deleted(ws, report.deleted, f" ({path})")
    if failures:
        raise fail(f"{failures} file(s) could not be imported")


def _report_deleted(ws: Workspace, deleted: list[str], source: str = "") -> None:
    """List the PMIDs a file deleted, and warn for each study of the data that cites one."""
    typer.echo(f"deleted: {', '.join(deleted)}")
    by_pmid = _curated(ws)[1]
    for pmid in deleted:
        if pmid in by_pmid:
            typer.echo(
                f"study {by_pmid[pmid]}: its PubMed record {pmid} was deleted by PubMed"
                f"{source}; check the study's PMID",
                err=True,
            )


def _bulk_import(
    ws: Workspace,
    files: list[Path],
    *,
    force: bool,
    limits: Any,
    workers: int,
    address: str | None,
) -> None:
    """One Dask task per file into Parquet, then one bulk load of every file that parsed."""
    from evidence.pubmed.bulk import import_files

    missing = [str(p) for p in files if not Path(p).is_file()]
    if missing:
        raise fail(f"no such file: {', '.join(missing)}")
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise fail(
            "--workers/--dask-address need Dask: pip install 'evidence[dask]'", code=2
        ) from None
    with _terminate_as_exit():
        report = import_files(
            _cache(ws),
            files,
            retrieved=_today().isoformat(),
            force=force,
            limits=limits,
            workers=workers,
            dask_address=address,
        )
    failures = [r for r in report.files if r.error]
    for r in report.files:
        if not r.error:
            typer.echo(f"{r.path}: {r.records} record(s), {r.deleted} DeleteCitation PMID(s)")
    for r in failures:
        typer.echo(f"error: {r.error}", err=True)
    typer.echo(
        f"{len(report.files) - len(failures)} file(s) loaded: {report.written} record(s) "
        f"written, {report.unchanged} unchanged, {report.kept} kept (fetched live)"
        + (f", {len(report.deleted)} deleted (DeleteCitation)" if report.deleted else "")
    )
    if report.deleted:
        _report_deleted(ws, report.deleted)
    if failures:
        raise fail(f"{len(failures)} file(s) could not be imported")


# ----------------------------------------------------------------------------- records


def _curated(ws: Workspace) -> tuple[dict[str, str], dict[str, str]]:
    """(study_id -> curated design, PMID -> study_id) from the data, empty without studies.csv."""
    from evidence.pubmed.snapshot import read_studies, study_pmids

    try:
        designs = {s.study_id: s.design for s in read_studies(ws.data)}
        by_pmid = {pmid: sid for sid, pmid in study_pmids(ws.data).items()}
    except FileNotFoundError:
        return {}, {}
    except ValueError as exc:  # a pmid cell that is not a PMID
        raise fail(str(exc)) from None
    return designs, by_pmid


@app.command("records", help=RECORDS_HELP)
def records_cmd(
    fmt: FormatOpt = "table",
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """List the PubMed cache, sorted by PMID, with each record's design."""
    from evidence.pubmed.cache import iter_cached
    from evidence.pubmed.classify import effective_design

    _check_format(fmt)
    ws = workspace(data, processed, reports)
    designs, by_pmid = _curated(ws)
    rows = []
    for record in iter_cached(_cache(ws)):
        study_id = record.study_id or by_pmid.get(record.pmid, "")
        design, origin = effective_design(designs.get(study_id), record)
        rows.append(
            {
                "pmid": record.pmid,
                "title": record.title,
                "year": record.year,
                "journal": record.journal,
                "doi": record.doi,
                "publication_types": list(record.publication_type_names),
                "design": design,
                "design_origin": origin,
                "study_id": study_id,
                "retracted": record.retracted,
                "source": record.source,
                "retrieved": record.retrieved,
            }
        )
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    _table(
        f"PubMed cache {_cache(ws)}: {len(rows)} record(s)",
        ["pmid", "year", "design", "source", "retrieved", "title"],
        [
            (
                r["pmid"],
                r["year"] or "",
                r["design"],
                r["source"],
                r["retrieved"],
                ("[RETRACTED] " if r["retracted"] else "") + str(r["title"])[:90],
            )
            for r in rows
        ],
    )


# ----------------------------------------------------------------------------- resolve


@app.command("resolve", help=RESOLVE_HELP)
def resolve_cmd(
    protocol: OptionalProtocolOpt = None,
    live: LiveOpt = False,
    fmt: FormatOpt = "table",
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Find PMIDs for studies (and the protocol's cited papers) that have none."""
    from evidence.io import atomic_write_bytes
    from evidence.pubmed.resolve import (
        offline_resolutions,
        resolution_targets,
        resolutions_csv,
        resolve,
    )

    _check_format(fmt)
    ws = workspace(data, processed, reports)
    citations: Path | None = None
    try:
        path = ws.protocol_path(protocol)
    except ValueError as exc:
        raise fail(str(exc)) from None
    if path.is_file():
        spec = _load_search(ws, str(path))
        if spec.citations:
            try:
                citations = inside(ws.data, spec.citations)
            except UnsafePath as exc:
                raise fail(f"{path}: files.citations: {exc}") from None
    try:
        targets = resolution_targets(ws.data, citations)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    if live:
        client = _client()
        results = resolve(client, targets)
        out = _cache(ws) / "resolutions.csv"
        atomic_write_bytes(out, resolutions_csv(results).encode("utf-8"))
    else:
        results = offline_resolutions(targets)
        out = None
    if fmt == "json":
        _emit_json([r.row() for r in results])
    else:
        if not live:
            typer.echo("No PubMed search was made (offline; pass --live to resolve).")
        _table(
            f"{len(results)} stud(ies) without a PMID",
            ["study_id", "status", "method", "pmid", "candidates", "citations", "detail"],
            [
                (
                    r.study_id,
                    r.status,
                    r.method,
                    r.pmid,
                    " ".join(r.candidates),
                    " ".join(map(str, r.citations)),
                    r.detail,
                )
                for r in results
            ],
        )
    if out is not None:
        typer.echo(f"wrote {out}", err=fmt == "json")


# ----------------------------------------------------------------------------- designs


@app.command("designs", help=DESIGNS_HELP)
def designs_cmd(
    fmt: FormatOpt = "table",
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Compare curated designs (studies.csv) with those PubMed indexing suggests."""
    from evidence.io import atomic_write_bytes, csv_text
    from evidence.pubmed.cache import read_records
    from evidence.pubmed.classify import design_disagreements
    from evidence.pubmed.snapshot import known_pmids

    _check_format(fmt)
    ws = workspace(data, processed, reports)
    designs, by_pmid = _curated(ws)
    # Only records of PMIDs the curated data holds can have a curated design: ask for those.
    named = set(by_pmid) | (known_pmids(ws.data) if designs else set())
    records = read_records(_cache(ws), named).values()
    found = design_disagreements(records, designs, by_pmid)
    columns = ["study_id", "pmid", "curated", "pubmed", "reason"]
    rows = [[d.study_id, d.pmid, d.curated, d.pubmed, d.reason] for d in found]
    out = ws.processed / "pubmed_design_disagreements.csv"
    atomic_write_bytes(out, csv_text(columns, rows, neutralise=True).encode("utf-8"))
    if fmt == "json":
        _emit_json(
            [
                dict(zip(columns, (d.study_id, d.pmid, d.curated, d.pubmed, d.reason), strict=True))
                for d in found
            ]
        )
        return
    _table(
        f"{len(found)} design disagreement(s) between studies.csv and PubMed",
        columns,
        [(d.study_id, d.pmid, d.curated, d.pubmed, d.reason) for d in found],
    )
    typer.echo(f"wrote {out}")


# ----------------------------------------------------------------------------- store


@app.command("pubmed-export", help=EXPORT_HELP)
def export_cmd(
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only records of this source (repeatable)."),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Write the store's records to DATA/pubmed/records.jsonl."""
    from evidence.pubmed import store
    from evidence.pubmed.records import SOURCES

    bad = [s for s in source or [] if s not in SOURCES]
    if bad:
        raise fail(f"--source must be one of {', '.join(SOURCES)}, not {bad[0]!r}", code=2)
    ws = workspace(data, processed, reports)
    with store.connect(_cache(ws)) as con:
        path, n = store.export_jsonl(_cache(ws), con, sorted(set(source or [])) or None)
    typer.echo(f"wrote {n} record(s) to {path}")


@app.command("migrate-cache", help=MIGRATE_HELP)
def migrate_cmd(
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Move a per-file PubMed cache into the store and its JSONL."""
    from evidence.pubmed import store

    ws = workspace(data, processed, reports)
    cache = _cache(ws)
    try:
        with store.connect(cache, sync=False) as con:
            moved = store.migrate(cache, con)
            total = store.count(con)
    except ValueError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"moved {moved} per-file record(s) into {store.store_path(cache)}; "
        f"{total} record(s) stored, {store.jsonl_path(cache)} written"
        if moved
        else f"no per-file cache under {cache}; {total} record(s) stored"
    )
