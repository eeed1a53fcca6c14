"""`evidence screen`: record screening decisions, list what awaits screening."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from evidence.cli.app import (
    DataOpt,
    ProcessedOpt,
    ProtocolOpt,
    ReportsOpt,
    WaitOpt,
    WaitTimeoutOpt,
    app,
    fail,
    open_protocol,
    progress,
)
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS
from evidence.safepath import is_pmid, require_pmid

if TYPE_CHECKING:
    from evidence.inputs.protocol import Protocol
    from evidence.runs.workspace import Workspace

HELP = """Record screening decisions in DATA/screening.csv (the protocol's files.screening).

Each RECORD is a PMID (`12345678` or `pmid:12345678`) of a cached or queued PubMed record, or a
study of studies.csv (`study:<id>`). Decisions: include; exclude (title/abstract) and
exclude_report (after assessing the report), both with --reason from the protocol's
screening.exclusion_reasons; not_retrieved (report sought, not obtained). The file only grows: a
later decision for a record supersedes the earlier one, which stays on record.

Without RECORDs, lists the records awaiting screening. --import-studies records an include
decision, reviewer "imported: studies.csv", for every study that has no decision yet.
"""


def _record(text: str) -> str:
    """A bare RECORD is a PMID and must be exactly one; `kind:value` is checked with the rest."""
    if ":" not in text:
        return f"pmid:{require_pmid(text, f'RECORD {text!r}')}"
    return text


@app.command("screen", help=HELP)
def screen_cmd(
    records: Annotated[
        list[str] | None, typer.Argument(help="pmid:<PMID>, a PMID, or study:<study_id>.")
    ] = None,
    decision: Annotated[
        str | None,
        typer.Option("--decision", help="include, exclude, exclude_report or not_retrieved."),
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="Exclusion reason id.")] = "",
    reviewer: Annotated[str, typer.Option("--reviewer", help="Who decided.")] = "",
    on: Annotated[
        str | None, typer.Option("--date", help="Date of the decision (default: today).")
    ] = None,
    note: Annotated[str, typer.Option("--note", help="Free text kept with the decision.")] = "",
    import_studies: Annotated[
        bool,
        typer.Option("--import-studies", help="Include every study of studies.csv not decided."),
    ] = False,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = None,
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    from evidence.inputs import rawdata
    from evidence.inputs.screening import (
        Decision,
        ScreeningError,
        current,
        imported_inclusions,
        load_decisions,
        record_decisions,
    )
    from evidence.inputs.textfile import read_csv_rows
    from evidence.inputs.validate import data_file
    from evidence.runs.runlock import RunLocked
    from evidence.safepath import UnsafePath

    ws, proto = open_protocol(data, processed, reports, protocol)
    when = on or date.today().isoformat()
    try:
        if not proto.files.screening:
            raise ScreeningError(
                f"protocols/{proto.protocol_id}.yaml: no files.screening; name the screening "
                "file (e.g. screening.csv) in the protocol first"
            )
        rawdata.recover(ws.data)
        path = data_file(ws.data, proto, "screening")
        decided = set(current(load_decisions(path)))
        if import_studies:
            if records or decision:
                raise fail("--import-studies takes no RECORD and no --decision", 2)
            _, rows = read_csv_rows(data_file(ws.data, proto, "studies"))
            new = imported_inclusions([r["study_id"] for _, r in rows], decided, when)
        elif not records:
            _list_awaiting(ws, proto, decided)
            return
        else:
            if decision is None:
                raise fail("give --decision (include, exclude, exclude_report, not_retrieved)", 2)
            new = [Decision(_record(r), decision, reason, reviewer, when, note) for r in records]
        problems = record_decisions(
            ws.data, proto, new, wait=wait, on_wait=progress, wait_timeout=wait_timeout
        )
    except (ScreeningError, UnsafePath, RunLocked) as exc:
        raise fail(str(exc)) from None
    for i, fld, found, expected in problems:
        typer.echo(f"{new[i].record}: {fld}: found {found!r}; {expected}", err=True)
    if problems:
        raise fail(f"{len(problems)} problem(s): nothing was recorded")
    typer.echo(f"recorded {len(new)} decision(s) in {path}")


def _list_awaiting(ws: Workspace, proto: Protocol, decided: set[str]) -> None:
    """One line per record with no decision in force, duplicates merged as the flow merges them
    (a study and its PubMed record are one record): the study id where there is one."""
    from evidence.inputs.textfile import read_csv_rows
    from evidence.inputs.validate import data_file
    from evidence.pubmed.cache import read_records
    from evidence.pubmed.search import QUEUE_FILE, load_queue
    from evidence.report.prisma import awaiting_records, source_records

    _, studies = read_csv_rows(data_file(ws.data, proto, "studies"))
    _, extra = read_csv_rows(data_file(ws.data, proto, "pubmed_records"))
    pmid_of = {r["study_id"]: r["pmid"] for _, r in extra if r.get("pmid")}
    queue = [
        (q.pmid, q.indication, q.found)
        for q in load_queue(ws.pubmed_cache / QUEUE_FILE)
        if q.protocol == proto.protocol_id
    ]
    # the records the run's PRISMA flow counts: those the data tables and the queue name
    named = {r["pmid"] for _, r in (*studies, *extra) if is_pmid(r.get("pmid"))}
    cached = read_records(ws.pubmed_cache, named | {q[0] for q in queue})
    records = source_records(
        [
            (r["study_id"], "", r.get("pmid") or pmid_of.get(r["study_id"], ""), r.get("doi", ""))
            for _, r in studies
        ],
        [(r.pmid, r.doi, r.source, r.retrieved) for r in cached.values()],
        queue,
    )
    waiting = awaiting_records(records, decided)
    for k in waiting:
        typer.echo(k)
    typer.echo(f"{len(waiting)} record(s) await screening", err=True)
