"""The report in a real browser: headless Chromium opens the page from disk."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.report.render import render_html
from tests.conftest import RAW

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
needs_chromium = pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason="Chromium is not installed (make test installs it with apt-get where it can)",
)


@needs_chromium
def test_report_renders_with_tables_figures_links_and_no_console_errors(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-25")
    result = CliRunner().invoke(
        app,
        [
            "run",
            "--no-orchestrator",
            "--data",
            str(data_copy),
            "--processed",
            str(tmp_path / "p"),
            "--reports",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    page_path = tmp_path / "r" / "baclofen" / "index.html"
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: requests.append(r.url))
        page.goto(page_path.as_uri())
        assert page.title().startswith("Baclofen")
        uses = page.locator("#table-uses tr")
        assert uses.count() == 1 + 8  # header + one row per indication
        levels = page.locator("#table-uses td.level").all_inner_texts()
        assert set(levels) <= {
            "Strong",
            "Mixed",
            "Preclinical",
            "Experimental/limited",
            "Insufficient",
        }
        for table in (
            "#table-dosage",
            "#table-side-effects",
            "#table-interactions",
            "#table-agreement",
            "#table-provenance",
        ):
            assert page.locator(f"{table} tr").count() > 1, table
        figures = page.locator("figure svg")
        assert figures.count() > 0
        box = figures.first.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 50
        assert page.locator("#prisma-flow svg").count() == 1
        pubmed = page.locator('#references-list a[href^="https://pubmed.ncbi.nlm.nih.gov/"]')
        doi = page.locator('#references-list a[href^="https://doi.org/"]')
        assert pubmed.count() > 50 and doi.count() > 50
        page.locator('a[href="#agreement"]').click()
        assert page.locator("#agreement").is_visible()
        page.screenshot(path=str(tmp_path / "report.png"), full_page=False)
        browser.close()
    assert errors == []
    assert all(u.startswith("file://") for u in requests), requests
    assert (tmp_path / "report.png").stat().st_size > 10_000


def _loads_inert(browser: sync_api.Browser, page_path: Path) -> str:
    """Open the page; fail on any dialog, console message or image a script could have made.
    Returns the page's visible text."""
    dialogs: list[str] = []
    console: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: console.append(f"pageerror: {e}"))
    page.goto(page_path.as_uri(), wait_until="load")
    page.wait_for_timeout(200)  # let any handler a broken escaping planted fire
    assert page.evaluate("window.__x") is None, "an injected script ran"
    assert dialogs == [] and console == []
    assert page.locator("script").count() == 0 and page.locator("img").count() == 0
    text = page.locator("body").inner_text()
    page.close()
    return text


@needs_chromium
def test_hostile_labels_titles_and_ids_run_no_script_in_the_browser(tmp_path: Path) -> None:
    from tests.security import hostile

    data = tmp_path / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    hostile.make_hostile(data)
    result, cap = hostile.run_capturing(data, tmp_path / "p", tmp_path / "r")
    assert result.exit_code == 0, result.output
    ids_page = tmp_path / "r" / "baclofen" / "ids.html"  # beside figures/, as index.html is
    ids_page.write_text(render_html(hostile.hostile_ids_report(cap)), encoding="utf-8")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        text = _loads_inert(browser, tmp_path / "r" / "baclofen" / "index.html")
        assert hostile.IMG in text and hostile.SCRIPT in text  # shown, as text
        assert hostile.IMG in _loads_inert(browser, ids_page)
        browser.close()
