"""`evidence meta`: JSON values against metafor, the table format, and input errors (exit 2)."""

from __future__ import annotations

import ast
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.meta import rma
from tests.meta.reference import BINARY, CONTINUOUS, assert_close, case_id, dataset, load

DATASET_OF = {
    "RR": "bcg",
    "OR": "bcg",
    "RD": "bcg",
    "MD": "normand1999",
    "SMD": "normand1999",
    "PLO": "pritz1997",
    "PR": "pritz1997",
    "GEN": "hackshaw1998",
}
COLUMNS_OF = {
    "bcg": BINARY,
    "normand1999": CONTINUOUS,
    "pritz1997": ("events", "n"),
    "hackshaw1998": ("yi", "vi"),
    "zero": BINARY,
}
BASE_KEYS = {
    "k", "estimate", "se", "ci_low", "ci_high", "zval_or_tval", "pval", "q", "q_df", "q_pval",
    "measure", "method", "test",
}  # fmt: skip
RE_KEYS = {"tau2", "tau", "i2", "h2", "pi_low", "pi_high"}
EXP_KEYS = {"exp_estimate", "exp_ci_low", "exp_ci_high"}
VALUE_KEYS = {
    "estimate": "estimate",
    "se": "se",
    "ci_low": "ci_lb",
    "ci_high": "ci_ub",
    "zval_or_tval": "zval",
    "pval": "pval",
    "q": "QE",
    "q_pval": "QEp",
    "tau2": "tau2",
    "i2": "I2",
    "h2": "H2",
    "pi_low": "pi_lb",
    "pi_high": "pi_ub",
}

runner = CliRunner()


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def dataset_csv(tmp_path: Path, name: str) -> Path:
    d = dataset(name)
    header = ["study", *COLUMNS_OF[name]]
    rows = [list(r) for r in zip(*(d[c] for c in header), strict=True)]
    return write_csv(tmp_path / f"{name}.csv", header, rows)


def invoke(*args: str) -> Any:
    return runner.invoke(app, ["meta", *args])


CLI_CASES = [r for r in load()["rma"] if r["test"] in ("z", "knha")]


@pytest.mark.parametrize(
    "rec", CLI_CASES, ids=[case_id(r, "measure", "method", "test") for r in CLI_CASES]
)
def test_json_output_matches_metafor(tmp_path: Path, rec: dict[str, Any]) -> None:
    path = dataset_csv(tmp_path, rec["dataset"])
    result = invoke(
        "--input", str(path), "--measure", rec["measure"], "--method", rec["method"],
        "--test", rec["test"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert BASE_KEYS <= out.keys()
    if rec["method"] != "FE":
        assert RE_KEYS <= out.keys()
    assert (EXP_KEYS <= out.keys()) == (rec["measure"] in ("RR", "OR"))
    assert (out["measure"], out["method"], out["test"]) == (
        rec["measure"],
        rec["method"],
        rec["test"],
    )
    assert out["k"] == rec["k"] and out["q_df"] == rec["k"] - 1
    for ours, theirs in VALUE_KEYS.items():
        assert_close(out[ours], rec[theirs], ours)


def test_mantel_haenszel_from_the_cli(tmp_path: Path) -> None:
    rec = next(r for r in load()["rma_mh"] if r["dataset"] == "bcg" and r["measure"] == "OR")
    path = dataset_csv(tmp_path, "bcg")
    result = invoke("--input", str(path), "--measure", "OR", "--method", "MH")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert_close(out["estimate"], rec["estimate"], "estimate")
    assert_close(out["se"], rec["se"], "se")
    assert out["method"] == "MH"


def test_table_format(tmp_path: Path) -> None:
    path = dataset_csv(tmp_path, "bcg")
    result = invoke("--input", str(path), "--measure", "RR", "--method", "DL", "--format", "table")
    assert result.exit_code == 0, result.stderr
    text = result.stdout
    for study in dataset("bcg")["study"]:
        assert study in text
    assert "95% CI" in text and "95% PI" in text and "tau^2" in text and "I^2" in text


def test_lowercase_choices_are_accepted(tmp_path: Path) -> None:
    path = dataset_csv(tmp_path, "pritz1997")
    result = invoke("--input", str(path), "--measure", "plo", "--method", "reml")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["measure"] == "PLO"


def errors_of(result: Any) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.strip()]


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.csv"
    result = invoke("--input", str(path), "--measure", "RR")
    assert result.exit_code == 2
    assert errors_of(result) == [f"{path}: file not found"]
    assert result.stdout == ""


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "t.csv", ["study", "events_treat", "n_treat"], [["a", 1, 10]])
    result = invoke("--input", str(path), "--measure", "OR")
    assert result.exit_code == 2
    lines = errors_of(result)
    assert lines == [
        f"{path}:1: column 'events_ctrl': missing from the header",
        f"{path}:1: column 'n_ctrl': missing from the header",
    ]


