"""Data commands: validate, run, import-evidence."""

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
    os_error_message,
    progress,
    settle_heap,
    workspace,
)
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS


@app.command("validate")
def validate_cmd(
    protocol: ProtocolOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Check every input file against its schema and across files; exit 1 on any problem."""
    from evidence.inputs.rawdata import reading, recover
    from evidence.inputs.validate import validate_inputs

    ws, proto = open_protocol(data, processed, reports, protocol)
    recover(ws.data)  # finish or undo an interrupted change of the data first
    with reading(ws.data):
        _, issues = validate_inputs(ws.data, proto)
    for issue in issues:
        typer.echo(str(issue), err=True)
    if issues:
        raise fail(f"{len(issues)} problem(s) found in {ws.data}")
    typer.echo(f"{ws.data}: all inputs of protocol {proto.protocol_id} are valid")


RUNNERS = ("serial", "threads", "processes", "dask")


@app.command("run")
def run_cmd(
    protocol: Annotated[
        list[str] | None,
        typer.Option(
            "--protocol",
            help="Protocol name, file or directory of protocol files; repeat for several "
            "(default: every protocol under DATA/protocols/).",
        ),
    ] = None,
    no_orchestrator: Annotated[
        bool,
        typer.Option("--no-orchestrator", help="Call the steps directly, without Prefect."),
    ] = False,
    task_runner: Annotated[
        str,
        typer.Option(
            "--task-runner",
            help="How several protocols run: serial, threads, processes (warm worker "
            "processes, side by side) or dask (a local Dask cluster's warm workers).",
        ),
    ] = "threads",
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Threads, processes or Dask workers.")
    ] = 2,
    dask_address: Annotated[
        str | None,
        typer.Option(
            "--dask-address",
            help="Scheduler of an existing Dask cluster to run the protocols on; every "
            "worker must see DATA, PROCESSED and REPORTS at the same paths.",
        ),
    ] = None,
    wait: WaitOpt = False,
    wait_timeout: WaitTimeoutOpt = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Synthesise protocols offline: load and validate, tabulate, pool, rate, report."""
    from evidence import batch
    from evidence.runs.runlock import RunLocked, lock_timeout

    if task_runner not in RUNNERS:
        expected = ", ".join(RUNNERS[:-1]) + f" or {RUNNERS[-1]}"
        raise fail(f"--task-runner: expected {expected}, got {task_runner!r}", 2)
    ws = workspace(data, processed, reports)
    # Started before the protocols load, so that they boot meanwhile: Prefect's temporary
    # server, and the pool's workers (sized by the protocol files; a file that does not load
    # leaves a worker idle). Each is handed to the run, or ended below.
    early = None
    pool = None
    try:
        lock_timeout(wait_timeout)  # a bad --wait-timeout or EVIDENCE_LOCK_TIMEOUT, said first
        if not no_orchestrator:
            from flows.launch import launch

            early = launch()
        files = len(batch.protocol_files(ws, protocol))
        n = 1 if task_runner == "serial" and no_orchestrator else workers
        if files > 1 or dask_address:
            from evidence.runs.pools import pool_for

            pool = pool_for(task_runner, n, files, dask_address)
            if pool is not None:  # its workers import the synthesis and settle their collectors
                pool.start()
        jobs, failed = batch.plan_all(ws, protocol)
        if no_orchestrator and jobs:
            if dask_address:  # a remote worker's working directory is not ours
                jobs = batch.absolute(jobs)
            if pool is not None:
                outcomes = batch.run_each(jobs, wait=wait, wait_timeout=wait_timeout, pool=pool)
            else:
                settle_heap()  # the synthesis runs here
                if len(jobs) == 1 and not failed:  # one protocol: its error raised, as always
                    written = batch.run_job(
                        jobs[0], wait=wait, on_wait=progress, wait_timeout=wait_timeout
                    )
                    outcomes = [batch.Outcome(jobs[0].protocol, written)]
                else:
                    outcomes = batch.run_each(
                        jobs, workers=n, wait=wait, on_wait=progress, wait_timeout=wait_timeout
                    )
        elif jobs:
            from flows.run import run_orchestrated

            given, early = early, None  # the run adopts or ends both
            handed, pool = pool, None
            try:
                results = run_orchestrated(
                    jobs,
                    task_runner,
                    workers,
                    dask_address,
                    wait,
                    wait_timeout=wait_timeout,
                    early=given,
                    pool=handed,
                )
            except batch.ProtocolsFailed as exc:  # raised once every other protocol has run
                outcomes = exc.outcomes
            else:
                pairs = zip(jobs, results, strict=True)
                outcomes = [batch.Outcome(j.protocol, written) for j, written in pairs]
        else:
            outcomes = []
    except (ValueError, RunLocked) as exc:  # the inputs' and protocols' errors are ValueErrors
        raise fail(str(exc)) from None
    except OSError as exc:  # disk full, read-only folder: one line, the previous outputs intact
        raise fail(os_error_message(exc)) from None
    finally:
        if early is not None:  # no protocol to run, or they could not be loaded
            early.discard()
        if pool is not None:
            pool.close()
    for outcome in outcomes:
        for path in outcome.written:
            typer.echo(f"wrote {path}")
    failed += [o for o in outcomes if not o.ok]
    total = len(failed) + sum(o.ok for o in outcomes)
    if total == 1 and failed:  # one protocol: its error alone, as it always was
        raise fail(failed[0].error)
    for outcome in failed:
        typer.echo(f"{outcome.name}: {outcome.error}", err=True)
    if failed:
        raise fail(batch.failure_summary(failed, total))


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
    from evidence.inputs.importer import ImportConflict, import_evidence_set, write_import_report
    from evidence.safepath import UnsafePath

    if not source.is_dir():
        raise fail(f"{source}: not a directory")
    try:
        rep = import_evidence_set(source, data, protocol, overwrite=force)
    except (ImportConflict, FileNotFoundError, UnsafePath) as exc:
        raise fail(str(exc)) from None
    path = write_import_report(rep, source, data)
    for src, dest, n_in, n_out, _ in rep.files:
        typer.echo(f"{src} -> {data / dest}: {n_in} rows in, {n_out} out")
    typer.echo(f"wrote {path}")


@app.command("diff")
def diff_cmd(
    run_a: Annotated[str, typer.Argument(help="The earlier run id (archived or in a history).")],
    run_b: Annotated[str, typer.Argument(help="The later run id.")],
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Smallest change that counts as a move.")
    ] = 0.05,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """What changed between two runs: studies, pooled estimates on their natural scale, and
    evidence levels and certainty with the reasons and GRADE domains that moved."""
    from evidence.runs.history import compare
    from evidence.runs.lookup import find_run
    from evidence.safepath import UnsafePath

    manifests = []
    for run in (run_a, run_b):
        try:
            manifests.append(find_run(processed, run))
        except (UnsafePath, LookupError, ValueError) as exc:
            raise fail(str(exc).strip("'\""), code=2) from None
    typer.echo(compare(manifests[0], manifests[1], tolerance).to_markdown(), nl=False)
