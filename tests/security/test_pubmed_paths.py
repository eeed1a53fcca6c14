"""The PubMed commands: protocol names and PMIDs are ids, never paths; their CSVs are inert."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.cache import read_record
from evidence.pubmed.resolve import Resolution, resolutions_csv
from tests.conftest import RAW


@pytest.mark.parametrize("name", ["../x", "..", "a/../../b", "/etc/passwd-not-yaml"])
def test_fetch_refuses_a_protocol_name_that_is_a_path_with_a_message(
    tmp_path: Path, name: str
) -> None:
    result = CliRunner().invoke(
        app, ["fetch", "--protocol", name, "--data", str(RAW), "--processed", str(tmp_path)]
    )
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "protocol" in result.output.lower()


@pytest.mark.parametrize("bad", ["١٢٣", "0123", "12a", "../1", ""])
def test_the_cache_takes_only_ascii_pmids(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not a PMID"):
        read_record(tmp_path, bad)
    assert read_record(tmp_path, "123") is None


def test_fetch_refuses_pmids_that_are_not_ascii_digits(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["fetch", "--pmids", "123,١٢٣", "--data", str(tmp_path), "--processed", str(tmp_path)]
    )
    assert result.exit_code == 2
    assert "not PMIDs" in result.output


def test_resolutions_written_for_reviewers_hold_no_formula() -> None:
    text = resolutions_csv(
        [
            Resolution(
                "s1", "unresolved", detail='=HYPERLINK("http://evil.example")', query="@SUM(1)"
            )
        ]
    )
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["detail"] == '\'=HYPERLINK("http://evil.example")'
    assert row["query"] == "'@SUM(1)"
    assert row["study_id"] == "s1"


def test_the_screening_queue_is_inert_in_a_spreadsheet_and_reads_back_exactly(
    tmp_path: Path,
) -> None:
    from evidence.pubmed.search import QueueRow, load_queue, write_queue

    title = '=HYPERLINK("http://evil.example/?x","open")'
    row = QueueRow("123", "baclofen", "pain", "2026-11-27", title, "rct", "@SUM(1) in text")
    write_queue(tmp_path / "queue.csv", [row])
    cells = next(csv.DictReader(io.StringIO((tmp_path / "queue.csv").read_text("utf-8"))))
    assert cells["title"] == "'" + title and cells["design_reason"] == "'@SUM(1) in text"
    assert load_queue(tmp_path / "queue.csv") == [row]