@pytest.mark.parametrize(
    ("measure", "column", "value", "fragment"),
    [
        ("RR", "n_treat", "abc", "not a number"),
        ("RR", "n_ctrl", "", "empty"),
        ("RR", "n_treat", "-5", "must be > 0"),
        ("RR", "events_treat", "1000000", "events exceed n_treat"),
        ("RR", "events_ctrl", "-1", "must be >= 0"),
        ("MD", "sd_ctrl", "-2", "must be >= 0"),
        ("SMD", "mean_treat", "x1", "not a number"),
        ("PLO", "events", "99", "events exceed n"),
        ("GEN", "vi", "0", "must be > 0"),
        ("GEN", "yi", "inf", "not finite"),
    ],
)
def test_malformed_cell_names_file_line_and_column(
    tmp_path: Path, measure: str, column: str, value: str, fragment: str
) -> None:
    name = DATASET_OF[measure]
    path = dataset_csv(tmp_path, name)
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    row_index = 3  # the third data row, on line 4
    rows[row_index][rows[0].index(column)] = value
    write_csv(path, rows[0], rows[1:])
    result = invoke("--input", str(path), "--measure", measure)
    assert result.exit_code == 2
    lines = errors_of(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:4: column '{column}': ")
    assert fragment in lines[0]
    assert result.stdout == ""


def test_all_problems_are_reported_in_one_pass(tmp_path: Path) -> None:
    header = ["study", *BINARY]
    rows = [
        ["ok", 1, 10, 2, 10],
        ["bad1", "x", 10, 2, -3],
        ["ok2", 3, 12, 4, 12],
        ["bad2", 20, 10, 2, 10],
    ]
    path = write_csv(tmp_path / "many.csv", header, rows)
    result = invoke("--input", str(path), "--measure", "RR")
    assert result.exit_code == 2
    assert errors_of(result) == [
        f"{path}:3: column 'events_treat': not a number ('x')",
        f"{path}:3: column 'n_ctrl': must be > 0, got -3",
        f"{path}:5: column 'events_treat': 20 events exceed n_treat = 10",
    ]


def test_header_only_file_is_an_input_error(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "empty.csv", ["yi", "vi"], [])
    result = invoke("--input", str(path), "--measure", "GEN")
    assert result.exit_code == 2
    assert errors_of(result) == [f"{path}:2: no data rows"]


def test_cli_module_imports_numeric_libraries_lazily() -> None:
    """`evidence --help` must not pay for numpy/pandas/scipy/statsmodels."""
    import evidence.cli.meta_cmd as mod

    tree = ast.parse(Path(mod.__file__).read_text(encoding="utf-8"))
    heavy = ("numpy", "pandas", "scipy", "statsmodels", "evidence.meta")
    for node in tree.body:
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module]
        for name in names:
            assert not name.startswith(heavy), f"top-level import of {name}"


def test_an_unknown_further_analysis_is_refused_naming_the_known_ones(tmp_path: Path) -> None:
    result = invoke(
        "--input", str(dataset_csv(tmp_path, "hackshaw1998")), "--measure", "GEN",
        "--also", "no-such-analysis",
    )  # fmt: skip
    assert result.exit_code == 1
    assert "unknown analysis 'no-such-analysis' for --also" in result.output


# ------------------------------------------------ the further measures, options and edge cases
from tests.meta.test_measures import compute, load_measures  # noqa: E402

MEASURE_POOLS = load_measures()["rma"]
CONVERGED_OPTS = ("--reml-threshold", "1e-12", "--reml-maxiter", "1000")


def measures_csv(tmp_path: Path, name: str, measure: str) -> Path:
    from tests.meta.test_measures import columns

    d = columns(name, measure)
    header = list(d)
    rows = [list(r) for r in zip(*(d[c] for c in header), strict=True)]
    return write_csv(tmp_path / f"{name}.csv", header, rows)


