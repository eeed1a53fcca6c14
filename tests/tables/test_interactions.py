"""Interactions: human evidence first, each study typed and graded by the rule set."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from evidence.inputs.protocol import InteractionSpec
from evidence.rating.rules import load_rules
from evidence.tables.interactions import (
    NOT_RATED,
    InteractionRules,
    evidence_items,
    interaction_row,
)
from tests.conftest import RAW

STUDY_COLS = ["study_id", "design", "species", "n_total"]
EFFECT_COLS = ["row_id", "study_id", "outcome", "measure", "estimate", "ci_low", "ci_high"]
EFFECT_COLS += ["p_value", "direction", "text_seen"]
ARM_COLS = ["row_id", "study_id", "outcome", "arm", "arm_role", "n", "events"]


@pytest.fixture(scope="module")
def rules() -> InteractionRules:
    """The bundled rule set's section: the rules under test are the ones the runs use."""
    return InteractionRules.from_section(
        load_rules(RAW / "rules" / "evidence_levels_v2.yaml").interactions
    )


def studies(*rows: tuple[str, str, str, object]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=STUDY_COLS)


def effects(*rows: dict[str, object]) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in EFFECT_COLS} for r in rows], columns=EFFECT_COLS)


NO_ARMS = pd.DataFrame(columns=ARM_COLS)
SPEC = InteractionSpec(row="X with Y", outcomes=["event_y"], studies=["mouse_a", "mouse_b"])
ANIMALS = [("mouse_a", "animal", "animal", None), ("mouse_b", "animal", "animal", None)]
COHORT_HR = {
    "row_id": "cohort_c-01",
    "study_id": "cohort_c",
    "outcome": "event_y",
    "measure": "adjusted HR",
    "estimate": "1.8",
    "ci_low": "1.1",
    "ci_high": "3.0",
    "direction": "favours_control",
    "text_seen": "drug + Y vs Y alone",
}


OUTCOME_ONLY = InteractionSpec(row="X with Y", outcomes=["event_y"])


def row(
    st: pd.DataFrame,
    eff: pd.DataFrame,
    rules: InteractionRules,
    ids: tuple[str, ...] = (),
    spec: InteractionSpec = SPEC,
) -> dict:
    items = evidence_items(st, eff, NO_ARMS, list(ids), spec, rules)
    return interaction_row(spec.row, "", [], items, rules, {})


def test_animal_only_interaction_is_labelled_animal_with_the_lowest_strength(
    rules: InteractionRules,
) -> None:
    got = row(studies(*ANIMALS), effects(), rules)
    assert got["evidence_type"] == "animal"
    assert got["strength"] == rules.strengths[-1]
    assert got["results"] == ""
    assert got["evidence"] == "animal 2"


def test_a_cohort_hazard_ratio_outranks_animal_work(rules: InteractionRules) -> None:
    st = studies(*ANIMALS, ("cohort_c", "cohort", "human", 5000))
    got = row(st, effects(COHORT_HR), rules)
    assert got["evidence_type"] == "human cohort"
    assert rules.rank(got["strength"]) < rules.rank("very low")
    assert "adjusted HR 1.8 (1.1–3.0)" in got["results"]
    assert got["directions"] == "favours_control 1"
    # The animal work stays, labelled as such, behind the human evidence.
    assert got["evidence"] == "human cohort 1 (5000 participants); animal 2"


def test_a_cohort_without_a_result_on_the_interaction_is_listed_not_counted(
    rules: InteractionRules,
) -> None:
    st = studies(*ANIMALS, ("cohort_c", "cohort", "human", 400))
    other = COHORT_HR | {"outcome": "something_else"}
    got = row(st, effects(other), rules, ids=("cohort_c",))
    assert got["evidence_type"] == "animal"
    assert "cohort_c (human cohort)" in got["reasons"]


def test_contrasts_not_of_the_drug_itself_are_left_out(rules: InteractionRules) -> None:
    st = studies(*ANIMALS, ("cohort_c", "cohort", "human", None))
    other_drug = COHORT_HR | {"estimate": "4.0", "ci_low": "3.0", "ci_high": "5.0"}
    other_drug |= {"direction": "unclear", "text_seen": "another drug + Y vs Y alone"}
    got = row(st, effects(other_drug), rules)
    assert got["evidence_type"] == "animal"
    assert "4.0" not in got["results"]
    assert "1 contrasts not of the drug itself left out" in got["reasons"]


@pytest.mark.parametrize(
    ("ci_low", "ci_high", "raised"),
    [("2.5", "6.0", True), ("1.5", "6.0", False), ("0.1", "0.4", True), ("0.1", "0.6", False)],
)
def test_a_large_observational_effect_raises_the_strength_one_step(
    rules: InteractionRules, ci_low: str, ci_high: str, raised: bool
) -> None:
    st = studies(("cohort_c", "cohort", "human", None))
    eff = effects(COHORT_HR | {"ci_low": ci_low, "ci_high": ci_high})
    got = row(st, eff, rules, spec=OUTCOME_ONLY)
    base = next(t.strength for t in rules.evidence_types if t.type == "human cohort")
    assert base is not None
    assert got["strength"] == (rules.raised(base) if raised else base)


def test_reviews_are_listed_never_counted(rules: InteractionRules) -> None:
    st = studies(("review_r", "meta_analysis", "human", None))
    # A review's own outcome (say, a drinking outcome) is not a result on the interaction.
    review_effect = COHORT_HR | {"study_id": "review_r", "outcome": "drinking_days"}
    got = row(st, effects(review_effect), rules, ids=("review_r",), spec=OUTCOME_ONLY)
    assert got["evidence_type"] == NOT_RATED and got["strength"] == NOT_RATED
    assert "review_r (review or secondary source)" in got["reasons"]


def test_a_protocol_row_naming_an_unknown_study_is_refused(rules: InteractionRules) -> None:
    with pytest.raises(ValueError, match=r"interactions, row 'X with Y'.*mouse_b"):
        evidence_items(studies(ANIMALS[0]), effects(), NO_ARMS, [], SPEC, rules)


def test_a_rule_set_naming_an_unknown_strength_is_refused() -> None:
    bad = {
        "strengths": ["high", "low"],
        "evidence_types": [{"type": "animal", "species": ["animal"], "strength": "medium"}],
    }
    with pytest.raises(ValueError, match="medium"):
        InteractionRules.from_section(bad)
    with pytest.raises(ValueError, match="no `interactions` section"):
        InteractionRules.from_section({})


def test_bundled_interactions_rest_on_human_evidence_first(
    bundled_run: tuple[Path, Path],
) -> None:
    processed, reports = bundled_run
    table = pd.read_csv(processed / "table_interactions.csv", dtype=str)
    by_row = table.set_index("interaction_type")
    cns = by_row.loc["CNS Depressants"]
    assert cns["evidence_type"] == "human cohort"
    assert "li_2020" in cns["results"] and "opioid_smr_overdose_2022" in cns["results"]
    # The meta-analysis the article cites is listed, and its pooled outcomes are not results.
    assert "pierce_2018 (review or secondary source)" in cns["reasons"]
    assert "pierce_2018" not in cns["results"]
    assert by_row.loc["Renal Impairment", "evidence_type"] == "human cohort"
    assert by_row.loc["Pharmacodynamic", "evidence_type"] in {"animal", "mechanistic"}
    report = (reports / "report.md").read_text(encoding="utf-8")
    assert "| CNS Depressants |" in report and "human cohort" in report
