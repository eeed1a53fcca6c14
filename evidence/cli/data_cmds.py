"""Data commands: validate, run, import-evidence."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from evidence.cli.app import DataOpt, ProcessedOpt, ProtocolOpt, ReportsOpt, app, fail, workspace
from evidence.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS


@app.command("validate")
def validate_cmd(
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Check every input file against its schema and across files; exit 1 on any problem."""
    from evidence.protocol import ProtocolError, load_protocol
    from evidence.validate import validate_inputs

    ws = workspace(data, processed, reports)
    try:
        proto = load_protocol(ws.protocol_path(protocol))
    except (ProtocolError, ValueError) as exc:
        raise fail(str(exc)) from None
    _, issues = validate_inputs(ws.data, proto)
    for issue in issues:
        typer.echo(str(issue), err=True)
    if issues:
        raise fail(f"{len(issues)} problem(s) found in {ws.data}")
    typer.echo(f"{ws.data}: all inputs of protocol {proto.protocol_id} are valid")


@app.command("run")
def run_cmd(
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Synthesise a protocol offline: load and validate, tabulate, pool, rate, report."""
    from evidence.pipeline import synthesize
    from evidence.protocol import ProtocolError
    from evidence.snapshot import InvalidInputs

    ws = workspace(data, processed, reports)
    try:
        written = synthesize(ws, protocol)
    except (InvalidInputs, ProtocolError, ValueError) as exc:
        raise fail(str(exc)) from None
    for path in written:
        typer.echo(f"wrote {path}")


@app.command("import-evidence")
def import_evidence_cmd(
    source: Annotated[Path, typer.Argument(help="Directory of a curated evidence set.")],
    protocol: Annotated[
        str, typer.Option("--protocol", help="Protocol name the claims and citations belong to.")
    ],
    force: Annotated[bool, typer.Option("--force", help="Replace files that differ.")] = False,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Import a curated evidence set (tables + claims + citations) into the data directory."""
    from evidence.importer import ImportConflict, import_evidence_set, write_import_report

    if not source.is_dir():
        raise fail(f"{source}: not a directory")
    try:
        rep = import_evidence_set(source, data, protocol, overwrite=force)
    except (ImportConflict, FileNotFoundError) as exc:
        raise fail(str(exc)) from None
    path = write_import_report(rep, source, data)
    for src, dest, n_in, n_out, _ in rep.files:
        typer.echo(f"{src} -> {data / dest}: {n_in} rows in, {n_out} out")
    typer.echo(f"wrote {path}")
