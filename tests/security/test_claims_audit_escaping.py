"""The article's own text, audited claim by claim, stays text in claims_audit.csv and the report."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import RAW, synthesize
from tests.security.hostile import FORMULA, IMG, SCRIPT, Page, html_problems, markdown_problems

CELL = f"{FORMULA} {SCRIPT}\u2029# injected claim heading"
STATEMENT = f"@SUM(1+1) | {IMG}\u2028- injected list item [x](http://evil.example) [4]"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("claims_text")
    data = tmp / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    claims = data / "claims" / "baclofen.yaml"
    doc = yaml.safe_load(claims.read_text(encoding="utf-8"))
    doc["tables"]["side_effects"]["rows"][0]["reversibility"] = CELL
    claims.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    cites = data / "citations" / "baclofen.yaml"
    doc = yaml.safe_load(cites.read_text(encoding="utf-8"))
    doc["citations"][3]["claims"].append(STATEMENT)
    cites.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    result = synthesize(data, tmp / "processed", tmp / "reports")
    assert result.exit_code == 0, result.output
    return tmp


def test_claim_text_is_a_neutralised_cell(run: Path) -> None:
    audit = pd.read_csv(run / "processed" / "baclofen" / "claims_audit.csv", dtype=str)
    assert "'" + CELL in set(audit["claim"])  # a formula is shown, not run
    assert "'" + STATEMENT in set(audit["claim"])


def test_claim_text_is_inert_in_the_html_and_markdown(run: Path) -> None:
    reports = run / "reports" / "baclofen"
    html = (reports / "index.html").read_text(encoding="utf-8")
    assert html_problems(html) == []
    text = Page(html).text
    assert SCRIPT in text and IMG in text and "injected claim heading" in text
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert markdown_problems(md) == []
    assert "injected list item" in md and "&lt;script&gt;" in md
