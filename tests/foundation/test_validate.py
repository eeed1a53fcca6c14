"""Schema and cross-file checks on the bundled snapshot and on copies broken one way each."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.inputs.protocol import load_protocol
from evidence.inputs.validate import Issue, validate_inputs
from tests.conftest import RAW
from tests.foundation import csvedit

runner = CliRunner()


def issues_of(data: Path) -> list[Issue]:
    proto = load_protocol(data / "protocols" / "baclofen.yaml")
    return validate_inputs(data, proto)[1]


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_bundled_snapshot_is_clean() -> None:
    assert issues_of(RAW) == []


def test_cli_validate_clean_exits_0(data_copy: Path) -> None:
    result = runner.invoke(app, ["validate", "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output


def _first(path: Path, pred) -> dict[str, str]:
    return csvedit.find_row(path, pred)[1]


# (file, row selector, field, bad value, words the expectation must contain)
BREAKS = [
    (
        "outcomes.csv",
        lambda r: r["n"] != "" and r["events"] != "",
        "events",
        "100000",
        "events ≤ n",
    ),
    ("outcomes.csv", lambda r: r["n"] != "", "n", "0", "integer > 0"),
    ("outcomes.csv", lambda r: r["sd"] != "", "sd", "-1.5", "≥ 0"),
    ("outcomes.csv", lambda r: True, "se", "-0.2", "≥ 0"),
    ("outcomes.csv", lambda r: True, "study_id", "no_such_study", "study_id of studies.csv"),
    ("outcomes.csv", lambda r: True, "arm_role", "experimental", "treatment, control, single"),
    ("outcomes.csv", lambda r: True, "derived", "yes", "true or false"),
    ("outcomes.csv", lambda r: True, "events", "twelve", "integer"),
    ("outcomes.csv", lambda r: True, "source_url", "", "required"),
    ("studies.csv", lambda r: r["pmid"] != "", "pmid", "PMID12345", "digits only"),
    ("studies.csv", lambda r: r["doi"] != "", "doi", "https://doi.org/10.1000/x", "DOI"),
    ("studies.csv", lambda r: True, "design", "randomised", "rct, crossover_rct"),
    ("studies.csv", lambda r: True, "indication", "migraine", "indication or topic"),
    (
        "studies.csv",
        lambda r: r["route"] == "oral" and r["dose_unit"] == "mg/day",
        "dose_unit",
        "ug/day",
        "unit for route oral",
    ),
    (
        "studies.csv",
        lambda r: r["dose_min"] != "" and r["dose_max"] != "",
        "dose_min",
        "9999",
        "dose_min ≤ dose_max",
    ),
    ("study_effects.csv", lambda r: True, "direction", "better", "favours_<drug>"),
    ("study_effects.csv", lambda r: True, "direction", "favours_aspirin", "protocol's drug"),
    ("study_effects.csv", lambda r: True, "study_id", "ghost_2001", "study_id of studies.csv"),
    ("published_syntheses.csv", lambda r: True, "review_id", "ghost_review", "study_id"),
    ("published_syntheses.csv", lambda r: True, "i2", "140", "≤ 100"),
    ("dosing_facts.csv", lambda r: True, "formulation", "patch", "oral, intrathecal"),
    ("pubmed_records.csv", lambda r: r["pmid"] != "", "pmid", "0123", "digits only"),
    ("risk_of_bias.csv", lambda r: True, "overall", "moderate", "low, some_concerns, high"),
    ("risk_of_bias.csv", lambda r: True, "domain_measurement", "unclear", "no_information"),
    ("risk_of_bias.csv", lambda r: True, "domain_selection", "", "required"),
    ("risk_of_bias.csv", lambda r: True, "blinding", "blinded", "double_blind, single_blind"),
    ("risk_of_bias.csv", lambda r: True, "analysis_population", "ITT", "itt, modified_itt"),
    ("risk_of_bias.csv", lambda r: True, "industry_funding", "maybe", "yes, no"),
    ("risk_of_bias.csv", lambda r: True, "study_id", "ghost_2001", "study_id of studies.csv"),
    ("risk_of_bias.csv", lambda r: True, "source_url", "", "required"),
    ("risk_of_bias.csv", lambda r: r["overall"] == "high", "overall", "some_concerns", "is high"),
    (
        "risk_of_bias.csv",
        lambda r: r["overall"] != "high" and "high" not in r.values(),
        "overall",
        "low",
        "every domain is low",
    ),
]


@pytest.mark.parametrize(
    ("file", "pred", "field", "value", "expect"),
    BREAKS,
    ids=[f"{b[0]}:{b[2]}={b[3]}" for b in BREAKS],
)
def test_each_kind_of_bad_input_is_named(data_copy: Path, file, pred, field, value, expect) -> None:
    path = data_copy / file
    index, _row = csvedit.find_row(path, pred)
    header, rows = csvedit.read(path)
    rows[index][header.index(field)] = value
    csvedit.write(path, header, rows)
    line = csvedit.line_of(path, index)

    found = [
        i for i in issues_of(data_copy) if i.file == file and i.row == line and i.field == field
    ]
    assert found, f"no issue on {file}:{line} {field}; got {issues_of(data_copy)[:5]}"
    assert expect in found[0].expected
    assert found[0].found == value


def test_risk_of_bias_row_per_study_and_only_for_randomised_trials(data_copy: Path) -> None:
    path = data_copy / "risk_of_bias.csv"
    header, rows = csvedit.read(path)
    rows.append(list(rows[0]))
    csvedit.write(path, header, rows)
    dup = [
        i for i in issues_of(data_copy) if i.file == "risk_of_bias.csv" and "unique" in i.expected
    ]
    assert [(i.row, i.field) for i in dup] == [(csvedit.line_of(path, len(rows) - 1), "study_id")]
    assert f"line {csvedit.line_of(path, 0)}" in dup[0].expected

    sid = rows[1][header.index("study_id")]
    csvedit.set_cell(data_copy / "studies.csv", {"study_id": sid}, "design", "cohort")
    found = [i for i in issues_of(data_copy) if i.file == "risk_of_bias.csv" and i.found == sid]
    assert [(i.row, i.field) for i in found] == [(csvedit.line_of(path, 1), "study_id")]
    assert "randomised trial" in found[0].expected and "cohort" in found[0].expected


def test_a_protocol_without_risk_of_bias_needs_no_file(data_copy: Path) -> None:
    (data_copy / "risk_of_bias.csv").unlink()
    assert [i.field for i in issues_of(data_copy)] == ["(file)"]  # the protocol names it
    proto = load_protocol(data_copy / "protocols" / "baclofen.yaml")
    bare = proto.model_copy(update={"files": proto.files.model_copy(update={"risk_of_bias": None})})
    assert validate_inputs(data_copy, bare)[1] == []


def test_dose_column_must_match_route(data_copy: Path) -> None:
    path = data_copy / "outcomes.csv"
    line = csvedit.set_cell(
        path, {"study_id": "addolorato_2002", "arm_role": "treatment"}, "dose_ug_day", "30"
    )
    found = [i for i in issues_of(data_copy) if i.row == line and i.field == "dose_ug_day"]
    assert found and "dose_mg_day for route oral" in found[0].expected


def test_duplicate_keys_are_reported_with_both_lines(data_copy: Path) -> None:
    path = data_copy / "outcomes.csv"
    header, rows = csvedit.read(path)
    rows.append(list(rows[3]))
    csvedit.write(path, header, rows)
    dup = [i for i in issues_of(data_copy) if i.field == "row_id" and "unique" in i.expected]
    assert len(dup) == 1
    assert dup[0].row == csvedit.line_of(path, len(rows) - 1)
    assert f"line {csvedit.line_of(path, 3)}" in dup[0].expected


def test_missing_column_is_named(data_copy: Path) -> None:
    path = data_copy / "study_effects.csv"
    header, rows = csvedit.read(path)
    col = header.index("direction")
    csvedit.write(
        path,
        [h for j, h in enumerate(header) if j != col],
        [[v for j, v in enumerate(r) if j != col] for r in rows],
    )
    found = [i for i in issues_of(data_copy) if i.file == "study_effects.csv"]
    assert found and found[0].field == "direction" and found[0].row == 1


def test_citation_pointing_at_unknown_study(data_copy: Path) -> None:
    path = data_copy / "citations" / "baclofen.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("study_id: liebman_1980", "study_id: nobody_1900", 1), "utf-8")
    found = [i for i in issues_of(data_copy) if i.file == "citations/baclofen.yaml"]
    assert [(i.row, i.field, i.found) for i in found] == [
        ("citations[0].candidates[0]", "study_id", "nobody_1900")
    ]


def test_all_errors_in_one_pass_exit_1_and_inputs_untouched(data_copy: Path) -> None:
    csvedit.set_cell(data_copy / "studies.csv", {"study_id": "addolorato_2002"}, "design", "xx")
    csvedit.set_cell(data_copy / "outcomes.csv", {"row_id": "addolorato_2002-01"}, "n", "-4")
    csvedit.set_cell(data_copy / "dosing_facts.csv", {"row_id": "oral-01"}, "formulation", "gel")
    before = tree_digest(data_copy)
    result = runner.invoke(app, ["validate", "--data", str(data_copy)])
    assert result.exit_code == 1
    out = result.output
    assert "studies.csv:2: design: found 'xx'" in out
    assert "outcomes.csv:2: n: found '-4'" in out
    assert "dosing_facts.csv:2: formulation: found 'gel'" in out
    assert "3 problem(s)" in out
    assert tree_digest(data_copy) == before


def test_unknown_protocol_is_a_clear_error(data_copy: Path) -> None:
    result = runner.invoke(app, ["validate", "--data", str(data_copy), "--protocol", "nodrug"])
    assert result.exit_code == 1
    assert "nodrug.yaml: protocol file not found" in result.output