@pytest.mark.parametrize(
    "rec", MEASURE_POOLS, ids=[case_id(r, "dataset", "measure") for r in MEASURE_POOLS]
)
def test_further_measures_match_metafor_from_the_cli(tmp_path: Path, rec: dict[str, Any]) -> None:
    path = measures_csv(tmp_path, rec["dataset"], rec["measure"])
    result = invoke("--input", str(path), "--measure", rec["measure"], *CONVERGED_OPTS)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    for ours, theirs in VALUE_KEYS.items():
        assert_close(out[ours], rec[theirs], ours)
    assert (EXP_KEYS <= out.keys()) == (rec["measure"] in ("IRR", "ROM"))
    if rec["measure"] == "PFT":
        ref = load_measures()["ipft_hm"]
        assert_close(out["proportion_estimate"], ref["pred"], "proportion_estimate")
        assert_close(out["proportion_ci_low"], ref["ci_lb"], "proportion_ci_low")


def test_metafor_defaults_reproduce_metafor_default_reml(tmp_path: Path) -> None:
    rec = next(r for r in MEASURE_POOLS if r["measure"] == "ROM")
    path = measures_csv(tmp_path, rec["dataset"], "ROM")
    result = invoke("--input", str(path), "--measure", "ROM", "--metafor-defaults")
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    for key in ("tau2", "estimate", "se"):
        assert_close(out[key], rec["reml_default"][key], key)
    clash = invoke(
        "--input", str(path), "--measure", "ROM", "--metafor-defaults", "--reml-threshold", "1e-8"
    )
    assert clash.exit_code == 2 and "--metafor-defaults" in clash.stderr


@pytest.mark.parametrize(
    "rec",
    [r for r in load_measures()["escalc"] if r["dataset"] == "zero_ir" and r["measure"] == "IRD"],
    ids=lambda r: f"{r['to']}-{r['add']}-{r.get('drop00', False)}",
)
def test_zero_rules_from_the_cli(tmp_path: Path, rec: dict[str, Any]) -> None:
    path = measures_csv(tmp_path, "zero_ir", "IRD")
    args = ["--input", str(path), "--measure", "IRD", "--method", "FE"]
    args += ["--to", rec["to"], "--add", str(rec["add"])]
    if rec.get("drop00"):
        args.append("--drop00")
    result = invoke(*args)
    if rec["to"] == "none":  # r3 has no events at all: a rate difference with variance 0
        assert result.exit_code == 1
        assert "sampling variances must be positive (positions [2])" in result.stderr
        return
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    expected = rma(compute(rec), method="FE")
    assert_close(out["estimate"], expected.estimate, "estimate")
    assert out["k"] == sum(y is not None for y in rec["yi"])
    assert out.get("dropped_studies", []) == (["r3"] if rec.get("drop00") else [])


