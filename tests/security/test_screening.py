"""Screening decisions: recorded by `evidence screen` (append-only, validated, all or none under
the data lock) and counted by the PRISMA 2020 flow, whose identities hold."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from typer.testing import CliRunner

from evidence.cli import app
from evidence.inputs.protocol import load_protocol
from evidence.inputs.screening import (
    EXCLUDE,
    EXCLUDE_REPORT,
    INCLUDE,
    NOT_RETRIEVED,
    Decision,
    load_decisions,
)
from evidence.inputs.validate import validate_inputs
from evidence.report.prisma import prisma_flow, prisma_svg, source_records
from evidence.report.svgcheck import check_svg

runner = CliRunner()
REASONS = {"not_drug": "not about the drug", "wrong_design": "design outside the scope"}


def _screen(data: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["screen", "--data", str(data), *args])
    return result.exit_code, result.output


def test_screen_appends_and_a_later_decision_supersedes(data_copy: Path) -> None:
    path = data_copy / "screening.csv"
    before = path.read_bytes()
    code, out = _screen(
        data_copy,
        "study:milla_cp",
        "--decision",
        "exclude",
        "--reason",
        "wrong_design",
        "--reviewer",
        "A. Reviewer",
        "--date",
        "2026-12-01",
    )
    assert code == 0, out
    after = path.read_bytes()
    assert after.startswith(before) and len(after) > len(before)  # nothing earlier touched
    code, out = _screen(
        data_copy,
        "study:milla_cp",
        "--decision",
        "include",
        "--reviewer",
        "B",
        "--date",
        "2026-12-02",
    )
    assert code == 0, out
    rows = [d for d in load_decisions(path) if d.record == "study:milla_cp"]
    assert [d.decision for d in rows] == [INCLUDE, EXCLUDE, INCLUDE]  # import, then two more
    _, issues = validate_inputs(data_copy, load_protocol(data_copy / "protocols/baclofen.yaml"))
    assert issues == []


def test_screen_refuses_bad_decisions_and_writes_nothing(data_copy: Path) -> None:
    path = data_copy / "screening.csv"
    before = path.read_bytes()
    cases = [
        (["study:no_such_study", "--decision", "include", "--reviewer", "A"], "expected a study"),
        (["pmid:1", "--decision", "include", "--reviewer", "A"], "cached or queued PubMed"),
        (["study:milla_cp", "--decision", "exclude", "--reviewer", "A"], "exclusion_reasons"),
        (
            ["study:milla_cp", "--decision", "exclude", "--reason", "made_up", "--reviewer", "A"],
            "exclusion_reasons",
        ),
        (["study:milla_cp", "--decision", "maybe", "--reviewer", "A"], "expected one of"),
        (["study:milla_cp", "--decision", "include"], "who decided"),
        (
            ["study:milla_cp", "--decision", "include", "--reviewer", "A", "--date", "2026-02-30"],
            "ISO date",
        ),
        (
            ["study:milla_cp", "--decision", "include", "--reviewer", "A", "--date", "2020-01-01"],
            "supersedes",
        ),
        # one bad record in a batch: the good one is not recorded either
        (["study:milla_cp", "study:nope", "--decision", "include", "--reviewer", "A"], "nope"),
    ]
    for args, expected in cases:
        code, out = _screen(
            data_copy, *args, *([] if "--date" in args else ["--date", "2026-12-01"])
        )
        assert code == 1, (args, out)
        assert expected in out, (args, out)
        assert path.read_bytes() == before, args


def test_validate_names_file_line_and_field_of_a_bad_decision(data_copy: Path) -> None:
    path = data_copy / "screening.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text + "study:milla_cp,exclude,not_a_reason,X,2026-12-01,\r\n", encoding="utf-8"
    )
    line = text.count("\n") + 1
    _, issues = validate_inputs(data_copy, load_protocol(data_copy / "protocols/baclofen.yaml"))
    assert [(i.file, i.row, i.field) for i in issues] == [("screening.csv", line, "reason")]


def test_import_studies_adds_only_undecided_studies(data_copy: Path) -> None:
    path = data_copy / "screening.csv"
    code, out = _screen(data_copy, "--import-studies", "--date", "2026-12-01")
    assert code == 0 and "recorded 0 decision(s)" in out, out  # the bundled file has them all
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\r\n".join(lines[:-1]) + "\r\n", encoding="utf-8")  # drop the last study
    code, out = _screen(data_copy, "--import-studies", "--date", "2026-12-01")
    assert code == 0 and "recorded 1 decision(s)" in out, out
    last = load_decisions(path)[-1]
    assert (last.decision, last.reviewer, last.date) == (
        INCLUDE,
        "imported: studies.csv",
        "2026-12-01",
    )


def _records() -> list:
    studies = [
        ("a", "websites", "111", ""),
        ("b", "websites", "", "10.1/b"),
        ("c", "trial registries", "", ""),
        ("d", "drug labels", "", ""),
    ]
    cache = [("111", "", "snapshot", "2026-11-25"), ("222", "10.1/B", "live", "2026-12-01")]
    queue = [
        ("333", "Pain", "2026-12-01"),
        ("333", "Spasticity", "2026-12-01"),
        ("444", "Pain", "2026-12-01"),
    ]
    return source_records(studies, cache, queue)


def test_flow_counts_duplicates_stages_and_awaiting_from_records() -> None:
    records = _records()
    decisions = [
        Decision("study:a", INCLUDE, "", "r", "2026-12-01"),
        Decision("pmid:222", EXCLUDE_REPORT, "wrong_design", "r", "2026-12-01"),  # = study b
        Decision("study:c", EXCLUDE, "not_drug", "r", "2026-12-01"),
        Decision("study:c", NOT_RETRIEVED, "", "r", "2026-12-02"),  # supersedes the exclusion
        Decision("pmid:333", EXCLUDE, "not_drug", "r", "2026-12-02"),
        Decision("study:d", INCLUDE, "", "r", "2026-12-02"),
    ]
    f = prisma_flow(
        records,
        decisions,
        REASONS,
        pooled_studies={"a"},
        voting_trials={"a", "d"},
        last_search=None,
    )
    # 4 studies + 2 cached + 3 queue rows; 111 (=a), 10.1/b (=222), 333 twice are duplicates
    assert (f.identified, f.duplicates) == (9, 3)
    assert sum(n for _, _, n in f.sources) == f.identified
    assert (f.awaiting, f.screened) == (1, 5)  # 444 awaits
    assert f.identified - f.duplicates == f.screened + f.awaiting
    assert f.excluded == (("not about the drug", 1),)
    assert f.sought == f.screened - f.records_excluded == 4
    assert (f.not_retrieved, f.assessed) == (1, 3)
    assert f.reports_excluded == (("design outside the scope", 1),)
    assert f.included == f.assessed - f.reports_excluded_n == 2
    assert (f.in_meta_analysis, f.in_vote_count, f.awaiting_extraction) == (1, 1, 0)
    assert f.not_included_in_data == ("b", "c")


def test_flow_figure_is_escaped_deterministic_and_only_drawing() -> None:
    hostile = '<script>alert(1)</script> & "x"'
    records = source_records([("a", hostile, "", "")], [], [])
    f = prisma_flow(
        records, [], REASONS, pooled_studies=set(), voting_trials=set(), last_search=None
    )
    svg = prisma_svg(f)
    assert svg == prisma_svg(f)
    check_svg(svg)
    assert "<script" not in svg
    texts = "".join(
        t.text or "" for t in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
    )
    assert "<script>alert(1)</script>" in texts  # shown as text
    assert 'data-n="1"' in svg and f.awaiting == 1


def test_screen_lists_each_undecided_record_once(data_copy: Path) -> None:
    path = data_copy / "screening.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    kept = [ln for ln in lines if not ln.startswith("study:addolorato_2007,")]
    path.write_text("\r\n".join(kept) + "\r\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["screen", "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["study:addolorato_2007"]
    # deciding its DOI-only study through the study id settles it
    code, out = _screen(
        data_copy, "study:addolorato_2007", "--decision", "include", "--reviewer", "A",
        "--date", "2026-12-01",
    )  # fmt: skip
    assert code == 0, out
    result = CliRunner().invoke(app, ["screen", "--data", str(data_copy)])
    assert result.stdout.split() == []
