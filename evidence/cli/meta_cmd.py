"""`evidence meta`: standalone pooling of one CSV table, as metafor's escalc + rma would do it.

Heavy imports (numpy, scipy, statsmodels) happen inside the command so `evidence --help` stays
fast. Input problems are all collected in one pass and reported one per line as
`FILE:LINE: column 'NAME': problem`, with exit code 2.
"""

from __future__ import annotations

import csv
import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from evidence.cli.app import DataOpt, ProcessedOpt, ReportsOpt, app
from evidence.runs.workspace import DEFAULT_DATA, DEFAULT_PROCESSED, DEFAULT_REPORTS


class Measure(StrEnum):
    RR = "RR"
    OR = "OR"
    RD = "RD"
    MD = "MD"
    SMD = "SMD"
    PLO = "PLO"
    PR = "PR"
    GEN = "GEN"


class Method(StrEnum):
    FE = "FE"
    DL = "DL"
    PM = "PM"
    REML = "REML"
    MH = "MH"
    PETO = "PETO"


class Test(StrEnum):
    z = "z"
    knha = "knha"


class Format(StrEnum):
    json = "json"
    table = "table"


BINARY = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
CONTINUOUS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
COLUMNS: dict[str, tuple[str, ...]] = {
    "RR": BINARY,
    "OR": BINARY,
    "RD": BINARY,
    "MD": CONTINUOUS,
    "SMD": CONTINUOUS,
    "PLO": ("events", "n"),
    "PR": ("events", "n"),
    "GEN": ("yi", "vi"),
}
# Columns whose value must be a count of people (> 0) or of events (>= 0).
SIZES = ("n_treat", "n_ctrl", "n")
EVENTS = {"events_treat": "n_treat", "events_ctrl": "n_ctrl", "events": "n"}
NON_NEGATIVE = ("sd_treat", "sd_ctrl")


