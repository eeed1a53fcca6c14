"""Bad input of every kind tried on a copy of data/raw: `validate` and `run` each end in a clean
run (exit 0) or in one clean error (exit 1) naming the file, and the line or field where that
means something, never a traceback; they agree (what `validate` accepts, `run` runs); nothing
hangs (an alarm guards each case; the alias bomb runs in a subprocess with a timeout)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app

RAW = Path(__file__).resolve().parents[2] / "data" / "raw"
PROTOCOL = "protocols/baclofen.yaml"
RULES = "rules/evidence_levels_v3.yaml"
HANG_GUARD_SECONDS = 120  # a guard against hangs, far above any case's time; not a timing test
runner = CliRunner()


@contextmanager
def alarm(seconds: int) -> Iterator[None]:
    def hung(*_: object) -> None:
        raise TimeoutError(f"no answer within {seconds} s: a hang")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def edit(rel: str, old: str | bytes, new: str | bytes, count: int = 1) -> Callable[[Path], None]:
    """Replace `old` by `new` in DATA/rel (it must be there)."""

    def apply(data: Path) -> None:
        path = data / rel
        raw = path.read_bytes()
        o = old.encode() if isinstance(old, str) else old
        n = new.encode() if isinstance(new, str) else new
        assert o in raw, f"{old!r} not in {rel}"
        path.write_bytes(raw.replace(o, n, count))

    return apply


def write(rel: str, content: bytes) -> Callable[[Path], None]:
    def apply(data: Path) -> None:
        (data / rel).write_bytes(content)

    return apply


def header_only(rel: str) -> Callable[[Path], None]:
    def apply(data: Path) -> None:
        path = data / rel
        path.write_bytes(path.read_bytes().split(b"\n", 1)[0] + b"\n")

    return apply


def crlf(rel: str) -> Callable[[Path], None]:
    def apply(data: Path) -> None:
        path = data / rel
        path.write_bytes(path.read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))

    return apply


def cell(rel: str, column: str, value: str) -> Callable[[Path], None]:
    """Set `column` of the first data row whose cell is not empty to `value` (the CSV rewritten)."""

    def apply(data: Path) -> None:
        import csv
        import io

        path = data / rel
        rows = list(csv.reader(io.StringIO(path.read_text("utf-8"), newline="")))
        col = rows[0].index(column)
        row = next(r for r in rows[1:] if r[col].strip())
        row[col] = value
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows(rows)
        path.write_text(buf.getvalue(), "utf-8")

    return apply


def alias_bomb(rel: str) -> Callable[[Path], None]:
    bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]\n" for i in range(1, 10)
    )

    def apply(data: Path) -> None:
        path = data / rel
        path.write_text(bomb + path.read_text("utf-8"), "utf-8")

    return apply


@dataclass(frozen=True)
class Kind:
    name: str
    mutate: Callable[[Path], None]
    # None: a clean run; otherwise every string here appears in validate's and run's message
    names: tuple[str, ...] | None


def bad(name: str, mutate: Callable[[Path], None], *names: str) -> Kind:
    return Kind(name, mutate, names)


TABLES = (
    "studies.csv",
    "outcomes.csv",
    "study_effects.csv",
    "published_syntheses.csv",
    "dosing_facts.csv",
    "pubmed_records.csv",
    "missing.csv",
    "risk_of_bias.csv",
    "source_hosts.csv",
    "screening.csv",
)
# Header-only tables a run can do without (the rest are refused by validate: see NEEDS_ROWS).
EMPTY_OK = {
    "published_syntheses.csv",
    "dosing_facts.csv",
    "missing.csv",
    "risk_of_bias.csv",
    "source_hosts.csv",
    "screening.csv",
}

# Accepted oddities: validate passes each; a run is made once with all of them together (a
# run takes seconds; `test_accepted_kinds_run_together`).
ACCEPTED: list[Kind] = [
    Kind("CRLF line ends", crlf("studies.csv"), None),
    Kind("UTF-8 BOM", edit("outcomes.csv", b"row_id", b"\xef\xbb\xbfrow_id"), None),
    Kind("UTF-8 BOM in YAML", edit(PROTOCOL, b"# Review", b"\xef\xbb\xbf# Review"), None),
    *(Kind(f"header-only {t}", header_only(t), None) for t in sorted(EMPTY_OK)),
]

KINDS: list[Kind] = [
    bad("empty file", write("studies.csv", b""), "studies.csv"),
    bad("only a BOM", write("outcomes.csv", b"\xef\xbb\xbf"), "outcomes.csv"),
    bad("NUL byte", edit("studies.csv", b",", b",\x00"), "studies.csv:1:", "NUL"),
    bad(
        "Latin-1 byte in a table",
        edit("outcomes.csv", b"arm", b"arm\xe9"),
        "outcomes.csv:1:",
        "UTF-8",
    ),
    bad(
        "Latin-1 protocol", edit(PROTOCOL, b"# Review", b"# R\xe9view"), "baclofen.yaml:1:", "UTF-8"
    ),
    bad(
        "Latin-1 rule set",
        edit(RULES, b"# Evidence", b"# \xc9vidence"),
        "evidence_levels_v3.yaml",
        "UTF-8",
    ),
    bad(
        "Latin-1 claims",
        edit("claims/baclofen.yaml", b"\n", b"\n# \xe9\n"),
        "claims/baclofen.yaml",
        "UTF-8",
    ),
    bad(
        "huge line", cell("missing.csv", "where_looked_note", "x" * 200_000), "missing.csv", "field"
    ),
    *(bad(f"header-only {t}", header_only(t), t, "no rows") for t in TABLES if t not in EMPTY_OK),
    bad("30-digit n", cell("outcomes.csv", "n", "1" * 30), "outcomes.csv", "n:"),
    bad("1_000 as n", cell("outcomes.csv", "n", "1_000"), "outcomes.csv", "n:"),
    bad("Arabic-Indic digits", cell("outcomes.csv", "n", "١٢"), "outcomes.csv", "n:"),
    bad("thousands separator", cell("studies.csv", "n_total", "1,000"), "studies.csv", "n_total"),
    bad("1e400 as a mean", cell("outcomes.csv", "mean", "1e400"), "outcomes.csv", "mean"),
    bad(
        "nan as an estimate",
        cell("study_effects.csv", "estimate", "nan"),
        "study_effects.csv",
        "estimate",
    ),
    bad("NaN cut point", edit(PROTOCOL, "max: 60}", "max: .nan}"), "baclofen.yaml", ".nan"),
    bad("infinite cut point", edit(PROTOCOL, "max: 60}", "max: .inf}"), "baclofen.yaml", ".inf"),
    bad(
        "1.0e400 cut point", edit(PROTOCOL, "max: 60}", "max: 1.0e400}"), "baclofen.yaml", "1.0e400"
    ),
    bad(
        "negative cut point",
        edit(PROTOCOL, "max: 60}", "max: -60}"),
        "baclofen.yaml",
        "tiers.0.max",
    ),
    bad("1_000 cut point", edit(PROTOCOL, "max: 100}", "max: 1_000}"), "baclofen.yaml", "1_000"),
    bad(
        "duplicate tier labels",
        edit(PROTOCOL, "{label: moderate, max: 100}", "{label: low, max: 100}"),
        "baclofen.yaml",
        "tier labels repeat",
    ),
    bad(
        "duplicate YAML key",
        edit(PROTOCOL, 'version: "1.2.0"', 'version: "1.2.0"\nversion: "1.2.1"'),
        "baclofen.yaml:4:1:",
        "again",
    ),
    bad(
        "anchor and alias",
        edit(PROTOCOL, "topics: [safety", "x: &t 1\ny: *t\ntopics: [safety"),
        "baclofen.yaml",
        "field x",
    ),
    bad(
        "wrong type (text for a number)",
        edit(PROTOCOL, "min_duration_weeks: 12", 'min_duration_weeks: "12"'),
        "baclofen.yaml",
        "min_duration_weeks",
    ),
    bad(
        "wrong type (list for text)",
        edit(PROTOCOL, "title: ", "title: [a]\nx_title: "),
        "baclofen.yaml",
        "title",
    ),
    bad("missing key", edit(PROTOCOL, "\ntitle: ", "\nx_title: "), "baclofen.yaml", "title"),
    bad("not a mapping", write(PROTOCOL, b"- just\n- a list\n"), "baclofen.yaml"),
    bad(
        "unknown design",
        edit(PROTOCOL, "designs: [rct, crossover_rct]}", "designs: [rct, cluster_rct]}"),
        "baclofen.yaml",
        "cluster_rct",
    ),
    bad(
        "unknown route",
        edit(PROTOCOL, "routes: [oral]", "routes: [orale]"),
        "baclofen.yaml",
        "orale",
    ),
    bad(
        "file outside the data folder",
        edit(PROTOCOL, "studies: studies.csv", "studies: ../../etc/passwd"),
        "baclofen.yaml",
        "files.studies",
    ),
    bad(
        "absolute file path",
        edit(PROTOCOL, "missing: missing.csv", "missing: /etc/passwd"),
        "baclofen.yaml",
        "files.missing",
    ),
    bad(
        "missing rule-set file",
        edit(PROTOCOL, "evidence_levels_v3.yaml", "evidence_levels_v9.yaml"),
        "evidence_levels_v9.yaml",
        "missing",
    ),
    bad(
        "rule set outside the data folder",
        edit(PROTOCOL, "rule_set: rules/", "rule_set: ../"),
        "baclofen.yaml",
        "rule_set",
    ),
    bad(
        "rule set version differs",
        edit(RULES, 'version: "3.0.0"', 'version: "3.0.1"'),
        "evidence_levels_v3.yaml",
        "rule_set_version",
    ),
    bad(
        "unordered frequency bands",
        edit(RULES, "{label: common, min: 1}", "{label: common, min: 20}"),
        "evidence_levels_v3.yaml",
        "frequency_bands[1]",
    ),
    bad(
        "duplicate band labels",
        edit(RULES, "{label: rare, min: 0.01}", "{label: common, min: 0.01}"),
        "evidence_levels_v3.yaml",
        "frequency_bands[3]",
    ),
    bad(
        "NaN band",
        edit(RULES, "{label: rare, min: 0.01}", "{label: rare, min: .nan}"),
        "evidence_levels_v3.yaml",
        ".nan",
    ),
    bad(
        "unknown feature",
        edit(RULES, '[trials, ">=", 1]', '[trails, ">=", 1]'),
        "evidence_levels_v3.yaml",
        "trails",
    ),
    bad(
        "always-true condition",
        edit(RULES, '[trials, ">=", 1]', '[trials, ">=", 0]'),
        "evidence_levels_v3.yaml",
        "by_comparison.levels[3]",
    ),
    bad(
        "never-true condition",
        edit(RULES, '[vote_favour_share, ">=", 0.8]', '[vote_favour_share, ">=", 1.5]'),
        "evidence_levels_v3.yaml",
        "vote_favour_share",
    ),
    bad(
        "always-true rule",
        edit(
            RULES,
            "    - level: Experimental/limited\n      all:\n        - [trials",
            "    - level: Experimental/limited\n      all: []\n"
            "    - level: Mixed\n      all:\n        - [trials",
        ),
        "evidence_levels_v3.yaml",
        "unreachable",
    ),
    bad(
        "wrong type in a condition",
        edit(RULES, '[trials, ">=", 1]', '[trials, ">=", "one"]'),
        "evidence_levels_v3.yaml",
        "by_comparison",
    ),
    bad(
        "flag compared with a number",
        edit(RULES, '[published_conflict, "==", false]', '[published_conflict, "==", 0]'),
        "evidence_levels_v3.yaml",
        "published_conflict",
    ),
    bad(
        "rule set missing key",
        edit(RULES, "\nfrequency_bands:", "\nx_frequency_bands:"),
        "evidence_levels_v3.yaml",
        "frequency_bands",
    ),
    bad(
        "rule set duplicate key",
        edit(RULES, "\nharm_outcome_prefixes:", '\nversion: "3.0.0"\nharm_outcome_prefixes:'),
        "evidence_levels_v3.yaml",
        "again",
    ),
    bad(
        "unknown design in a group",
        edit(RULES, "case_report: [case_report]", "case_report: [case_reprot]"),
        "evidence_levels_v3.yaml",
        "case_reprot",
    ),
    bad(
        "GRADE threshold out of range",
        edit(RULES, "serious_i2: 50", "serious_i2: 150"),
        "evidence_levels_v3.yaml",
        "serious_i2",
    ),
    bad(
        "duplicate key in citations",
        edit("citations/baclofen.yaml", "\ncitations:", "\nx: 1\nx: 2\ncitations:"),
        "citations/baclofen.yaml",
        "again",
    ),
    bad(
        "deep nesting",
        edit("claims/baclofen.yaml", "\n", "\nx: " + "[" * 2000 + "]" * 2000 + "\n"),
        "claims/baclofen.yaml",
    ),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pristine") / "raw"
    shutil.copytree(RAW, root, ignore=shutil.ignore_patterns(".swap", ".lock"))
    return root


def invoke(command: str, data: Path) -> tuple[int, str]:
    base = data.parent
    args = [
        command,
        "--data",
        str(data),
        "--processed",
        str(base / "p"),
        "--reports",
        str(base / "r"),
    ]
    if command == "run":
        args.append("--no-orchestrator")
    with alarm(HANG_GUARD_SECONDS):
        result = runner.invoke(app, args)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"{command}: {result.exception!r} escaped:\n{result.output}")
    return result.exit_code, result.output


@pytest.mark.parametrize("kind", KINDS, ids=[k.name for k in KINDS])
def test_each_kind_ends_cleanly_and_validate_agrees_with_run(
    kind: Kind, pristine: Path, tmp_path: Path
) -> None:
    data = tmp_path / "raw"
    shutil.copytree(pristine, data)
    kind.mutate(data)
    v_code, v_out = invoke("validate", data)
    r_code, r_out = invoke("run", data)
    for out in (v_out, r_out):
        assert "Traceback" not in out
    assert kind.names is not None
    assert v_code == 1, v_out
    assert r_code == 1, r_out  # validate refused: so does the run, for the same reason
    for out in (v_out, r_out):
        for name in kind.names:
            assert name in out, f"{name!r} not in:\n{out}"
        assert re.search(r"\S+\.(csv|yaml)", out)


@pytest.mark.parametrize("kind", ACCEPTED, ids=[k.name for k in ACCEPTED])
def test_accepted_kinds_validate(kind: Kind, pristine: Path, tmp_path: Path) -> None:
    data = tmp_path / "raw"
    shutil.copytree(pristine, data)
    kind.mutate(data)
    code, out = invoke("validate", data)
    assert code == 0, out


def test_accepted_kinds_run_together(pristine: Path, tmp_path: Path) -> None:
    """What validate accepts, a run runs: every accepted kind at once, validated and run."""
    data = tmp_path / "raw"
    shutil.copytree(pristine, data)
    for kind in ACCEPTED:
        kind.mutate(data)
    v_code, v_out = invoke("validate", data)
    assert v_code == 0, v_out
    r_code, r_out = invoke("run", data)
    assert r_code == 0, r_out
    assert "Traceback" not in r_out


@pytest.mark.parametrize("command", ["validate", "run"])
def test_alias_bomb_is_refused_at_once(command: str, pristine: Path, tmp_path: Path) -> None:
    """A billion-laughs protocol: refused before anything expands it (a subprocess with a
    timeout, so a hang fails the test instead of stopping the suite)."""
    data = tmp_path / "raw"
    shutil.copytree(pristine, data)
    alias_bomb(PROTOCOL)(data)
    args = [command, "--data", str(data), "--processed", str(tmp_path / "p")]
    args += ["--reports", str(tmp_path / "r")] + (["--no-orchestrator"] if command == "run" else [])
    proc = subprocess.run(
        [sys.executable, "-c", "from evidence.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
    )
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "baclofen.yaml:1:" in proc.stderr and "alias" in proc.stderr
