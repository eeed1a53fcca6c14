"""Rule set 2: each comparison rated from its own pools and its trials' directions.

Small hand-made data sets: trials as study rows, their arm-level numbers pooled by the pipeline's
own `pool_outcome`, and their reported directions as study-effect rows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from evidence.inputs.protocol import Indication, OutcomeSpec, load_protocol
from evidence.inputs.snapshot import Snapshot
from evidence.rating.comparisons import rate_indication, sign_test
from evidence.rating.rules import RuleSet, load_rules
from evidence.synthesis.pool import Analysis, pool_outcome
from evidence.tables.uses import efficacy_pools, rate_uses, uses_frame
from evidence.tables.votes import vote_counts
from tests.conftest import RAW

RULES_V2 = load_rules(RAW / "rules" / "evidence_levels_v2.yaml")
PROTOCOL = load_protocol(RAW / "protocols" / "baclofen.yaml")
USE = "use_a"
SPEC = OutcomeSpec(id="response", measure="RR", benefit="higher", label="Response")
STUDY_COLUMNS = ["study_id", "design", "species", "indication", "comparator", "route", "n_total"]


def study(sid: str, design: str = "rct", route: str = "oral", comparator: str = "placebo") -> dict:
    species = "mouse" if design in ("animal", "in_vitro") else "human"
    return {
        "study_id": sid,
        "design": design,
        "species": species,
        "indication": USE,
        "comparator": comparator,
        "route": route,
        "n_total": 100,
    }


def arms(sid: str, events_t: int, events_c: int, n: int = 50) -> list[dict[str, Any]]:
    base = {
        "indication": USE,
        "outcome": SPEC.id,
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


def effect(sid: str, direction: str) -> dict[str, str]:
    return {"study_id": sid, "outcome": "primary_efficacy", "direction": direction}


def pooled(rows: list[dict[str, Any]], comparison: str = "", label: str = "") -> list[Analysis]:
    analyses = pool_outcome(pd.DataFrame(rows), PROTOCOL, USE, SPEC)
    return [dataclasses.replace(a, comparison=comparison, comparison_label=label) for a in analyses]


def trials_set(
    positive: bool, prefix: str = "t", route: str = "oral"
) -> tuple[list[dict], list[dict], list[dict]]:
    """4 trials with arm data and 4 with reported effects only, all positive or all null."""
    studies, rows, effects = [], [], []
    for i in range(4):
        sid = f"{prefix}{i}"
        studies.append(study(sid, route=route))
        rows += arms(sid, 30, 10) if positive else arms(sid, 20, 20)
        effects.append(effect(sid, "favours_baclofen" if positive else "no_difference"))
    for i in range(4, 8):
        sid = f"{prefix}{i}"
        studies.append(study(sid, route=route))
        effects.append(effect(sid, "favours_baclofen" if positive else "no_difference"))
    return studies, rows, effects


def level_of(
    studies: list[dict],
    effects: list[dict],
    analyses: list[Analysis],
    rules: RuleSet = RULES_V2,
):
    frame = pd.DataFrame(studies, columns=STUDY_COLUMNS)
    eff = pd.DataFrame(effects, columns=["study_id", "outcome", "direction"])
    pools = efficacy_pools(analyses, USE, rules)
    return rate_indication(rules, frame, eff, pools, "drug")


def test_only_animal_studies_is_preclinical() -> None:
    studies = [study(f"a{i}", design="animal") for i in range(6)]
    rated = level_of(studies, [], [])
    assert rated.rating.level == "Preclinical"
    assert rated.carried_by is None
    assert "no human controlled trial" in rated.rating.reasons


def test_placebo_trials_decide_over_more_animal_papers() -> None:
    """6 animal papers and 4 placebo-controlled trials: the trials decide, never the count."""
    animals = [study(f"a{i}", design="animal") for i in range(6)]
    trials = [study(f"t{i}") for i in range(4)]
    mixed = [effect("t0", "favours_baclofen"), effect("t1", "no_difference")]
    mixed += [effect("t2", "favours_control"), effect("t3", "no_difference")]
    rated = level_of(animals + trials, mixed, [])
    assert rated.rating.level == "Mixed"
    assert rated.carried_by is not None and rated.carried_by.label == "oral drug vs placebo"
    assert "4 trials not pooled" in rated.rating.reasons
    # the same trials all favouring the drug: still rated from them (too few for Strong)
    agree = [effect(f"t{i}", "favours_baclofen") for i in range(4)]
    assert level_of(animals + trials, agree, []).rating.level == "Experimental/limited"


def test_consistently_and_strongly_positive_trials_give_strong() -> None:
    studies, rows, effects = trials_set(positive=True)
    rated = level_of(studies, effects, pooled(rows))
    assert rated.rating.level == "Strong"
    # the reasons quote the pooled numbers that decide
    assert "pooled Response RR 3.00" in rated.rating.reasons
    assert "k=4, 400 participants, certainty High" in rated.rating.reasons
    assert "4 trials not pooled, by reported direction: 4 favour the drug" in rated.rating.reasons


def test_null_trials_do_not_give_strong() -> None:
    studies, rows, effects = trials_set(positive=False)
    rated = level_of(studies, effects, pooled(rows))
    assert rated.rating.level == "Mixed"
    assert "RR 1.00" in rated.rating.reasons and "includes no effect" in rated.rating.reasons


def test_positive_directions_alone_need_agreement_beyond_chance() -> None:
    """Without a pool, Strong needs a sign test the rule set accepts; 5 of 5 is p = 0.0625."""
    studies = [study(f"t{i}") for i in range(6)]
    effects = [effect(f"t{i}", "favours_baclofen") for i in range(6)]
    assert level_of(studies, effects, []).rating.level == "Strong"
    assert level_of(studies[:5], effects[:5], []).rating.level == "Experimental/limited"
    assert sign_test(6, 0) == pytest.approx(0.03125)
    assert sign_test(5, 0) == pytest.approx(0.0625)
    assert sign_test(3, 3) == 1.0


def test_a_pooled_trial_never_votes_as_well() -> None:
    studies, rows, effects = trials_set(positive=True)
    rated = level_of(studies, effects, pooled(rows))
    (comparison,) = rated.comparisons
    assert {s for s, _ in comparison.votes} == {"t4", "t5", "t6", "t7"}
    assert comparison.features["evidence_trials"] == 8
    # a one-study "pool" is one trial's result: that trial votes instead
    single = pooled(arms("t0", 30, 10))
    alone = level_of(studies[:1], effects[:1], single)
    assert alone.comparisons[0].votes == (("t0", "favours"),)
    assert alone.comparisons[0].features["pooled_outcomes"] == 0


def two_comparisons() -> tuple[list[dict], list[dict], list[Analysis]]:
    s1, r1, e1 = trials_set(positive=True, prefix="o", route="oral")
    s2, r2, e2 = trials_set(positive=False, prefix="i", route="intrathecal")
    analyses = pooled(r1, "oral_placebo", "oral drug vs placebo") + pooled(
        r2, "it_placebo", "intrathecal drug vs placebo"
    )
    assignment_free = s1 + s2
    return assignment_free, e1 + e2, analyses


def test_two_comparisons_with_different_answers_are_each_rated() -> None:
    studies, effects, analyses = two_comparisons()
    frame = pd.DataFrame(studies, columns=STUDY_COLUMNS)
    eff = pd.DataFrame(effects, columns=["study_id", "outcome", "direction"])
    assignment = {s["study_id"]: ("oral_placebo", "oral drug vs placebo") for s in studies[:8]}
    assignment |= {
        s["study_id"]: ("it_placebo", "intrathecal drug vs placebo") for s in studies[8:]
    }
    pools = efficacy_pools(analyses, USE, RULES_V2)
    rated = rate_indication(RULES_V2, frame, eff, pools, "drug", assignment)
    levels = {c.comparison: c.rating.level for c in rated.comparisons}
    assert levels == {"oral_placebo": "Strong", "it_placebo": "Mixed"}
    assert rated.rating.level == "Strong"
    assert rated.carried_by is not None and rated.carried_by.comparison == "oral_placebo"
    assert rated.rating.reasons.startswith("carried by oral drug vs placebo: pooled Response")
    assert "other comparisons: intrathecal drug vs placebo: pooled Response RR 1.00" in (
        rated.rating.reasons
    )
    # which comparison carries is data: reverse the rule set's carry order
    data = yaml.safe_load((RAW / "rules" / "evidence_levels_v2.yaml").read_text())
    data["by_comparison"]["carry_order"] = list(reversed(data["by_comparison"]["carry_order"]))
    reverse = RuleSet.model_validate(data)
    other = rate_indication(reverse, frame, eff, pools, "drug", assignment)
    assert other.carried_by is not None and other.carried_by.comparison == "it_placebo"
    assert other.rating.level == "Mixed"


def test_a_declared_pool_places_its_trials_without_an_assignment() -> None:
    """Unpooled trials join the one declared comparison whose pooled trials share their route
    and comparator; where two declared comparisons share them, they stay apart, named so."""
    studies, effects, analyses = two_comparisons()
    rated = level_of(studies, effects, analyses)
    by_label = {c.label: c for c in rated.comparisons}
    assert set(by_label) == {"oral drug vs placebo", "intrathecal drug vs placebo"}
    assert by_label["oral drug vs placebo"].rating.level == "Strong"
    assert {s for s, _ in by_label["oral drug vs placebo"].votes} == {"o4", "o5", "o6", "o7"}
    assert by_label["intrathecal drug vs placebo"].rating.level == "Mixed"
    # adults and children: two declared oral placebo comparisons; o4-o7 belong to neither
    s1, r1, e1 = trials_set(positive=True, prefix="o")
    adults = pooled(r1[:4], "adults", "oral drug vs placebo, adults")
    children = pooled(r1[4:], "children", "oral drug vs placebo, children")
    split = level_of(s1, e1, adults + children)
    labels = {c.label for c in split.comparisons}
    assert labels == {
        "oral drug vs placebo, adults",
        "oral drug vs placebo, children",
        "oral drug vs placebo",
    }
    (rest,) = [c for c in split.comparisons if c.label == "oral drug vs placebo"]
    assert rest.comparison == "oral|placebo"


def snapshot_of(studies: list[dict], effects: list[dict], published: pd.DataFrame) -> Snapshot:
    ind = Indication(id=USE, label="Use A", pubmed_query="x", outcomes=[SPEC])
    protocol = PROTOCOL.model_copy(update={"indications": [ind]})
    empty = pd.DataFrame()
    return Snapshot(
        protocol=protocol,
        studies=pd.DataFrame(studies, columns=STUDY_COLUMNS),
        outcomes=empty,
        study_effects=pd.DataFrame(effects, columns=["study_id", "outcome", "direction"]),
        published_syntheses=published,
        dosing_facts=empty,
        pubmed_records=empty,
        missing=empty,
        claims=None,
        citations=None,
        input_hashes={},
        refs={},
    )


PUBLISHED_COLUMNS = [
    "review_id",
    "first_author",
    "year",
    "outcome",
    "measure",
    "estimate",
    "ci_low",
    "ci_high",
    "k",
]


@pytest.mark.parametrize("positive", [True, False])
def test_a_published_synthesis_never_changes_a_level(positive: bool) -> None:
    studies, rows, effects = trials_set(positive=positive)
    analyses = pooled(rows)
    studies = [
        *studies,
        study("rev1", design="meta_analysis"),
        study("rev2", design="meta_analysis"),
    ]
    published = pd.DataFrame(
        [
            ["rev1", "Author A", 2020, "response", "RR", 0.4, 0.3, 0.5, 20],
            ["rev2", "Author B", 2021, "response", "RR", 1.0, 0.8, 1.2, 30],
        ],
        columns=PUBLISHED_COLUMNS,
    )
    without = rate_uses(snapshot_of(studies, effects, published.iloc[0:0]), analyses, RULES_V2)
    beside = rate_uses(snapshot_of(studies, effects, published), analyses, RULES_V2)
    assert [u.rating for u in beside] == [u.rating for u in without]
    assert without[0].cross_check == ""
    check = beside[0].cross_check
    assert "disagrees with Author A 2020 on response (RR 0.4 (0.3 to 0.5), k=20" in check
    assert "it pools 20 studies where we pool 4" in check
    if positive:
        assert "disagrees with Author B 2021" in check
    else:
        assert "agrees with Author B 2021" in check


def test_the_uses_and_vote_tables_name_each_comparison() -> None:
    studies, effects, analyses = two_comparisons()
    snap = snapshot_of(studies, effects, pd.DataFrame(columns=PUBLISHED_COLUMNS))
    uses = uses_frame(snap, rate_uses(snap, analyses, RULES_V2))
    row = uses.iloc[0]
    assert row["carried_by"] == "oral drug vs placebo"
    assert "oral drug vs placebo: Strong" in row["comparison_levels"]
    assert "intrathecal drug vs placebo: Mixed" in row["comparison_levels"]
    votes = vote_counts(snap, analyses, RULES_V2).set_index("comparator")
    assert votes.loc["oral drug vs placebo", "trials_pooled_instead"] == "o0 o1 o2 o3"
    assert votes.loc["oral drug vs placebo", "study_ids"] == "o4 o5 o6 o7"
    assert votes.loc["oral drug vs placebo", "favours"] == 4
    assert votes.loc["oral drug vs placebo", "sign_test_p"] == pytest.approx(0.125)


def test_rule_set_2_refuses_a_section_without_fallback_or_with_unknown_levels(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load((RAW / "rules" / "evidence_levels_v2.yaml").read_text())
    broken = yaml.safe_load(yaml.safe_dump(data))
    broken["by_comparison"]["levels"] = broken["by_comparison"]["levels"][:-1]
    with pytest.raises(ValueError, match="last level must have no conditions"):
        RuleSet.model_validate(broken)
    unknown = yaml.safe_load(yaml.safe_dump(data))
    unknown["by_comparison"]["carry_order"].append("Excellent")
    with pytest.raises(ValueError, match="unknown levels"):
        RuleSet.model_validate(unknown)


def test_a_rule_set_without_the_section_cannot_rate_comparisons() -> None:
    v1 = load_rules(RAW / "rules" / "evidence_levels.yaml")
    assert v1.by_comparison is None
    with pytest.raises(ValueError, match="no by_comparison section"):
        level_of([study("t0")], [], [], rules=v1)


def test_the_protocol_points_at_rule_set_3_which_rates_uses_as_2_did() -> None:
    assert PROTOCOL.rating.rule_set == "rules/evidence_levels_v3.yaml"
    v3 = load_rules(RAW / PROTOCOL.rating.rule_set)
    assert PROTOCOL.rating.rule_set_version == v3.version == "3.0.0"
    assert RULES_V2.version == "2.0.0"
    assert v3.by_comparison == RULES_V2.by_comparison  # the tests here on 2.0.0 still hold


def test_a_trial_the_protocol_places_in_no_comparison_neither_votes_nor_decides() -> None:
    """E.g. single-dose screening tests declared outside every maintenance comparison."""
    studies = [study(f"t{i}") for i in range(6)]
    effects = [effect(f"t{i}", "favours_baclofen") for i in range(6)]
    frame = pd.DataFrame(studies, columns=STUDY_COLUMNS)
    eff = pd.DataFrame(effects, columns=["study_id", "outcome", "direction"])
    everyone = rate_indication(RULES_V2, frame, eff, [], "drug")
    assert everyone.rating.level == "Strong"
    assignment = {"t5": None}
    fewer = rate_indication(RULES_V2, frame, eff, [], "drug", assignment)
    assert fewer.rating.level == "Experimental/limited"
    assert {s for s, _ in fewer.comparisons[0].votes} == {"t0", "t1", "t2", "t3", "t4"}
    assert "1 trial in no comparison of the protocol, not rated: t5" in fewer.rating.reasons
