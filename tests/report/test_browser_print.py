"""Print and PDF in a real browser: the print stylesheet hides the navigation, and
`evidence report --pdf` gives a PDF with the page's section headings and the sensitivity
analyses under their pooled result, byte-identical when printed twice."""

from __future__ import annotations

import re
import shutil
import unicodedata
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.report.sensitivity import LINES
from evidence.synthesis.pool import EXCLUDING_DERIVED
from tests.conftest import RAW, ROOT
from tests.report.test_browser import ARGS, CHROMIUM, needs_chromium, sync_api

pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed (pip install -e '.[dev]')")

REPORT = ROOT / "reports" / "baclofen"


def _words(text: str) -> str:
    """Text with ligatures spelled out (NFKC: the PDF's "ﬁ") and every run of whitespace as
    one space, for matching headings across the PDF's line breaks."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    return re.sub(r"\s+", " ", text).strip()


def _pdf_pages(path: Path) -> list[str]:
    return [_words(page.extract_text() or "") for page in pypdf.PdfReader(str(path)).pages]


@needs_chromium
def test_pdf_has_the_pages_headings_and_sensitivity_rows_under_their_result(
    tmp_path: Path,
) -> None:
    reports = tmp_path / "r"
    shutil.copytree(REPORT, reports / "baclofen")
    (reports / "baclofen" / "report.pdf").unlink(missing_ok=True)
    args = [
        "report",
        "--pdf",
        "--chromium",
        CHROMIUM,
        "--data",
        str(RAW),
        "--processed",
        str(tmp_path / "p"),
        "--reports",
        str(reports),
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    pdf = reports / "baclofen" / "report.pdf"
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert pdf.read_bytes() == data, "a second print of the same report differs"
    assert b"/CreationDate (D:2026" in data or b"/CreationDate" not in data
    print(f"PDF: {pdf}")

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((reports / "baclofen" / "index.html").as_uri())
        headings = [_words(h) for h in page.locator("h2").all_inner_texts()]
        assert page.locator("nav").is_visible()
        # each sensitivity row's nearest pooled row above it is in the same table
        orphans = page.evaluate(
            """() => [...document.querySelectorAll('table.sof tr.sensitivity')].filter(tr => {
                let p = tr.previousElementSibling;
                while (p && p.classList.contains('sensitivity')) p = p.previousElementSibling;
                return !(p && p.classList.contains('pooled'));
            }).length"""
        )
        rows = page.locator("table.sof tr.sensitivity").count()
        page.emulate_media(media="print")
        assert not page.locator("nav").is_visible()
        shot = tmp_path / "print-media.png"
        page.screenshot(path=str(shot), full_page=False)
        print(f"screenshot: {shot}")
        browser.close()
    assert rows > 0 and orphans == 0

    pages = _pdf_pages(pdf)
    text = " ".join(pages)
    assert len(headings) >= 10
    # the print stylesheet starts every section but the first on a new page
    starts = [h for h in headings[1:] if not any(p.startswith(h) for p in pages)]
    assert not starts, f"sections not starting a page: {starts}"
    print(f"PDF pages: {len(pages)}")
    at = -1
    for h in headings:  # every section heading, in the page's order
        nxt = text.find(h, at + 1)
        assert nxt > at, f"heading {h!r} missing from the PDF or out of order"
        at = nxt
    # the alcohol abstinence result without derived values, under that result in the PDF
    sof = text.find("Summary of findings", text.find(headings[0]) + 1)
    alcohol = text.find("Alcohol", sof)
    abstinence = text.find("Abstinence", alcohol)
    label = f"Sensitivity: {LINES[EXCLUDING_DERIVED].label}"
    below = text.find(label, abstinence)
    assert -1 < sof < alcohol < abstinence < below, (sof, alcohol, abstinence, below)
    # nothing but that pooled result's own row and its other sensitivity rows in between
    between = text[abstinence:below]
    assert "Dropout" not in between and "Studies in no comparison" not in between


def test_pdf_without_chromium_fails_clearly_and_writes_nothing(tmp_path: Path) -> None:
    reports = tmp_path / "r"
    (reports / "baclofen").mkdir(parents=True)
    (reports / "baclofen" / "index.html").write_text(
        (REPORT / "index.html").read_text(encoding="utf-8"), encoding="utf-8"
    )
    result = CliRunner().invoke(
        app,
        [
            "report",
            "--pdf",
            "--chromium",
            str(tmp_path / "no-chromium"),
            "--data",
            str(RAW),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(reports),
        ],
    )
    assert result.exit_code == 1
    assert "Chromium not found at" in result.output and "no-chromium" in result.output
    assert not (reports / "baclofen" / "report.pdf").exists()
