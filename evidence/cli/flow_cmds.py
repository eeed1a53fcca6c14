"""`evidence serve`: the nightly deployment on a Prefect server."""

from __future__ import annotations

from typing import Annotated

import typer

from evidence.cli.app import DataOpt, ProcessedOpt, ReportsOpt, app, fail
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS


@app.command("serve")
def serve_cmd(
    cron: Annotated[str, typer.Option("--cron", help="When to run (cron syntax).")] = "0 2 * * *",
    timezone: Annotated[str, typer.Option("--timezone", help="Time zone of --cron.")] = "UTC",
    name: Annotated[str, typer.Option("--name", help="Deployment name.")] = "nightly",
    protocol: Annotated[
        list[str] | None,
        typer.Option("--protocol", help="Protocols to refresh (default: all under DATA)."),
    ] = None,
    live: Annotated[
        bool,
        typer.Option("--live/--offline", help="Search PubMed each night, or only resynthesise."),
    ] = True,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Serve the nightly refresh on a schedule (needs a Prefect server: see the README)."""
    from flows.serve import serve

    try:
        serve(cron, timezone, name, protocol, str(data), str(processed), str(reports), live)
    except RuntimeError as exc:
        raise fail(str(exc)) from None
