"""The PRISMA 2020 flow in a real browser: the numbers in the rendered boxes add up, and every
line of text sits inside its box."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed.cache import cached_pmids
from tests.conftest import RAW
from tests.report.test_browser import ARGS, CHROMIUM, needs_chromium, sync_api

N = re.compile(r"\(n\s*=\s*(\d+)\)")
BOXES = (
    "identified",
    "duplicates",
    "awaiting",
    "screened",
    "excluded",
    "sought",
    "not-retrieved",
    "assessed",
    "reports-excluded",
    "included",
)


def _cli(*args: str) -> None:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output


@needs_chromium
def test_prisma_boxes_add_up_in_the_rendered_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-27")
    data = tmp_path / "raw"
    shutil.copytree(RAW, data)  # with the PubMed cache: its records are duplicates of studies
    screen = ["screen", "--data", str(data), "--reviewer", "T. Ester", "--date", "2026-12-01"]
    _cli(*screen, "study:milla_cp", "--decision", "exclude", "--reason", "wrong_design")
    _cli(*screen, "study:leo_2005", "--decision", "not_retrieved")
    _cli(*screen, "study:ulloque_1986", "--decision", "exclude_report", "--reason", "no_question")
    _cli(
        "run", "--no-orchestrator", "--data", str(data),
        "--processed", str(tmp_path / "p"), "--reports", str(tmp_path / "r"),
    )  # fmt: skip
    page_path = tmp_path / "r" / "baclofen" / "index.html"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        flow = page.locator("#prisma-flow svg")
        assert flow.count() == 1
        flow.scroll_into_view_if_needed()
        counts: dict[str, list[int]] = {}
        for name in BOXES:
            box = page.locator(f"#prisma-{name}")
            assert box.count() == 1, name
            lines = box.locator("text").all_text_contents()
            joined = " ".join(lines).replace("\u00a0", " ")
            counts[name] = [int(n) for n in N.findall(re.sub(r"\s+", " ", joined))]
            assert counts[name], (name, lines)
            rect = box.locator("rect").bounding_box()
            assert rect is not None
            for text in box.locator("text").all():
                tb = text.bounding_box()
                assert tb is not None
                right = rect["x"] + rect["width"]
                inside = rect["x"] <= tb["x"] and tb["x"] + tb["width"] <= right
                assert inside, (name, text.text_content())
        shot = tmp_path / "prisma.png"
        flow.screenshot(path=str(shot))
        browser.close()
    print(f"screenshot: {shot}")
    head = {k: v[0] for k, v in counts.items()}
    identified, *per_source = counts["identified"]
    assert sum(per_source) == identified
    assert identified - head["duplicates"] == head["screened"] + head["awaiting"]
    assert head["screened"] - head["excluded"] == head["sought"]
    assert head["sought"] - head["not-retrieved"] == head["assessed"]
    assert head["assessed"] - head["reports-excluded"] == head["included"]
    assert sum(counts["excluded"][1:]) == head["excluded"] == 1
    assert sum(counts["reports-excluded"][1:]) == head["reports-excluded"] == 1
    assert head["not-retrieved"] == 1
    # the bundled data: every study is a record, and so is every cached PubMed record, which
    # duplicates the study carrying its PMID; every study was imported as included
    studies = list(csv.DictReader((data / "studies.csv").open(encoding="utf-8", newline="")))
    pubmed = list(csv.DictReader((data / "pubmed_records.csv").open(encoding="utf-8")))
    pmids = {r["pmid"] for r in studies + pubmed if r["pmid"]}
    cached = set(cached_pmids(data / "pubmed"))
    assert (identified, head["duplicates"]) == (len(studies) + len(cached), len(cached & pmids))
    assert head["awaiting"] == len(cached - pmids)
    assert head["included"] == len(studies) - 3
    assert shot.stat().st_size > 5_000
