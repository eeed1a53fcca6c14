"""`evidence meta`: standalone pooling of one CSV table, as metafor's escalc + rma would do it.

Heavy imports (numpy, scipy, statsmodels) happen inside the command so `evidence --help` stays
fast. Input problems are all collected in one pass and reported one per line as
`FILE:LINE: column 'NAME': problem`, with exit code 2. Output is JSON-safe: a number that is
not finite (e.g. the statistic of identical effects under Knapp-Hartung) is printed as null and
named in `notes`.
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
    IRR = "IRR"
    IRD = "IRD"
    ROM = "ROM"
    SMDH = "SMDH"
    SMCC = "SMCC"
    SMCR = "SMCR"
    PFT = "PFT"
    COR = "COR"
    ZCOR = "ZCOR"


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
    adhoc = "adhoc"


class ZeroRule(StrEnum):
    only0 = "only0"
    all = "all"
    if0all = "if0all"
    none = "none"


class Format(StrEnum):
    json = "json"
    table = "table"


BINARY = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
CONTINUOUS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")
INCIDENCE = ("events_treat", "time_treat", "events_ctrl", "time_ctrl")
PREPOST = ("mean_pre", "sd_pre", "mean_post", "sd_post", "n", "r_pre_post")
COLUMNS: dict[str, tuple[str, ...]] = {
    "RR": BINARY,
    "OR": BINARY,
    "RD": BINARY,
    "MD": CONTINUOUS,
    "SMD": CONTINUOUS,
    "PLO": ("events", "n"),
    "PR": ("events", "n"),
    "GEN": ("yi", "vi"),
    "IRR": INCIDENCE,
    "IRD": INCIDENCE,
    "ROM": CONTINUOUS,
    "SMDH": CONTINUOUS,
    "SMCC": PREPOST,
    "SMCR": tuple(c for c in PREPOST if c != "sd_post"),  # standardised by sd_pre alone
    "PFT": ("events", "n"),
    "COR": ("r", "n"),
    "ZCOR": ("r", "n"),
}
# Columns whose value must be a count of people (> 0) or of events (>= 0).
SIZES = ("n_treat", "n_ctrl", "n")
EVENTS = {"events_treat": "n_treat", "events_ctrl": "n_ctrl", "events": "n"}
NON_NEGATIVE = ("sd_treat", "sd_ctrl", "sd_pre", "sd_post")
POSITIVE = ("time_treat", "time_ctrl")
CORRELATIONS = ("r", "r_pre_post")
# The engine's bounds (evidence.meta.effect_sizes MAX_ABS_EFFECT, MIN_VARIANCE, MAX_VARIANCE),
# repeated here so this module imports no numeric library: beyond them pooling overflows.
MAX_ABS_VALUE = 1e50
MIN_VARIANCE = 1e-300
MAX_VARIANCE = 1e100
# metafor's default REML stopping rule (rma's control threshold and maxiter).
METAFOR_REML_THRESHOLD = 1e-5
METAFOR_REML_MAXITER = 100


class InputError(Exception):
    """All problems found in the input, one message per line."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_table(path: Path, measure: str) -> tuple[list[str], dict[str, list[float]]]:
    """Read and validate the CSV; return study labels and the numeric columns needed."""
    studies, _, values = read_rows(path, measure)
    return studies, values


def read_rows(path: Path, measure: str) -> tuple[list[str], list[int], dict[str, list[float]]]:
    """Read and validate the CSV; return study labels, their line numbers and the columns."""
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
            lines: list[int] = []
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
                    limit = MAX_VARIANCE if col == "vi" else MAX_ABS_VALUE
                    if abs(val) > limit:
                        problems.append(
                            f"{name}:{line}: column '{col}': {raw} is beyond {limit:g} in "
                            "magnitude, where pooling overflows"
                        )
                        continue
                    parsed[col] = val
                problems.extend(_check_row(name, line, parsed, measure))
                lines.append(line)
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
    return studies, lines, values