def test_adhoc_test_from_the_cli(tmp_path: Path) -> None:
    rec = next(r for r in load()["rma"] if r["test"] == "adhoc")
    path = dataset_csv(tmp_path, rec["dataset"])
    result = invoke(
        "--input", str(path), "--measure", rec["measure"], "--method", rec["method"],
        "--test", "adhoc",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["test"] == "adhoc"
    for ours in ("estimate", "se", "ci_low", "ci_high", "pval"):
        assert_close(out[ours], rec[VALUE_KEYS[ours]], ours)


def _strict(text: str) -> Any:
    def refuse(constant: str) -> Any:
        raise ValueError(constant)

    return json.loads(text, parse_constant=refuse)


def test_identical_effects_under_knha_print_valid_json(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "same.csv", ["yi", "vi"], [[0.2, 0.01], [0.2, 0.02], [0.2, 0.03]])
    result = invoke("--input", str(path), "--measure", "GEN", "--test", "knha")
    assert result.exit_code == 0, result.stderr
    out = _strict(result.stdout)
    assert out["zval_or_tval"] is None
    assert any("zval_or_tval" in n for n in out["notes"])


def test_single_study_prints_metafor_conventions_and_the_caveat(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "one.csv", ["yi", "vi"], [[0.3, 0.04]])
    result = invoke("--input", str(path), "--measure", "GEN", "--test", "knha")
    assert result.exit_code == 0, result.stderr
    out = _strict(result.stdout)
    assert (out["q"], out["q_pval"], out["tau2"], out["i2"], out["h2"]) == (0, 1, 0, 0, 1)
    assert out["test"] == "z"
    assert any("heterogeneity cannot be assessed" in n for n in out["notes"])


@pytest.mark.parametrize(
    ("measure", "header", "row", "column", "fragment"),
    [
        ("GEN", ["yi", "vi"], ["1e160", "0.1"], "yi", "beyond 1e+50"),
        ("GEN", ["yi", "vi"], ["0.1", "1e-310"], "vi", "below 1e-300"),
        ("MD", list(CONTINUOUS), ["-1e160", 1, 10, 0, 1, 10], "mean_treat", "beyond 1e+50"),
        ("IRR", ["events_treat", "time_treat", "events_ctrl", "time_ctrl"], [1, 0, 2, 10],
         "time_treat", "must be > 0"),
        ("COR", ["r", "n"], ["1.5", "20"], "r", "must be in [-1, 1]"),
        ("ZCOR", ["r", "n"], ["0.3", "3"], "n", "must be > 3 for ZCOR"),
        ("ROM", list(CONTINUOUS), [2, 1, 10, -3, 1, 10], "mean_ctrl", "both means of one sign"),
        ("SMCR", ["mean_pre", "sd_pre", "mean_post", "n", "r_pre_post"], [1, -1, 2, 10, 0.5],
         "sd_pre", "must be >= 0"),
    ],
)  # fmt: skip
def test_new_columns_are_validated_with_file_line_and_column(
    tmp_path: Path, measure: str, header: list[str], row: list[Any], column: str, fragment: str
) -> None:
    good = {
        "GEN": ["0.2", "0.1"], "MD": [1, 1, 10, 0, 1, 10], "ROM": [2, 1, 10, 3, 1, 10],
        "IRR": [1, 10, 2, 10], "COR": ["0.3", "20"], "ZCOR": ["0.3", "20"],
        "SMCR": [1, 1, 2, 10, 0.5],
    }  # fmt: skip
    path = write_csv(tmp_path / "t.csv", header, [good[measure], row])
    result = invoke("--input", str(path), "--measure", measure)
    assert result.exit_code == 2
    lines = errors_of(result)
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{path}:3: column '{column}': ") and fragment in lines[0]


def test_a_computed_effect_beyond_the_bound_names_the_line(tmp_path: Path) -> None:
    header = list(CONTINUOUS)
    rows = [[1, 1, 10, 0, 1, 10], [1e40, 1e-20, 10, 0, 1e-20, 10]]
    path = write_csv(tmp_path / "smd.csv", header, rows)
    result = invoke("--input", str(path), "--measure", "SMD")
    assert result.exit_code == 2
    assert errors_of(result)[0].startswith(f"{path}:3: computed yi = ")


def test_cli_bounds_equal_the_engine_bounds() -> None:
    from evidence.cli import meta_cmd
    from evidence.meta import effect_sizes

    assert meta_cmd.MAX_ABS_VALUE == effect_sizes.MAX_ABS_EFFECT
    assert meta_cmd.MIN_VARIANCE == effect_sizes.MIN_VARIANCE
    assert meta_cmd.MAX_VARIANCE == effect_sizes.MAX_VARIANCE


# Run in a fresh interpreter: the command prints its JSON, then the heavy modules it loaded.
IMPORT_PROBE = """
import json, sys
from evidence.cli import app
try:
    app(sys.argv[1:])
except SystemExit as exc:
    if exc.code:
        raise
heavy = ("statsmodels", "scipy.stats", "scipy.optimize", "pandas")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("statsmodels", "pandas")
                        or m in heavy)))
"""


@pytest.mark.parametrize(
    ("measure", "name", "method", "test"),
    [("GEN", "hackshaw1998", "REML", "knha"), ("RR", "bcg", "DL", "z")],
)
def test_a_plain_pool_imports_neither_statsmodels_nor_scipy_stats(
    tmp_path: Path, measure: str, name: str, method: str, test: str
) -> None:
    """`evidence meta` loads only what the analysis needs: scipy.special, not scipy.stats,
    statsmodels, scipy.optimize or pandas (each costs a large part of a second to import)."""
    path = dataset_csv(tmp_path, name)
    args = ["meta", "--input", str(path), "--measure", measure, "--method", method]
    out = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args, "--test", test],
        capture_output=True,
        text=True,
        check=True,
    )
    result_text, _, modules = out.stdout.strip().rpartition("\n")
    assert json.loads(result_text)["k"] == len(dataset(name)["study"])
    assert json.loads(modules) == []
