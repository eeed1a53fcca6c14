"""Sensitivity analyses are shown under the pooled result they test, each with what it tests,
and an analysis nobody explained cannot reach the report."""

from __future__ import annotations

import ast
import html
import inspect
import re
import textwrap

import pandas as pd
import pytest

from evidence.report.sensitivity import (
    LINES,
    SensitivityMissing,
    natural_effect,
    sensitivity_rows,
    unattached,
)
from evidence.synthesis import pool
from tests.conftest import ROOT

POOLED = ROOT / "data" / "processed" / "baclofen" / "pooled.csv"
REPORT = ROOT / "reports" / "baclofen"


def _produced_names() -> set[str]:
    """Every analysis name pool.py can write: the second item of each 4-tuple appended in
    `pool_outcome` (its `subsets`), and the analysis of each `NotEstimable` made."""
    names: set[str] = set()
    for fn in (pool.pool_outcome, pool.not_estimable):
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "append" and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Tuple) and len(arg.elts) == 4:
                    names.add(ast.unparse(arg.elts[1]))
            if isinstance(f, ast.Name) and f.id == "NotEstimable" and len(node.args) >= 4:
                names.add(ast.unparse(node.args[3]))
    return {getattr(pool, n) for n in names}


def test_every_analysis_name_the_pipeline_produces_has_its_line() -> None:
    produced = _produced_names()
    assert pool.PRIMARY in produced and pool.EXCLUDING_HIGH_RISK in produced  # scan works
    missing = produced - {pool.PRIMARY} - set(LINES)
    assert not missing, f"sensitivity analyses without a line in LINES: {missing}"
    for name, line in LINES.items():
        assert line.label and line.tests.endswith("?"), name  # says what question it answers
        assert "\n" not in line.tests


def test_every_analysis_in_the_committed_pooled_csv_has_its_line() -> None:
    names = set(pd.read_csv(POOLED)["analysis"]) - {pool.PRIMARY}
    assert names and names <= set(LINES)


def _frame(**over: object) -> pd.DataFrame:
    row = {
        "indication": "ind",
        "comparison": "c",
        "outcome": "o",
        "tier": "all",
        "analysis": pool.FIXED_EFFECT,
        "measure": "RR",
        "k": 2,
        "participants": 40,
        "estimate": 0.0,
        "ci_low": -0.5,
        "ci_high": 0.5,
        "note": None,
    }
    return pd.DataFrame([row | over])


def test_an_unexplained_analysis_stops_the_report_naming_row_and_field() -> None:
    frame = pd.concat([_frame(analysis="primary"), _frame(analysis="leave_one_out")])
    with pytest.raises(
        SensitivityMissing, match=r"pooled.csv row 3, field analysis.*leave_one_out"
    ):
        sensitivity_rows(frame.reset_index(drop=True))


def test_effects_are_on_the_natural_scale() -> None:
    assert natural_effect("RR", 0.0, -0.6931471805599453, 0.6931471805599453) == (
        "RR 1.00 (0.50 to 2.00)"
    )
    assert natural_effect("PLO", 0.0, -1.0986122886681098, 1.0986122886681098) == (
        "50.0% (25.0% to 75.0%)"
    )
    assert natural_effect("MD", -3.25, -5.5, -1.0) == "MD -3.25 (-5.50 to -1.00)"


def test_not_estimable_rows_keep_their_reason_and_order_follows_lines() -> None:
    why = "not estimable: the only study of the pool (s1) at high risk of bias; none left to pool"
    frame = pd.concat(
        [
            _frame(analysis=pool.FIXED_EFFECT),
            _frame(
                analysis=pool.EXCLUDING_HIGH_RISK,
                k=0,
                participants=0,
                estimate=None,
                ci_low=None,
                ci_high=None,
                note=why,
            ),
            _frame(analysis=pool.EXCLUDING_DERIVED, estimate=0.1),
        ]
    ).reset_index(drop=True)
    rows = sensitivity_rows(frame)[("ind", "c", "o")]
    assert [r.analysis for r in rows] == [
        n
        for n in LINES
        if n in {pool.FIXED_EFFECT, pool.EXCLUDING_HIGH_RISK, pool.EXCLUDING_DERIVED}
    ]
    high = next(r for r in rows if r.analysis == pool.EXCLUDING_HIGH_RISK)
    assert not high.estimable and high.effect == "not estimable"
    assert high.why.startswith("the only study of the pool (s1)")
    assert unattached(sensitivity_rows(frame), {("ind", "c", "o")}) == []
    assert len(unattached(sensitivity_rows(frame), set())) == 3


