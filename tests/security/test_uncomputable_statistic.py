"""A diagnostic that cannot be computed is reported as such; the synthesis still runs.

Twelve synthetic trials (written here, never part of the bundled data) with identical arms give
identical sampling variances: Egger's regression on the standard error is then rank-deficient.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from evidence import pipeline
from evidence.rating.grade import grade_outcome
from evidence.rating.publication_bias import StudyData
from evidence.rating.rules import load_rules
from evidence.runs.workspace import Workspace
from tests.conftest import RAW, synthesize

K = 12
SAME_SE = "not computable: all 12 studies have the same standard error"


def append_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([r.get(c, "") for c in header] for r in rows)
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(out.getvalue())


def add_equal_variance_trials(data: Path) -> None:
    """K two-arm trials of the pain outcome `rmdq_improvement`, every arm n = 30 and SD 5."""
    studies, outcomes = [], []
    for i in range(K):
        sid = f"synthetic_equal_se_{i:02d}"
        studies.append(
            {
                "study_id": sid,
                "first_author": "Synthetic",
                "year": str(2000 + i),
                "title": f"Synthetic trial {i} (test data)",
                "design": "rct",
                "species": "human",
                "indication": "pain",
                "route": "oral",
                "comparator": "placebo",
                "n_total": "60",
                "source_urls": "https://example.org/synthetic",
                "notes": "synthetic test data",
            }
        )
        for role, mean in (("treatment", 10 + 0.3 * i), ("control", 9.0)):
            outcomes.append(
                {
                    "row_id": f"{sid}-{role}",
                    "study_id": sid,
                    "outcome": "rmdq_improvement",
                    "outcome_definition": "synthetic",
                    "timepoint_weeks": "4",
                    "arm": role,
                    "arm_role": role,
                    "n": "30",
                    "mean": f"{mean:.1f}",
                    "sd": "5",
                    "derived": "false",
                    "source_url": "https://example.org/synthetic",
                }
            )
    append_rows(data / "studies.csv", studies)
    append_rows(data / "outcomes.csv", outcomes)


def test_a_pool_of_equal_variances_reports_egger_as_not_computable_and_the_run_goes_on(
    data_copy: Path, tmp_path: Path
) -> None:
    add_equal_variance_trials(data_copy)
    result = synthesize(data_copy, tmp_path / "p", tmp_path / "r")
    assert result.exit_code == 0, result.output
    for page in ("index.html", "report.md"):
        text = (tmp_path / "r" / "baclofen" / page).read_text(encoding="utf-8")
        text = text.replace("&#39;", "'")
        assert "publication bias: not judgeable: Egger's test not computable" in text, page
    with (tmp_path / "p" / "baclofen" / "pooled.csv").open(encoding="utf-8", newline="") as handle:
        pooled = {
            (r["indication"], r["comparison"], r["outcome"], r["tier"], r["analysis"]): r
            for r in csv.DictReader(handle)
        }
    row = pooled[("pain", "oral_vs_placebo", "rmdq_improvement", "all", "primary")]
    assert row["k"] == str(K) and row["estimate"] != ""
    assert row["egger_p"].startswith(SAME_SE)
    assert "rank-deficient" in row["egger_p"]
    # every other pool is too small for the test: its cell stays empty
    assert all(r["egger_p"] == "" for key, r in pooled.items() if key[2] != "rmdq_improvement")

    ws = Workspace(data_copy, tmp_path / "p", tmp_path / "r")
    snapshot = pipeline.load(ws, None)
    tab = pipeline.tabulate(snapshot)
    analyses = pipeline.pool(snapshot, tab)
    ratings = pipeline.rate(snapshot, tab, analyses, ws.data / snapshot.protocol.rating.rule_set)
    pub = ratings.certainty[
        ("pain", "oral_vs_placebo", "rmdq_improvement", "all", "primary")
    ].domain("publication bias")
    assert pub.judgement == "not judgeable" and pub.downgrade == 0
    assert "Egger's test not computable" in pub.reason
    assert "the same standard error" in pub.reason


def test_grade_never_calls_an_uncomputed_small_study_test_no_concern() -> None:
    rules = load_rules(RAW / "rules" / "evidence_levels_v3.yaml")
    common = {
        "randomised": True,
        "k": 12,
        "ci_low": 0.2,
        "ci_high": 0.8,
        "pi_low": 0.1,
        "pi_high": 0.9,
        "i2": 10.0,
        "participants": 2000,
        "binary": False,
    }
    same = StudyData(tuple(0.5 for _ in range(12)), tuple(0.04 for _ in range(12)))
    graded = grade_outcome(rules.grade, study_data=same, **common)
    pub = graded.domain("publication bias")
    assert pub.judgement == "not judgeable"
    assert "not computable" in pub.reason
    spread = StudyData(
        tuple(0.3 + 0.05 * (i % 3) for i in range(12)), tuple(0.01 * (1 + i) for i in range(12))
    )
    ran = grade_outcome(rules.grade, study_data=spread, **common).domain("publication bias")
    assert ran.judgement in ("no concern", "serious")
    assert "Egger's test p = " in ran.reason


def test_egger_on_extreme_but_valid_spreads_is_not_computable_and_the_run_goes_on(
    data_copy: Path, tmp_path: Path
) -> None:
    """Distinct tiny SDs pass validation but make Egger's design rank-deficient in floating
    point: the cell says why, the synthesis finishes."""
    add_equal_variance_trials(data_copy)
    path = data_copy / "outcomes.csv"
    text = path.read_bytes().decode("utf-8")  # CRLF kept
    for i in range(K):
        for role in ("treatment", "control"):
            row = f"synthetic_equal_se_{i:02d}-{role}"
            start = text.index(row)
            end = text.index("\r\n", start)
            line = text[start:end].replace(",5,", f",{1e-149 * (1 + i / 10):.6g},", 1)
            text = text[:start] + line + text[end:]
    path.write_text(text, encoding="utf-8", newline="")
    result = synthesize(data_copy, tmp_path / "p", tmp_path / "r")
    assert result.exit_code == 0, result.output
    with (tmp_path / "p" / "baclofen" / "pooled.csv").open(encoding="utf-8", newline="") as fh:
        cells = [r["egger_p"] for r in csv.DictReader(fh) if r["outcome"] == "rmdq_improvement"]
    assert any(c.startswith("not computable") for c in cells), cells


def test_overflowing_spreads_are_refused_by_validation_naming_the_row(data_copy: Path) -> None:
    from typer.testing import CliRunner

    from evidence.cli import app

    path = data_copy / "outcomes.csv"
    lines = path.read_bytes().decode("utf-8").split("\r\n")
    header = lines[0].split(",")
    i, se = next(
        (n, header.index("se")) for n, line in enumerate(lines[1:], start=1) if line.strip()
    )
    cells = next(csv.reader([lines[i]]))
    cells[se] = "1e300"
    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(cells)
    lines[i] = buf.getvalue()
    path.write_text("\r\n".join(lines), encoding="utf-8", newline="")
    result = CliRunner().invoke(app, ["validate", "--data", str(data_copy)])
    assert result.exit_code == 1
    assert f"outcomes.csv:{i + 1}: se:" in result.output and "data-entry error" in result.output


def test_reml_on_overflowing_effects_stops_with_a_reason_instead_of_spinning() -> None:
    import numpy as np
    import pytest

    from evidence.meta.tau2 import ConvergenceError, tau2_reml

    y = np.array([1e150 * (1 + i / 10) for i in range(12)])
    v = np.array([1e298 * (1 + i / 10) for i in range(12)])
    with np.errstate(all="ignore"), pytest.raises(ConvergenceError, match="not finite"):
        tau2_reml(y, v, np.ones((12, 1)))
