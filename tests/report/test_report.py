"""The report: written by `evidence run`, byte-identical on rerun, escaped, and tracking change."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from tests.conftest import synthesize
from tests.foundation import csvedit

runner = CliRunner()


def run(data: Path, tmp: Path) -> str:
    result = synthesize(data, tmp / "processed", tmp / "reports")
    assert result.exit_code == 0, result.output
    return result.output


def files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.name.startswith(".")
    }


@pytest.fixture
def fixed_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-25")


def test_run_writes_the_report_and_a_rerun_is_byte_identical(
    data_copy: Path, tmp_path: Path, fixed_date: None
) -> None:
    run(data_copy, tmp_path)
    reports = tmp_path / "reports" / "baclofen"
    html = (reports / "index.html").read_text(encoding="utf-8")
    for anchor in (
        "changes",
        "uses",
        "sof",
        "figures",
        "dosage",
        "side-effects",
        "interactions",
        "votes",
        "prisma",
        "agreement",
        "references",
        "provenance",
    ):
        assert f'id="{anchor}"' in html
    assert html.count("<svg") == len(list((reports / "figures").glob("*.svg"))) > 0
    assert "first run of the protocol" in html
    assert "<script" not in html and "http://" not in html.split("</style>")[0]
    first = files(tmp_path / "reports") | files(tmp_path / "processed")
    run(data_copy, tmp_path)
    second = files(tmp_path / "reports") | files(tmp_path / "processed")
    changed = sorted(k for k in first if first[k] != second.get(k))
    assert changed == []  # the changelog and the history too: a run on the same inputs adds nothing
    assert "first run of this protocol" in (reports / "changelog.md").read_text()
    assert set(second) == set(first)


def test_data_text_is_escaped_in_html_and_markdown(
    data_copy: Path, tmp_path: Path, fixed_date: None
) -> None:
    evil = "<script>alert(1)</script> & <b>bold</b>"
    csvedit.set_cell(data_copy / "studies.csv", {"study_id": "addolorato_2002"}, "title", evil)
    run(data_copy, tmp_path)
    html = (tmp_path / "reports" / "baclofen" / "index.html").read_text(encoding="utf-8")
    md = (tmp_path / "reports" / "baclofen" / "report.md").read_text(encoding="utf-8")
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    assert "<script>" not in md and "&lt;script&gt;" in md


def add_trial(data: Path) -> None:
    """A new placebo-controlled trial with arm-level abstinence counts (test data only)."""
    header, rows = csvedit.read(data / "studies.csv")
    new = dict.fromkeys(header, "")
    new |= {
        "study_id": "newtrial_2026",
        "first_author": "Tester A",
        "year": "2026",
        "title": "A test trial",
        "design": "rct",
        "species": "human",
        "indication": "alcohol_use_disorder",
        "route": "oral",
        "comparator": "placebo",
        "n_total": "200",
        "dose_min": "30",
        "dose_max": "30",
        "dose_unit": "mg/day",
        "source_urls": "https://example.org/newtrial",
    }
    rows.append([new[h] for h in header])
    csvedit.write(data / "studies.csv", header, rows)
    header, rows = csvedit.read(data / "outcomes.csv")
    for i, (role, events) in enumerate((("treatment", "60"), ("control", "30")), start=1):
        new = dict.fromkeys(header, "")
        new |= {
            "row_id": f"newtrial_2026-0{i}",
            "study_id": "newtrial_2026",
            "outcome": "abstinence",
            "arm": role,
            "arm_role": role,
            "n": "100",
            "events": events,
            "derived": "false",
            "source_url": "https://example.org/newtrial",
        }
        rows.append([new[h] for h in header])
    csvedit.write(data / "outcomes.csv", header, rows)


def test_a_new_trial_shows_under_what_changed(
    data_copy: Path, tmp_path: Path, fixed_date: None
) -> None:
    run(data_copy, tmp_path)
    add_trial(data_copy)
    run(data_copy, tmp_path)
    reports = tmp_path / "reports" / "baclofen"
    html = (reports / "index.html").read_text(encoding="utf-8")
    section = html.split('id="changes"')[1].split("</div>")[0]
    assert "newtrial_2026" in section
    # the pool moved, named in the protocol's words, not by its key
    assert "Alcohol use disorder, oral baclofen vs placebo: " in section
    assert "alcohol_use_disorder|oral_vs_placebo" not in section
    log = (reports / "changelog.md").read_text(encoding="utf-8")
    assert "newtrial_2026" in log and "Nothing changed" not in log
    runs = sorted(p.name for p in (tmp_path / "processed" / "runs").iterdir())
    assert len(runs) == 2
    # evidence diff between the two archived runs says the same
    result = runner.invoke(app, ["diff", *runs, "--processed", str(tmp_path / "processed")])
    assert result.exit_code == 0 and "newtrial_2026" in result.output
    with (tmp_path / "processed" / "baclofen" / "pooled.csv").open() as fh:
        pooled = [
            r
            for r in csv.DictReader(fh)
            if r["outcome"] == "abstinence"
            and r["comparison"] == "oral_vs_placebo"
            and r["tier"] == "all"
            and r["analysis"] == "primary"
        ]
    assert "newtrial_2026" in pooled[0]["studies"]


def test_diff_of_unknown_run_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["diff", "a", "b", "--processed", str(tmp_path)])
    assert result.exit_code == 2 and "no such run" in result.output


def test_svg_ids_are_scoped_per_figure(data_copy: Path, tmp_path: Path, fixed_date: None) -> None:
    run(data_copy, tmp_path)
    html = (tmp_path / "reports" / "baclofen" / "index.html").read_text(encoding="utf-8")
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