def _check_row(name: str, line: int, row: dict[str, float], measure: str = "") -> list[str]:
    """Range checks on one parsed row: sizes > 0, 0 <= events <= n, SDs >= 0, person-time > 0,
    correlations in [-1, 1], vi > 0; ROM needs means of one sign."""
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
    for col in POSITIVE:
        if col in row and row[col] <= 0:
            out.append(f"{name}:{line}: column '{col}': must be > 0, got {row[col]:g}")
    for col in CORRELATIONS:
        if col in row and not -1 <= row[col] <= 1:
            out.append(f"{name}:{line}: column '{col}': must be in [-1, 1], got {row[col]:g}")
    if "vi" in row and row["vi"] <= 0:
        out.append(f"{name}:{line}: column 'vi': must be > 0, got {row['vi']:g}")
    elif "vi" in row and row["vi"] < MIN_VARIANCE:
        out.append(
            f"{name}:{line}: column 'vi': {row['vi']:g} is below {MIN_VARIANCE:g}, "
            "where weights overflow"
        )
    if measure == "ROM":
        for col in ("mean_treat", "mean_ctrl"):
            if row.get(col) == 0:
                out.append(f"{name}:{line}: column '{col}': must not be 0 for ROM (a log ratio)")
        m1, m2 = row.get("mean_treat"), row.get("mean_ctrl")
        if m1 and m2 and (m1 > 0) != (m2 > 0):
            out.append(
                f"{name}:{line}: column 'mean_ctrl': ROM needs both means of one sign, "
                f"got {m1:g} and {m2:g}"
            )
    if measure == "ZCOR" and "r" in row and abs(row["r"]) == 1:
        out.append(f"{name}:{line}: column 'r': must be strictly between -1 and 1 for ZCOR")
    if measure == "ZCOR" and "n" in row and 0 < row["n"] <= 3:
        out.append(f"{name}:{line}: column 'n': must be > 3 for ZCOR, got {row['n']:g}")
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


COLUMNS_HELP = """Columns (one study per row, optional 'study' label):
RR, OR, RD: events_treat, n_treat, events_ctrl, n_ctrl.
MD, SMD, SMDH, ROM: mean_treat, sd_treat, n_treat, mean_ctrl, sd_ctrl, n_ctrl.
IRR, IRD: events_treat, time_treat, events_ctrl, time_ctrl (person-time per arm).
SMCC, SMCR (one group measured twice; effect = post - pre):
mean_pre, sd_pre, mean_post, sd_post (SMCC only), n, r_pre_post (pre/post correlation).
PLO, PR, PFT: events, n.  COR, ZCOR: r, n.  GEN: yi, vi."""


def _control(
    reml_threshold: float | None, reml_maxiter: int | None, metafor_defaults: bool
) -> dict[str, Any]:
    """Tau2Control fields from the options; metafor's defaults conflict with explicit values."""
    if metafor_defaults:
        if reml_threshold is not None or reml_maxiter is not None:
            raise InputError(
                ["--metafor-defaults sets the REML stopping rule: drop --reml-threshold/maxiter"]
            )
        return {"reml_threshold": METAFOR_REML_THRESHOLD, "reml_maxiter": METAFOR_REML_MAXITER}
    out: dict[str, Any] = {}
    if reml_threshold is not None:
        if not reml_threshold > 0:
            raise InputError([f"--reml-threshold must be > 0, got {reml_threshold:g}"])
        out["reml_threshold"] = reml_threshold
    if reml_maxiter is not None:
        if reml_maxiter < 1:
            raise InputError([f"--reml-maxiter must be >= 1, got {reml_maxiter}"])
        out["reml_maxiter"] = reml_maxiter
    return out


def _pft_proportions(result: Any, sizes: list[float]) -> dict[str, Any]:
    """A PFT pool as proportions, back-transformed with the harmonic mean of the sizes."""
    from evidence.meta.effect_sizes import ipft_hm

    values = [result.estimate, result.ci_low, result.ci_high]
    back = ipft_hm(values, sizes)
    return {
        "proportion_estimate": float(back[0]),
        "proportion_ci_low": float(back[1]),
        "proportion_ci_high": float(back[2]),
    }


