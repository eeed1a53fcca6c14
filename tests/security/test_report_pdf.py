"""`evidence report --pdf`: clear errors when Chromium or the report is missing, and the PDF's
dates fixed in place so that a reprint of the same report gives the same bytes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.report.pdf import (
    CHROMIUM_ENV,
    PdfError,
    find_chromium,
    fixed_dates,
    fixed_node_ids,
    report_date,
)
from tests.conftest import RAW

PDF = (
    b"%PDF-1.4\n1 0 obj\n<</Creator (x)\n/CreationDate (D:20261127211752+00'00')\n"
    b"/ModDate (D:20261127211753+00'00')>>\nendobj\nxref\n"
)


def test_dates_are_replaced_in_place_keeping_every_offset() -> None:
    out = fixed_dates(PDF, "20261101000000")
    assert len(out) == len(PDF)
    assert out.count(b"(D:20261101000000+00'00')") == 2
    assert out.replace(b"20261101000000", b"X") == PDF.replace(b"20261127211752", b"X").replace(
        b"20261127211753", b"X"
    )
    with pytest.raises(ValueError, match="14 digits"):
        fixed_dates(PDF, "2026-11-01")


def test_structure_ids_are_renumbered_by_rank_in_place() -> None:
    def tagged(base: int) -> bytes:
        return (
            f"<</S /TH /ID (node{base + 7:08d})>>\n<</S /TD /ID (node{base + 3:08d})>>\n"
            f"/Names [(node{base + 3:08d}) 5 0 R (node{base + 7:08d}) 6 0 R]"
        ).encode()

    a, b = tagged(56), tagged(57)  # the DOM counter one apart between two loads
    assert a != b and fixed_node_ids(a) == fixed_node_ids(b)
    out = fixed_node_ids(a)
    assert len(out) == len(a)
    assert out.endswith(b"/Names [(node00000000) 5 0 R (node00000001) 6 0 R]")  # still sorted


def test_run_date_comes_from_the_page_metadata() -> None:
    assert report_date('<meta name="dcterms.date" content="2026-11-27">') == "20261127000000"
    assert report_date("<html></html>") is None


def test_missing_chromium_names_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(CHROMIUM_ENV, raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing executable there
    with pytest.raises(PdfError, match=r"Chromium is not installed.*apt-get install chromium"):
        find_chromium()
    monkeypatch.setenv(CHROMIUM_ENV, str(tmp_path / "chrome"))
    with pytest.raises(PdfError, match=f"chrome \\(from --chromium or \\${CHROMIUM_ENV}\\)"):
        find_chromium()


def test_report_without_a_run_says_so_and_writes_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--pdf",
            "--data",
            str(RAW),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(reports),
        ],
    )
    assert result.exit_code == 1
    assert "index.html: no report yet; run `evidence run` first" in result.output
    assert not reports.exists() or not any(reports.rglob("*.pdf"))


def test_a_failing_chromium_leaves_no_partial_pdf(tmp_path: Path) -> None:
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display' >&2\nexit 3\n", encoding="utf-8")
    fake.chmod(0o755)
    reports = tmp_path / "r" / "baclofen"
    reports.mkdir(parents=True)
    (reports / "index.html").write_text("<html></html>", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--pdf",
            "--chromium",
            str(fake),
            "--data",
            str(RAW),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 1
    assert "failed to print" in result.output and "exit 3" in result.output
    assert "cannot open display" in result.output
    assert sorted(p.name for p in reports.iterdir()) == ["index.html"]