class InputError(Exception):
    """All problems found in the input, one message per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_table(path: Path, measure: str) -> tuple[list[str], dict[str, list[float]]]:
    """Read and validate the CSV; return study labels and the numeric columns needed."""
    name = str(path)
    if not path.is_file():
        raise InputError([f"{name}: file not found"])
    needed = COLUMNS[measure]
    problems: list[str] = []
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError([f"{name}:1: the file is empty (no header row)"])
            header = [h.strip() for h in header]
            missing = [c for c in needed if c not in header]
            for col in missing:
                problems.append(f"{name}:1: column '{col}': missing from the header")
            if missing:
                raise InputError(problems)
            pos = {c: header.index(c) for c in needed}
            study_pos = header.index("study") if "study" in header else None
            studies: list[str] = []
            values: dict[str, list[float]] = {c: [] for c in needed}
            line = reader.line_num + 1
            for row in reader:
                if not any(cell.strip() for cell in row):
                    line = reader.line_num + 1
                    continue
                parsed: dict[str, float] = {}
                for col, j in pos.items():
                    raw = row[j].strip() if j < len(row) else ""
                    try:
                        val = float(raw)
                    except ValueError:
                        shown = "empty" if raw == "" else f"not a number ({raw!r})"
                        problems.append(f"{name}:{line}: column '{col}': {shown}")
                        continue
                    if not math.isfinite(val):
                        problems.append(f"{name}:{line}: column '{col}': not finite ({raw!r})")
                        continue
                    parsed[col] = val
                problems.extend(_check_row(name, line, parsed))
                label = (
                    row[study_pos].strip() if study_pos is not None and study_pos < len(row) else ""
                )
                studies.append(label or str(len(studies) + 1))
                for col in needed:
                    values[col].append(parsed.get(col, math.nan))
                line = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise InputError([f"{name}: not UTF-8 text ({exc.reason})"]) from None
    except csv.Error as exc:
        raise InputError([f"{name}:{reader.line_num}: malformed CSV ({exc})"]) from None
    if not studies and not problems:
        problems.append(f"{name}:2: no data rows")
    if problems:
        raise InputError(problems)
    return studies, values


def _check_row(name: str, line: int, row: dict[str, float]) -> list[str]:
    """Range checks on one parsed row: sizes > 0, 0 <= events <= n, SDs >= 0, vi > 0."""
    out: list[str] = []
    for col in SIZES:
        if col in row and row[col] <= 0:
            out.append(f"{name}:{line}: column '{col}': must be > 0, got {row[col]:g}")
    for col, size in EVENTS.items():
        if col not in row:
            continue
        if row[col] < 0:
            out.append(f"{name}:{line}: column '{col}': must be >= 0, got {row[col]:g}")
        elif size in row and row[size] > 0 and row[col] > row[size]:
            out.append(
                f"{name}:{line}: column '{col}': {row[col]:g} events exceed {size} = {row[size]:g}"
            )
    for col in NON_NEGATIVE:
        if col in row and row[col] < 0:
            out.append(f"{name}:{line}: column '{col}': must be >= 0, got {row[col]:g}")
    if "vi" in row and row["vi"] <= 0:
        out.append(f"{name}:{line}: column 'vi': must be > 0, got {row['vi']:g}")
    return out


def _fmt(x: float | None, digits: int = 4) -> str:
    return "NA" if x is None else f"{x:.{digits}f}"


def render_table(result: Any) -> str:
    """A plain-text report: per-study estimates and weights, then the pooled summary."""
    width = max([5, *(len(s) for s in result.studies)])
    lines = [
        f"{result.measure} meta-analysis, method {result.method}, test {result.test}, "
        f"k = {result.k}",
        "",
        f"{'study':<{width}}  {'yi':>10}  {'vi':>10}  {'weight %':>8}",
    ]
    for s, y, v, w in zip(result.studies, result.yi, result.vi, result.weights, strict=True):
        lines.append(f"{s:<{width}}  {y:>10.4f}  {v:>10.4f}  {w:>8.2f}")
    pct = round(result.level * 100)
    stat = "t" if result.df is not None else "z"
    lines += [
        "",
        f"estimate  {_fmt(result.estimate)}  (SE {_fmt(result.se)})",
        f"{pct}% CI    [{_fmt(result.ci_low)}, {_fmt(result.ci_high)}]",
        f"{stat} = {_fmt(result.stat, 3)}"
        + (f" (df = {result.df:g})" if result.df is not None else "")
        + f", p = {result.pval:.4g}",
    ]
    if result.is_ratio:
        lines.append(
            f"{result.measure} {_fmt(result.exp_estimate)}  "
            f"[{_fmt(result.exp_ci_low)}, {_fmt(result.exp_ci_high)}]"
        )
    if result.pi_low is not None:
        lines.append(f"{pct}% PI    [{_fmt(result.pi_low)}, {_fmt(result.pi_high)}]")
    if result.q is not None:
        lines.append(f"Q = {result.q:.3f} (df = {result.q_df}), p = {result.q_pval:.4g}")
    if result.tau2 is not None and result.method != "FE":
        lines.append(f"tau^2 = {result.tau2:.4f}, tau = {result.tau:.4f}")
    if result.i2 is not None:
        lines.append(f"I^2 = {result.i2:.1f}%, H^2 = {result.h2:.3f}")
    lines.extend(f"note: {n}" for n in result.notes)
    return "\n".join(lines)


@app.command("meta")
def meta(
    input_path: Annotated[Path, typer.Option("--input", help="CSV table, one study per row.")],
    measure: Annotated[
        Measure, typer.Option("--measure", case_sensitive=False, help="Effect measure.")
    ],
    method: Annotated[
        Method,
        typer.Option("--method", case_sensitive=False, help="FE, DL, PM, REML (or MH for RR/OR)."),
    ] = Method.REML,
    test: Annotated[
        Test, typer.Option("--test", case_sensitive=False, help="z, or knha (Knapp-Hartung).")
    ] = Test.z,
    fmt: Annotated[Format, typer.Option("--format", case_sensitive=False)] = Format.json,
    level: Annotated[float, typer.Option("--level", help="Confidence level.")] = 0.95,
    pi_type: Annotated[
        str,
        typer.Option(
            "--pi",
            help="Prediction interval: default, riley, t, simple (metafor's pi.type) or handbook "
            "(t with k-2 df, none for k < 3).",
        ),
    ] = "default",
    also: Annotated[
        list[str] | None,
        typer.Option("--also", help="A further analysis to add (repeatable); see meta_extras."),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Pool the studies of one CSV file and print the result (metafor's escalc + rma).

    Columns: binary events_treat, n_treat, events_ctrl, n_ctrl; continuous mean_treat,
    sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl; single arm events, n; precomputed yi, vi;
    optional study. Output is on the analysis scale (log scale for RR and OR).
    """
    m = measure.value
    if method is Method.MH and m not in ("RR", "OR", "RD"):
        typer.echo(f"{input_path}: --method MH is available for RR, OR and RD only", err=True)
        raise typer.Exit(2)
    try:
        studies, cols = read_table(input_path, m)
    except InputError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None

    from evidence.cli import meta_extras
    from evidence.meta import ConvergenceError, escalc, rma

    options: dict[str, Any] = {"method": method.value, "test": test.value, "level": level}
    try:
        extras = {name: meta_extras.load(name) for name in also or ()}
        es = escalc(m, studies=studies, **cols)
        result = rma(es, method=method.value, test=test.value, level=level, pi_type=pi_type)
        added = {name: fn(es, result, options) for name, fn in extras.items()}
    except (ValueError, ConvergenceError) as exc:
        typer.echo(f"{input_path}: {exc}", err=True)
        raise typer.Exit(1) from None
    if fmt is Format.json:
        typer.echo(json.dumps({**result.to_dict(), **added}, indent=2))
    else:
        typer.echo(render_table(result))
        for name, value in added.items():
            typer.echo(f"\n{name}: {json.dumps(value, indent=2)}")
