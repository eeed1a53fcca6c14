"""Extraction commands: a prefilled template for a new record, and adding it once completed."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evidence.cli.app import (
    DataOpt,
    ProcessedOpt,
    ProtocolOpt,
    ReportsOpt,
    app,
    fail,
    protocol_or_fail,
    workspace,
)
from evidence.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS


@app.command("extract-template")
def extract_template_cmd(
    pmid: Annotated[str, typer.Option("--pmid", help="PMID of a cached PubMed record.")],
    indication: Annotated[
        str | None,
        typer.Option("--indication", help="Indication id (default: the queue's, if one)."),
    ] = None,
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Write DATA/extraction/PMID/{studies,outcomes}.csv prefilled from the PubMed record."""
    from evidence.extraction import EXTRACTION_DIR, make_template, write_template
    from evidence.io import read_csv_rows
    from evidence.pubmed.cache import read_record
    from evidence.pubmed.search import QUEUE_FILE, load_queue

    ws = workspace(data, processed, reports)
    proto = protocol_or_fail(ws, protocol)
    record = read_record(ws.pubmed_cache, pmid)
    if record is None:
        raise fail(
            f"PMID {pmid}: not in the cache {ws.pubmed_cache}; run `evidence fetch "
            f"--pmids {pmid} --live` or `evidence import-pubmed FILE` first"
        )
    if indication is None:
        queued = sorted(
            {
                r.indication
                for r in load_queue(ws.pubmed_cache / QUEUE_FILE)
                if r.pmid == pmid and r.protocol == proto.protocol_id
            }
        )
        if len(queued) != 1:
            raise fail(f"PMID {pmid}: give --indication (queued for: {queued or 'none'})")
        indication = queued[0]
    if indication not in {i.id for i in proto.indications}:
        raise fail(f"--indication {indication}: not an indication of {proto.protocol_id}")
    s_cols, s_rows = read_csv_rows(ws.data / proto.files.studies)
    o_cols, _ = read_csv_rows(ws.data / proto.files.outcomes)
    existing = {r["pmid"]: r["study_id"] for _, r in s_rows if r.get("pmid")}
    if pmid in existing:
        raise fail(f"PMID {pmid}: already in the data as study {existing[pmid]}")
    taken = {r["study_id"] for _, r in s_rows}
    template = make_template(record, proto, indication, s_cols, o_cols, taken)
    try:
        paths = write_template(ws.data / EXTRACTION_DIR / pmid, template, s_cols, o_cols)
    except FileExistsError as exc:
        raise fail(str(exc)) from None
    for path in paths:
        typer.echo(f"wrote {path}")
    typer.echo(f"Fill in the arm-level numbers, then run `evidence add-extraction --pmid {pmid}`.")


@app.command("add-extraction")
def add_extraction_cmd(
    pmid: Annotated[str, typer.Option("--pmid", help="PMID of a completed template.")],
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Validate a completed template with the data and append it to the tables."""
    from evidence.extraction import EXTRACTION_DIR, add_extraction

    ws = workspace(data, processed, reports)
    proto = protocol_or_fail(ws, protocol)
    folder = Path(ws.data) / EXTRACTION_DIR / pmid
    if not (folder / "studies.csv").is_file():
        raise fail(f"{folder}: no template; run `evidence extract-template --pmid {pmid}`")
    added, issues = add_extraction(ws.data, proto, folder)
    for issue in issues:
        typer.echo(str(issue), err=True)
    if issues:
        raise fail(f"{len(issues)} problem(s): nothing was added")
    typer.echo(f"added the study and {added} outcome row(s) of PMID {pmid} to {ws.data}")
