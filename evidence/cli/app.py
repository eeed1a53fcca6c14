"""The typer application and the options every command shares."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS, Workspace

if TYPE_CHECKING:
    from evidence.inputs.protocol import Protocol

app = typer.Typer(
    name="evidence",
    help="Living evidence synthesis: fetch, tabulate, pool, rate and report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataOpt = Annotated[
    Path, typer.Option("--data", help="Input directory (protocols, tables, PubMed cache).")
]
ProcessedOpt = Annotated[
    Path, typer.Option("--processed", help="Directory for the tables a run writes.")
]
ReportsOpt = Annotated[Path, typer.Option("--reports", help="Directory for the reports.")]
ProtocolOpt = Annotated[
    str | None,
    typer.Option(
        "--protocol",
        help="Protocol name under DATA/protocols/, or a path (default: the only one there).",
    ),
]
# Every command that takes a lock (a protocol's outputs, or DATA for a change) offers these two.
WaitOpt = Annotated[
    bool, typer.Option("--wait/--no-wait", help="Wait for a run or a change already writing here.")
]
WaitTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--wait-timeout",
        metavar="SECONDS",
        help="With --wait, give up after this long (default: EVIDENCE_LOCK_TIMEOUT, else 3600).",
    ),
]


def settle_heap() -> None:
    """Before a synthesis in this process: load what a run uses, then settle the collector
    (`evidence.runs.heap`)."""
    from evidence import pipeline  # noqa: F401  (the heap worth freezing: what a run uses)
    from evidence.runs.heap import settle

    settle()


def workspace(
    data: Path = DEFAULT_DATA,
    processed: Path = DEFAULT_PROCESSED,
    reports: Path = DEFAULT_REPORTS,
) -> Workspace:
    return Workspace(data=data, processed=processed, reports=reports)


def protocol_or_fail(ws: Workspace, protocol: str | None) -> Protocol:
    """The protocol to work on, or a clean exit naming the file and what is wrong with it."""
    from evidence.inputs.protocol import ProtocolError, load_protocol

    try:
        return load_protocol(ws.protocol_path(protocol))
    except (ProtocolError, ValueError) as exc:
        raise fail(str(exc)) from None


def open_protocol(
    data: Path, processed: Path, reports: Path, protocol: str | None
) -> tuple[Workspace, Protocol]:
    """The workspace of the command's folders and its protocol, or a clean exit."""
    ws = workspace(data, processed, reports)
    return ws, protocol_or_fail(ws, protocol)


def progress(message: str) -> None:
    """Where a command's progress goes (a lock wait, ...): stderr, leaving stdout to results."""
    typer.echo(message, err=True)


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print an error to stderr and return the Exit to raise."""
    typer.echo(message, err=True)
    return typer.Exit(code)


def os_error_message(exc: OSError) -> str:
    """One line for a write the system refused (disk full, read-only folder, ...): what could
    not be written and why, never a traceback."""
    from evidence.runs.outputs import OutputsNotWritten, shown

    if isinstance(exc, OutputsNotWritten):
        return f"evidence: {exc}"
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"evidence: {shown(exc.filename)}: {reason}" if exc.filename else f"evidence: {reason}"


def run_app() -> None:
    """The application, with a refused write reported in one line (exit 1), whatever the
    command; the heap is settled for a quick exit as it ends (`heap.before_exit`)."""
    try:
        app()
    except OSError as exc:
        typer.echo(os_error_message(exc), err=True)
        raise SystemExit(1) from None
    finally:
        from evidence.runs.heap import before_exit

        before_exit()