@app.command(
    "meta", help=f"Pool the studies of one CSV file (metafor's escalc + rma).\n\n{COLUMNS_HELP}"
)
def meta(
    input_path: Annotated[Path, typer.Option("--input", help="CSV table, one study per row.")],
    measure: Annotated[
        Measure, typer.Option("--measure", case_sensitive=False, help="Effect measure.")
    ],
    method: Annotated[
        Method,
        typer.Option(
            "--method", case_sensitive=False, help="FE, DL, PM, REML; MH (RR, OR, RD) or PETO (OR)."
        ),
    ] = Method.REML,
    test: Annotated[
        Test,
        typer.Option(
            "--test",
            case_sensitive=False,
            help="z, knha (Knapp-Hartung) or adhoc (Knapp-Hartung never narrower than z).",
        ),
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
    add: Annotated[
        float | None,
        typer.Option("--add", help="Added to zero cells (escalc's add; default 0.5, 0 for PFT)."),
    ] = None,
    to: Annotated[
        ZeroRule,
        typer.Option(
            "--to",
            case_sensitive=False,
            help="Which studies get --add: only0 (those with a zero), all, if0all, none.",
        ),
    ] = ZeroRule.only0,
    drop00: Annotated[
        bool,
        typer.Option(
            "--drop00",
            help="Leave out studies with no events (or only events) in "
            "both arms (RR, OR, RD, IRR, IRD).",
        ),
    ] = False,
    reml_threshold: Annotated[
        float | None,
        typer.Option("--reml-threshold", help="REML stopping rule: change in tau^2 (1e-10)."),
    ] = None,
    reml_maxiter: Annotated[
        int | None, typer.Option("--reml-maxiter", help="REML Fisher scoring iterations (100).")
    ] = None,
    metafor_defaults: Annotated[
        bool,
        typer.Option(
            "--metafor-defaults",
            help="REML with metafor's default stopping rule (threshold 1e-5, 100 iterations).",
        ),
    ] = False,
    also: Annotated[
        list[str] | None,
        typer.Option("--also", help="A further analysis to add (repeatable); see meta_extras."),
    ] = None,
    data: DataOpt = DEFAULT_DATA,
    processed: ProcessedOpt = DEFAULT_PROCESSED,
    reports: ReportsOpt = DEFAULT_REPORTS,
) -> None:
    """Pool the studies of one CSV file and print the result (metafor's escalc + rma).

    Output is on the analysis scale (log scale for RR, OR, IRR and ROM, which also get exp_*
    values; PFT also gets the pool back-transformed to proportions).
    """
    m = measure.value
    if method is Method.MH and m not in ("RR", "OR", "RD"):
        typer.echo(f"{input_path}: --method MH is available for RR, OR and RD only", err=True)
        raise typer.Exit(2)
    try:
        control_fields = _control(reml_threshold, reml_maxiter, metafor_defaults)
        studies, lines, cols = read_rows(input_path, m)
    except InputError as exc:
        for problem in exc.problems:
            typer.echo(problem, err=True)
        raise typer.Exit(2) from None

    from dataclasses import replace

    from evidence.cli import meta_extras
    from evidence.meta import ConvergenceError, Tau2Control, escalc, rma
    from evidence.meta._util import json_safe, null_notes
    from evidence.meta.effect_sizes import ExtremeValueError

    options: dict[str, Any] = {"method": method.value, "test": test.value, "level": level}
    label_of = {str(line): label for line, label in zip(lines, studies, strict=True)}
    try:
        extras = {name: meta_extras.load(name) for name in also or ()}
        # studies are keyed by line number first, so an error can name the line
        es = escalc(m, studies=list(label_of), add=add, to=to.value, drop00=drop00, **cols)
    except ExtremeValueError as exc:
        typer.echo(
            f"{input_path}:{exc.study}: computed {exc.field} = {exc.value:g}: {exc.why}",
            err=True,
        )
        raise typer.Exit(2) from None
    except ValueError as exc:
        typer.echo(f"{input_path}: {exc}", err=True)
        raise typer.Exit(1) from None
    es = replace(
        es,
        studies=tuple(label_of[s] for s in es.studies),
        dropped=tuple(label_of[s] for s in es.dropped),
    )
    try:
        control = Tau2Control(**control_fields)
        result = rma(
            es,
            method=method.value,
            test=test.value,
            level=level,
            control=control,
            pi_type=pi_type,
        )
        added = {name: fn(es, result, options) for name, fn in extras.items()}
    except (ValueError, ConvergenceError) as exc:
        typer.echo(f"{input_path}: {exc}", err=True)
        raise typer.Exit(1) from None
    out = result.to_dict()
    if m == "PFT":
        out.update(_pft_proportions(result, cols["n"]))
    if es.dropped:
        out["dropped_studies"] = list(es.dropped)
    out, replaced = json_safe({**out, **added})
    if replaced:
        out["notes"] = [*out.get("notes", []), *null_notes(replaced)]
    if fmt is Format.json:
        typer.echo(json.dumps(out, indent=2, allow_nan=False))
    else:
        typer.echo(render_table(result))
        for name in added:
            typer.echo(f"\n{name}: {json.dumps(out[name], indent=2, allow_nan=False)}")
