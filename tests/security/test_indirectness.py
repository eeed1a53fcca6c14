"""GRADE indirectness judged from the pool's studies against the protocol's question.

Hand-made studies and questions: an active comparator in a placebo question, a subgroup
population above and below the rule set's weight share, a trial shorter than the question's
minimum, a surrogate outcome, nothing indirect, and fields that are not recorded.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import pytest

from evidence.inputs.protocol import (
    ComparisonSpec,
    Indication,
    OutcomeSpec,
    ProtocolError,
    load_protocol,
    parse_protocol,
)
from evidence.inputs.snapshot import Snapshot
from evidence.rating.indirectness import (
    IndirectnessRules,
    Question,
    judge_indirectness,
    pool_indirectness,
    question_of,
)
from evidence.rating.rules import load_rules
from evidence.synthesis.pool import pool_outcome
from evidence.tables.uses import grade_analysis
from tests.conftest import RAW

RULES = IndirectnessRules(serious_share=0.5, very_serious_sources=2, unknown="state")
PLACEBO_ORAL = Question(
    population="adults with condition A",
    indirect_population_terms=("cirrhosis", "HCV"),
    routes=("oral",),
    comparator="placebo",
    min_duration_weeks=12,
    outcome="Response",
)
COLUMNS = ["study_id", "population", "route", "comparator", "duration_weeks", "design"]


def study(sid: str, **over: Any) -> dict[str, Any]:
    row = {
        "study_id": sid,
        "population": "adults with condition A",
        "route": "oral",
        "comparator": "placebo",
        "duration_weeks": 12.0,
        "design": "rct",
    }
    return row | over


def judge(
    rows: list[dict[str, Any]],
    weights: dict[str, float],
    q: Question = PLACEBO_ORAL,
    rules: IndirectnessRules = RULES,
):
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return judge_indirectness(q, frame, list(weights), weights, rules, drug="drugx")


def test_active_comparator_in_placebo_question_is_serious() -> None:
    got = judge([study("p1"), study("a1", comparator="active:drug_y")], {"p1": 40.0, "a1": 60.0})
    assert got.judgement == "serious"
    assert got.downgrade == 1
    assert "comparator: 1 of 2 studies (60% of the weight) against active:drug_y" in got.reason
    assert "where the question is placebo (a1)" in got.reason


def test_usual_care_is_its_own_comparator_class() -> None:
    rows = [study("u1", comparator="active:standard care")]
    q = dataclasses.replace(PLACEBO_ORAL, comparator="usual_care")
    frame = pd.DataFrame(rows, columns=COLUMNS)
    usual = judge_indirectness(q, frame, ["u1"], {"u1": 1.0}, RULES, usual_care_terms=["standard"])
    assert usual.judgement == "no concern"
    assert "every study against usual care, as the question" in usual.reason
    # Without the protocol's usual-care terms the same control reads as another drug.
    drug = judge(rows, {"u1": 1.0}, q)
    assert drug.judgement == "serious"
    assert "against active:standard care where the question is usual care" in drug.reason
    placebo = judge_indirectness(
        PLACEBO_ORAL, frame, ["u1"], {"u1": 1.0}, RULES, usual_care_terms=["standard"]
    )
    assert placebo.judgement == "serious"


def test_active_name_outside_the_question_s_comparators() -> None:
    q = dataclasses.replace(PLACEBO_ORAL, comparator="active", comparator_names=("drug_y",))
    good = judge([study("a1", comparator="active:drug_y")], {"a1": 1.0}, q)
    other = judge([study("a2", comparator="active:drug_z")], {"a2": 1.0}, q)
    assert good.judgement == "no concern"
    assert other.judgement == "serious"
    assert "against active:drug_z where the question is active (drug_y)" in other.reason


@pytest.mark.parametrize(
    ("cirrhosis_weight", "expected"), [(60.0, "serious"), (50.0, "serious"), (40.0, "no concern")]
)
def test_population_subgroup_share_against_the_threshold(
    cirrhosis_weight: float, expected: str
) -> None:
    rows = [
        study("c1", population="adults with condition A and liver cirrhosis"),
        study("d1"),
    ]
    got = judge(rows, {"c1": cirrhosis_weight, "d1": 100.0 - cirrhosis_weight})
    assert got.judgement == expected
    share = f"{cirrhosis_weight:.0f}% of the weight"
    assert f"population: 1 of 2 studies ({share}) in cirrhosis populations (c1)" in got.reason
    assert "the question is adults with condition A" in got.reason
    assert ("below the 50% of the weight that is serious" in got.reason) == (
        expected == "no concern"
    )


def test_a_share_just_below_the_threshold_is_not_rounded_onto_it() -> None:
    rows = [study("c1", population="HCV and condition A"), study("d1")]
    got = judge(rows, {"c1": 49.6, "d1": 50.4})
    assert got.judgement == "no concern"
    assert "(49.6% of the weight) in HCV populations" in got.reason


def test_excluded_subgroup_does_not_make_the_population_indirect() -> None:
    rows = [study("x1", population="adults with condition A; cirrhosis excluded")]
    got = judge(rows, {"x1": 1.0})
    assert got.judgement == "no concern"
    assert "no study in a subgroup the protocol names as indirect (cirrhosis/HCV)" in got.reason


def test_short_trial_below_the_question_s_minimum() -> None:
    got = judge([study("s1", duration_weeks=4.0), study("l1")], {"s1": 70.0, "l1": 30.0})
    assert got.judgement == "serious"
    assert "shorter than the question's 12 weeks (4 weeks) (s1)" in got.reason


def test_outcome_minimum_overrides_the_indication_s() -> None:
    ind = Indication(
        id="use_a",
        label="Use A",
        pubmed_query="x",
        min_duration_weeks=12,
        outcomes=[
            OutcomeSpec(id="r", measure="RR", benefit="higher", label="R", min_duration_weeks=2)
        ],
    )
    spec = ComparisonSpec(id="c", label="c", comparator="placebo")
    q = question_of(ind, spec, ind.outcomes[0])
    assert q.min_duration_weeks == 2
    assert judge([study("s1", duration_weeks=4.0)], {"s1": 1.0}, q).judgement == "no concern"


def test_surrogate_outcome_is_serious_whatever_the_studies() -> None:
    q = dataclasses.replace(PLACEBO_ORAL, surrogate=True, surrogate_for="function")
    got = judge([study("p1")], {"p1": 1.0}, q)
    assert got.judgement == "serious"
    assert "outcome: Response is a surrogate for function (protocol)" in got.reason
    flagged = judge(
        [study("p1")], {"p1": 1.0}, dataclasses.replace(PLACEBO_ORAL, outcome_indirect=True)
    )
    assert flagged.judgement == "serious"
    assert "flagged indirect in the protocol" in flagged.reason


def test_two_serious_sources_are_very_serious() -> None:
    rows = [study("c1", population="veterans with chronic HCV", duration_weeks=4.0)]
    got = judge(rows, {"c1": 1.0})
    assert got.judgement == "very serious"
    assert got.downgrade == 2
    assert got.reason.startswith("2 serious sources of indirectness")


def test_nothing_indirect_says_what_was_checked() -> None:
    got = judge([study("p1"), study("p2")], {"p1": 1.0, "p2": 1.0})
    assert got.judgement == "no concern"
    assert got.reason.startswith("checked population, route, comparator, duration and outcome")
    for said in (
        "no study in a subgroup the protocol names as indirect",
        "every study oral, as the question",
        "every study against placebo, as the question",
        "no study shorter than the question's 12 weeks",
        "Response is not a surrogate",
    ):
        assert said in got.reason


def test_route_other_than_the_question_s() -> None:
    got = judge([study("i1", route="intrathecal")], {"i1": 1.0})
    assert got.judgement == "serious"
    assert "intrathecal where the question is oral" in got.reason


def test_unknown_duration_and_population_are_stated_not_taken_as_direct() -> None:
    rows = [study("u1", duration_weeks=None, population=None), study("p1")]
    got = judge(rows, {"u1": 80.0, "p1": 20.0})
    assert got.judgement == "no concern"
    assert "duration not recorded for 1 of 2 studies (80% of the weight): u1 (not counted)" in (
        got.reason
    )
    assert "population not recorded for 1 of 2 studies (80% of the weight): u1" in got.reason
    counting = judge(
        rows, {"u1": 80.0, "p1": 20.0}, rules=RULES.model_copy(update={"unknown": "count"})
    )
    assert counting.judgement == "very serious"
    assert "(counted as indirect)" in counting.reason


def test_a_study_without_a_record_is_named() -> None:
    got = judge([study("p1")], {"p1": 1.0, "ghost": 1.0})
    assert "no study record for ghost" in got.reason
    assert "comparator not recorded for 1 of 2 studies (50% of the weight): ghost" in got.reason


PROTOCOL_DATA: dict[str, Any] = {
    "protocol_id": "drugx",
    "version": "1.0.0",
    "title": "t",
    "drug": {"name": "drugx", "pubmed_term": "drugx"},
    "indications": [
        {
            "id": "use_a",
            "label": "Use A",
            "pubmed_query": "x",
            "comparator": "placebo",
            "target_population": "adults with condition A",
            "indirect_population_terms": ["cirrhosis"],
            "outcomes": [
                {"id": "response", "measure": "RR", "benefit": "higher", "label": "Response"}
            ],
            # No comparator filter: the indication's placebo is the question's comparator.
            "comparisons": [{"id": "oral_any", "label": "oral drugx", "routes": ["oral"]}],
        }
    ],
    "dose_tiers": {
        "oral": {
            "unit": "mg/day",
            "field": "dose_mg_day",
            "tiers": [{"label": "low", "max": 10}, {"label": "high"}],
        }
    },
    "rating": {
        "rule_set": "rules/evidence_levels_v3.yaml",
        "rule_set_version": "3.0.0",
        "model": {"method": "REML", "test": "knha"},
    },
}


def arms(sid: str, events_t: int, events_c: int, n: int) -> list[dict[str, Any]]:
    base = {
        "indication": "use_a",
        "outcome": "response",
        "study_id": sid,
        "year": 2020,
        "timepoint_weeks": 12.0,
        "dose_tier": "unknown",
        "derived": False,
        "mean": None,
        "sd": None,
        "se": None,
        "n": n,
    }
    return [
        base | {"arm_role": "treatment", "events": events_t},
        base | {"arm_role": "control", "events": events_c},
    ]


def snapshot_of(protocol: Any, studies: pd.DataFrame) -> Snapshot:
    empty = pd.DataFrame()
    return Snapshot(protocol, studies, empty, empty, empty, empty, empty, empty, None, None, {}, {})


def test_grade_analysis_downgrades_a_pool_mostly_against_an_active_drug() -> None:
    protocol = parse_protocol(PROTOCOL_DATA)
    spec = protocol.indications[0].outcomes[0]
    rows = arms("p1", 12, 10, 30) + arms("a1", 40, 20, 120)
    (a,) = [
        x
        for x in pool_outcome(pd.DataFrame(rows), protocol, "use_a", spec)
        if x.tier == "all" and x.analysis == "primary"
    ]
    a = dataclasses.replace(a, comparison="oral_any", comparison_label="oral drugx")
    studies = pd.DataFrame([study("p1"), study("a1", comparator="active:drug_y")], columns=COLUMNS)
    v3 = load_rules(RAW / "rules" / "evidence_levels_v3.yaml")
    judged = pool_indirectness(a, protocol, studies, v3.grade)
    assert judged is not None and judged.judgement == "serious"
    with_studies = grade_analysis(a, v3, snapshot_of(protocol, studies))
    without = grade_analysis(a, v3)
    indirect = with_studies.domain("indirectness")
    assert indirect.downgrade == 1 and "active:drug_y" in indirect.reason
    assert without.domain("indirectness").judgement == "not judgeable"
    order = ("Very low", "Low", "Moderate", "High")
    assert order.index(with_studies.level) == order.index(without.level) - 1


def test_older_rule_sets_keep_the_outcome_flag_alone() -> None:
    protocol = parse_protocol(PROTOCOL_DATA)
    v2 = load_rules(RAW / "rules" / "evidence_levels_v2.yaml")
    spec = protocol.indications[0].outcomes[0]
    (a,) = [
        x
        for x in pool_outcome(pd.DataFrame(arms("p1", 12, 10, 30)), protocol, "use_a", spec)
        if x.tier == "all" and x.analysis == "primary"
    ]
    assert pool_indirectness(a, protocol, pd.DataFrame(columns=COLUMNS), v2.grade) is None


def test_bad_rule_section_and_blank_terms_are_refused_with_their_field() -> None:
    with pytest.raises(ValueError, match=r"grade\.indirectness"):
        IndirectnessRules.from_grade(
            {"indirectness": {"serious_share": 2, "very_serious_sources": 2}}
        )
    bad = dict(PROTOCOL_DATA)
    bad["indications"] = [PROTOCOL_DATA["indications"][0] | {"indirect_population_terms": [" "]}]
    with pytest.raises(ProtocolError, match=r"indications\.0\.indirect_population_terms"):
        parse_protocol(bad, "p.yaml")
    # The question's comparator decides what is indirect: a misspelt one is refused, not used.
    bad["indications"] = [PROTOCOL_DATA["indications"][0] | {"comparator": "placbo"}]
    with pytest.raises(ProtocolError, match=r"indications\.0\.comparator"):
        parse_protocol(bad, "p.yaml")


def test_bundled_protocol_uses_a_rule_set_that_judges_indirectness() -> None:
    protocol = load_protocol(RAW / "protocols" / "baclofen.yaml")
    rules = load_rules(RAW / protocol.rating.rule_set)
    assert rules.version == protocol.rating.rule_set_version
    assert IndirectnessRules.from_grade(rules.grade) is not None
