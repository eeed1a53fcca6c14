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
    WaitOpt,
    WaitTimeoutOpt,
    app,
    fail,
    open_protocol,
    progress,
)
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS


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
    """Write DATA/extraction/PMID/{studies,outcomes}.csv prefilled from the PubMed record, and
    risk_of_bias.csv where the protocol keeps risk-of-bias judgements."""
    from evidence.inputs import rawdata
    from evidence.inputs.textfile import read_csv_rows
    from evidence.pubmed.cache import read_record
    from evidence.pubmed.extraction import make_template, write_template
    from evidence.pubmed.search import QUEUE_FILE, load_queue

    folder = _folder(data, pmid)
    pmid = folder.name
    ws, proto = open_protocol(data, processed, reports, protocol)
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
    rawdata.recover(ws.data)
    s_cols, s_rows = read_csv_rows(ws.data / proto.files.studies)
    o_cols, _ = read_csv_rows(ws.data / proto.files.outcomes)
    r_cols = None
    if proto.files.risk_of_bias:
        r_cols, _ = read_csv_rows(ws.data / proto.files.risk_of_bias)
    existing = {r["pmid"]: r["study_id"] for _, r in s_rows if r.get("pmid")}
    if pmid in existing:
        raise fail(f"PMID {pmid}: already in the data as study {existing[pmid]}")
    taken = {r["study_id"] for _, r in s_rows}
    template = make_template(record, proto, indication, s_cols, o_cols, taken, r_cols)
    try:
        paths = write_template(folder, template, s_cols, o_cols, r_cols)
    except FileExistsError as exc:
        raise fail(str(exc)) from None
    for path in paths:
        typer.echo(f"wrote {path}")
    rob = (
        " and, for a randomised trial, its risk of bias (RoB 2 domains, overall, signals)"
        if r_cols is not None
        else ""
    )
    typer.echo(
        f"Fill in the arm-level numbers{rob}, then run `evidence add-extraction --pmid {pmid}`."
    )


@app.command("add-extraction")
def add_extraction_cmd(
    pmid: Annotated[str, typer.Option("--pmid", help="PMID of a completed template.")],
    protocol: ProtocolOpt = None,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Validate a completed template with the data and append it to the tables."""
    from evidence.pubmed.extraction import add_extraction, completed_rob_rows
    from evidence.runs.runlock import RunLocked
    from evidence.safepath import UnsafePath

    folder = _folder(data, pmid)
    pmid = folder.name
    ws, proto = open_protocol(data, processed, reports, protocol)
    if not (folder / "studies.csv").is_file():
        raise fail(f"{folder}: no template; run `evidence extract-template --pmid {pmid}`")
    try:
        added, issues = add_extraction(
            ws.data, proto, folder, wait=wait, on_wait=progress, wait_timeout=wait_timeout
        )
    except RunLocked as exc:
        raise fail(str(exc)) from None
    except UnsafePath as exc:
        raise fail(str(exc), code=2) from None
    for issue in issues:
        typer.echo(str(issue), err=True)
    if issues:
        raise fail(f"{len(issues)} problem(s): nothing was added")
    judged = bool(proto.files.risk_of_bias and completed_rob_rows(folder))
    rob = ", its risk-of-bias judgements" if judged else ""
    typer.echo(f"added the study{rob} and {added} outcome row(s) of PMID {pmid} to {ws.data}")
    if proto.files.risk_of_bias and not judged:
        typer.echo(
            "no risk of bias was recorded: pools with this study count it as the rule set's "
            "policy for trials without information says"
        )
    if not added:
        typer.echo(
            "no outcome row of the template has a number: the study counts in the evidence "
            "tables but in no pooled analysis"
        )


def _folder(data: Path, pmid: str) -> Path:
    """The template folder of --pmid; a usage error for anything but a PMID of digits."""
    from evidence.pubmed.extraction import template_folder
    from evidence.safepath import UnsafePath

    try:
        return template_folder(data, pmid)
    except UnsafePath as exc:
        raise fail(str(exc), code=2) from None