def _pooled_rows() -> list[dict]:
    frame = pd.read_csv(POOLED, dtype={"comparison": str}, keep_default_na=False)
    return frame.to_dict("records")


def _sensitivity_rows_in_page(page: str) -> list[tuple[str, str, str]]:
    """(id of the pooled row above, analysis, text) of every sensitivity row, in page order."""
    out, pooled = [], ""
    for tr in re.findall(r"<tr\b[^>]*>.*?</tr>", page, flags=re.S):
        if tr.startswith('<tr class="pooled"'):
            pooled = re.search(r'id="([^"]+)"', tr).group(1)
        elif tr.startswith('<tr class="sensitivity') and "↳" in tr:
            analysis = re.search(r'data-analysis="([^"]+)"', tr).group(1)
            out.append((pooled, analysis, html.unescape(re.sub(r"<[^>]+>", "|", tr))))
        elif not tr.startswith('<tr class="sensitivity'):
            pooled = ""  # a table's header or another table: nothing above to belong to
    return out


def _effect(r: dict) -> str:
    if r["note"]:
        return f"not estimable: {r['note'].removeprefix('not estimable:').strip()}"
    return natural_effect(r["measure"], *(float(r[c]) for c in ("estimate", "ci_low", "ci_high")))


def test_the_committed_report_shows_each_sensitivity_row_under_its_pooled_result() -> None:
    page = (REPORT / "index.html").read_text(encoding="utf-8")
    md = (REPORT / "report.md").read_text(encoding="utf-8").splitlines()
    in_page = _sensitivity_rows_in_page(page)
    expected = [r for r in _pooled_rows() if r["analysis"] != pool.PRIMARY and r["tier"] == "all"]
    assert expected and len(in_page) == len(expected)
    for r in expected:
        line = LINES[r["analysis"]]
        under = f"sof-{r['indication']}-{r['comparison']}-{r['outcome']}"
        cells = f"|{r['participants']} ({r['k']})||{_effect(r)}||Tests: {line.tests}|"
        assert [t for p, a, t in in_page if (p, a) == (under, r["analysis"]) and cells in t], (
            under,
            r["analysis"],
            cells,
        )
        # Markdown: the row follows its outcome's row, or that row's other sensitivity rows
        label = f"| ↳ Sensitivity: {line.label} | {r['participants']} ({r['k']}) | "
        at = [i for i, t in enumerate(md) if t.startswith(label + _effect(r).replace("|", "\\|"))]
        assert len(at) >= 1, (under, r["analysis"])
        above = next(t for t in reversed(md[: at[0]]) if not t.startswith("| ↳"))
        assert above.startswith("| ") and not above.startswith("|---"), above


def test_alcohol_abstinence_without_derived_values_is_visible_under_its_result() -> None:
    row = next(
        r
        for r in _pooled_rows()
        if (r["indication"], r["outcome"], r["analysis"])
        == ("alcohol_use_disorder", "abstinence", pool.EXCLUDING_DERIVED)
    )
    effect = _effect(row)
    md = (REPORT / "report.md").read_text(encoding="utf-8").splitlines()
    i = next(
        n
        for n, t in enumerate(md)
        if f"Sensitivity: {LINES[pool.EXCLUDING_DERIVED].label} |" in t and effect in t
    )
    above = next(t for t in reversed(md[:i]) if not t.startswith("| ↳"))
    assert above.startswith("| Abstinence |"), above  # the pooled result it tests
    page = (REPORT / "index.html").read_text(encoding="utf-8")
    under = "sof-alcohol_use_disorder-oral_vs_placebo-abstinence"
    assert [
        t
        for p, a, t in _sensitivity_rows_in_page(page)
        if (p, a) == (under, pool.EXCLUDING_DERIVED) and effect in t
    ]
