"""The figures in a real browser: whole labels, study names not ids, a funnel plot or its reason."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from evidence.cli import app
from tests.report.test_browser import ARGS, CHROMIUM, needs_chromium, sync_api

# Per figure: every <text>'s box as drawn (client rectangles, so rotated labels count as drawn)
# relative to its SVG's box; study rows' cells.
_BOXES = """svg => {
  const s = svg.getBoundingClientRect();
  const texts = [...svg.querySelectorAll('text')].map(t => {
    const b = t.getBoundingClientRect();
    let g = t.parentElement; while (g && !g.id) g = g.parentElement;
    return {text: t.textContent, x: b.left - s.left, y: b.top - s.top, w: b.width, h: b.height,
            id: g ? g.id : ''};
  });
  return {vb: [0, 0, s.width, s.height], texts};
}"""


@needs_chromium
def test_figures_show_whole_labels_study_names_and_a_funnel_or_its_reason(
    data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EVIDENCE_RUN_DATE", "2026-11-27")
    out = tmp_path / "r"
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
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    ids = set(pd.read_csv(data_copy / "studies.csv", dtype=str)["study_id"])
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto((out / "baclofen" / "index.html").as_uri())
        figures = page.locator("#figures ~ figure")
        forests = page.locator("figure.forest")
        assert forests.count() > 0
        rows_seen = 0
        for i in range(figures.count()):
            fig = figures.nth(i)
            data = fig.locator("svg").evaluate(_BOXES)
            x0, y0, w, h = data["vb"]
            for t in data["texts"]:
                if not t["text"].strip():
                    continue
                # every label whole: its box lies inside the figure
                assert t["x"] >= x0 - 0.5 and t["x"] + t["w"] <= x0 + w + 0.5, t
                assert t["y"] >= y0 - 0.5 and t["y"] + t["h"] <= y0 + h + 0.5, t
                # no internal id in any visible label
                words = set(re.findall(r"[A-Za-z0-9_]+", t["text"]))
                assert not words & ids, t["text"]
            rows: dict[str, set[str]] = {}
            for t in data["texts"]:
                m = re.search(r"studyrow-(\d+)-([lr]\d+)$", t["id"])
                if m:
                    assert t["text"].strip(), t  # a cell is never blank
                    rows.setdefault(m.group(1), set()).add(m.group(2))
            if "forest" in (fig.get_attribute("class") or ""):
                assert rows, "a forest plot with no study rows"
                cols = max(len(c) for c in rows.values())
                assert cols >= 3  # study, weight, effect and interval (+ arm columns)
                assert all(len(c) == cols for c in rows.values()), rows
                rows_seen += len(rows)
            fig.screenshot(path=str(tmp_path / f"figure-{i:02d}.png"))
        # a funnel plot or its reason for every pooled outcome (one forest plot each)
        for i in range(forests.count()):
            forest = forests.nth(i)
            key = (forest.get_attribute("id") or "").removesuffix("-forest")
            funnel = page.locator(f'figure.funnel[id="{key}-funnel"]')
            note = forest.locator(".figure-note").all_inner_texts()
            assert funnel.count() == 1 or any(
                n.startswith("Funnel plot not drawn: k = ") for n in note
            ), key
        page.locator("#figures").scroll_into_view_if_needed()
        page.screenshot(path=str(tmp_path / "figures.png"), full_page=False)
        browser.close()
    assert rows_seen > 0
    print(f"screenshots: {tmp_path}/figures.png and {tmp_path}/figure-*.png")
