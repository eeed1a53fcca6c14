"""`evidence report`: the protocol's published report, and with --pdf, that report as PDF."""

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
    progress,
    workspace,
)
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS

PDF_NAME = "report.pdf"


@app.command("report")
def report_cmd(
    pdf: Annotated[
        bool,
        typer.Option(
            "--pdf",
            help="Print REPORTS/<protocol>/index.html to REPORTS/<protocol>/report.pdf with "
            "headless Chromium.",
        ),
    ] = False,
    chromium: Annotated[
        Path | None,
        typer.Option(
            "--chromium", help="Chromium executable (default: $EVIDENCE_CHROMIUM, then PATH)."
        ),
    ] = None,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = None,
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Show where the protocol's report is; with --pdf, print it to PDF."""
    from evidence.pipeline import protocol_id
    from evidence.report.pdf import PdfError, find_chromium, print_pdf
    from evidence.runs.runlock import RunLocked, protocol_lock
    from evidence.safepath import UnsafePath, inside

    ws = workspace(data, processed, reports)
    try:
        pid = protocol_id(ws, protocol)
        folder = inside(ws.reports, pid)
    except (UnsafePath, ValueError) as exc:
        raise fail(str(exc)) from None
    html = folder / "index.html"
    if not html.is_file():
        raise fail(f"{html}: no report yet; run `evidence run` first")
    if not pdf:
        typer.echo(str(html))
        return
    try:
        exe = find_chromium(chromium)
        # under the protocol's run lock: a run cannot swap the report out mid-print
        with protocol_lock(ws.processed, pid, wait=wait, timeout=wait_timeout, on_wait=progress):
            reproducible = print_pdf(html, folder / PDF_NAME, exe)
    except (PdfError, RunLocked) as exc:
        raise fail(str(exc)) from None
    typer.echo(f"wrote {folder / PDF_NAME}")
    if not reproducible:
        typer.echo(f"{html} names no run date: the PDF keeps Chromium's creation date", err=True)
