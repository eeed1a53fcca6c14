"""References in a real browser: every source link lands on a numbered reference on the page,
no reference text begins with an internal id, and secondary copies are marked where seen."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from tests.conftest import RAW
from tests.report.test_browser import ARGS, CHROMIUM, needs_chromium, sync_api


@needs_chromium
def test_every_source_link_resolves_to_a_reference_and_none_begins_with_an_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "raw"
    shutil.copytree(RAW, data)  # with the PubMed cache: references come from its records
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-27")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--no-orchestrator",
            "--data",
            str(data),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    with (data / "studies.csv").open(encoding="utf-8") as fh:
        ids = {row["study_id"] for row in csv.DictReader(fh)}
    page_path = tmp_path / "r" / "baclofen" / "index.html"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(page_path.as_uri())
        refs = page.locator("#references-list > li")
        assert refs.count() == len(ids)
        targets = set(page.eval_on_selector_all("#references-list > li", "l => l.map(e => e.id)"))
        hrefs = page.eval_on_selector_all(
            "table a[href^='#'], figcaption a[href^='#']", "l => l.map(e => e.getAttribute('href'))"
        )
        cites = [h for h in hrefs if h.startswith("#ref-")]
        assert len(cites) > 100 and {h[1:] for h in cites} <= targets
        # No source in a table is left as a bare PMID or DOI link beside the numbering.
        stray = page.locator("table a[href^='https://pubmed'], table a[href^='https://doi.org']")
        assert stray.count() == 0
        assert page.locator("figcaption a.cite").count() > 0
        texts = page.locator("#references-list .ref-text").all_inner_texts()
        assert len(texts) == len(ids)
        assert [t for t in texts if any(t.startswith(i) for i in ids)] == []
        visible = page.locator("#references-list").inner_text()
        assert not any(f" {i} " in f" {visible} " for i in ids if "_" in i)
        assert page.locator("#references-list .mark").count() > 0
        assert page.locator("#references-list .secondary").count() > 0
        page.locator("#references").scroll_into_view_if_needed()
        shot = tmp_path / "references.png"
        page.screenshot(path=str(shot))
        browser.close()
    print(f"screenshot: {shot}")
    assert shot.stat().st_size > 10_000
