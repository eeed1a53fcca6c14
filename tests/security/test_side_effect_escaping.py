"""Text from side-effect rows (row names, arm labels, outcome definitions) stays text in reports."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import RAW, synthesize
from tests.foundation import csvedit
from tests.security.hostile import IMG, SCRIPT, Page, html_problems, markdown_problems

ROW = f"Drowsiness {SCRIPT}\u2029# injected side-effect heading"
ARM = f"drug | arm {IMG}\u2028- injected list item"
DEFINITION = f"transient drowsiness [x](http://evil.example) {SCRIPT}"
SIGNAL_ARM = f"overdose cases\x0b## injected signal heading {IMG}"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("side_effect_text")
    data = tmp / "raw"
    shutil.copytree(RAW, data, ignore=shutil.ignore_patterns("pubmed"))
    path = data / "protocols" / "baclofen.yaml"
    proto = yaml.safe_load(path.read_text(encoding="utf-8"))
    proto["side_effects"][0]["row"] = ROW
    path.write_text(yaml.safe_dump(proto, allow_unicode=True), encoding="utf-8")
    outcomes = data / "outcomes.csv"
    csvedit.set_cell(outcomes, {"row_id": "mckinlay_1980-05"}, "arm", ARM)
    csvedit.set_cell(outcomes, {"row_id": "mckinlay_1980-05"}, "outcome_definition", DEFINITION)
    csvedit.set_cell(outcomes, {"row_id": "leung_2006-01"}, "arm", SIGNAL_ARM)
    result = synthesize(data, tmp / "processed", tmp / "reports")
    assert result.exit_code == 0, result.output
    return tmp


def test_side_effect_text_reaches_the_table_as_data(run: Path) -> None:
    side = pd.read_csv(run / "processed" / "baclofen" / "table_side_effects.csv")
    assert ROW in set(side["side_effect"])
    assert any(ARM in str(v) for v in side["exposed_groups"])
    assert any(SIGNAL_ARM in str(v) for v in side["signals"])


def test_side_effect_text_is_inert_in_the_html_and_markdown(run: Path) -> None:
    reports = run / "reports" / "baclofen"
    html = (reports / "index.html").read_text(encoding="utf-8")
    assert html_problems(html) == []
    text = Page(html).text
    assert SCRIPT in text and IMG in text and "injected side-effect heading" in text
    md = (reports / "report.md").read_text(encoding="utf-8")
    assert markdown_problems(md) == []
    assert "injected signal heading" in md and "&lt;script&gt;" in md
