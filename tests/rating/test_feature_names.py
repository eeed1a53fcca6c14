"""The feature names a rule set may test (declared in evidence.rating.rules, which `evidence
validate` checks rule sets against) are exactly the names the rating code computes: a feature
added, renamed or dropped on one side only fails here."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from evidence import pipeline
from evidence.rating import comparisons
from evidence.rating.features import IndicationFeatures
from evidence.rating.rules import (
    CLAIM_FEATURES,
    COMPARISON_FEATURES,
    INDICATION_FEATURES,
    INTERACTION_FEATURES,
)
from evidence.runs.workspace import Workspace
from evidence.tables import claims_audit
from tests.conftest import RAW

# fields of IndicationFeatures a rule can compare (the others are labels and breakdowns)
RULE_TYPES = {"int", "float", "float | None", "bool"}


def test_interaction_features_are_the_computed_ones() -> None:
    fields = dataclasses.fields(IndicationFeatures)
    computed = {f.name for f in fields if str(f.type) in RULE_TYPES}
    assert computed == set(INTERACTION_FEATURES)
    assert {f.name for f in fields} - computed == {
        "indication",
        "placebo_directions",
        "active_directions",
        "study_ids",
    }


def _bundled_run(tmp_path: Path) -> Any:
    ws = Workspace(RAW, tmp_path / "p", tmp_path / "r")
    snapshot = pipeline.load(ws, None)
    tab = pipeline.tabulate(snapshot)
    analyses = pipeline.pool(snapshot, tab)
    rules = RAW / snapshot.protocol.rating.rule_set
    return ws, snapshot, tab, analyses, pipeline.rate(snapshot, tab, analyses, rules)


def test_comparison_and_indication_features_are_the_computed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[set[str]] = []
    real = comparisons.rate_with

    def record(levels: Any, version: str, features: dict[str, Any], summary: str) -> Any:
        seen.append(set(features))
        return real(levels, version, features, summary)

    monkeypatch.setattr(comparisons, "rate_with", record)
    _bundled_run(tmp_path)
    declared = [set(COMPARISON_FEATURES), set(INDICATION_FEATURES)]
    assert seen and all(names in declared for names in seen), seen
    assert all(names in seen for names in declared)


def test_claim_features_are_the_computed_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: set[str] = set()
    real = claims_audit.decide

    def record(rules: Any, assertion: str, features: dict[str, Any], *args: Any) -> Any:
        seen.update(features)
        return real(rules, assertion, features, *args)

    monkeypatch.setattr(claims_audit, "decide", record)
    ws, snapshot, tab, analyses, ratings = _bundled_run(tmp_path)
    ctx = pipeline.load_context(ws, snapshot)
    pipeline.report(snapshot, tab, analyses, ratings, ctx)
    assert seen == set(CLAIM_FEATURES)
