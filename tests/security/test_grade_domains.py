"""Every GRADE domain is judged and shown; rules come from the rule set (hand-made pools)."""

from __future__ import annotations

from typing import Any

import pytest

from evidence.inputs.protocol import DecisionThreshold, Mid
from evidence.rating.domains import DOMAINS, DomainJudgement
from evidence.rating.grade import grade_outcome
from evidence.rating.imprecision import (
    InformationSize,
    decision_thresholds,
    judge_imprecision,
    optimal_information_size,
)
from evidence.rating.publication_bias import StudyData, judge_publication_bias
from evidence.rating.rules import load_rules
from evidence.report.sof import findings, pooled_columns
from evidence.synthesis.absolute_effects import (
    ControlArm,
    ControlRisk,
    binary_absolute,
    continuous_against_mid,
    control_risk,
)
from evidence.synthesis.pool import analyses_frame, pool_outcome
from evidence.tables.uses import certainty_of, control_risk_of
from tests.conftest import RAW
from tests.synthesis import handmade as hm

RULES = load_rules(RAW / "rules" / "evidence_levels_v3.yaml")
IMP = RULES.grade["imprecision"]


def _pool(comparator: str, comparison: dict[str, Any], k: int = 4) -> list[Any]:
    proto = hm.protocol([comparison])
    studies = [hm.study(f"s{i}", comparator=comparator) for i in range(k)]
    arms = []
    for i in range(k):
        arms += [hm.arm(f"s{i}", "treatment", events=10 + i, n=40)]
        arms += [hm.arm(f"s{i}", "control", events=5 + i, n=40)]
    tiered, _ = hm.tiered(studies, arms, proto)
    spec = proto.indications[0].outcomes[0]
    return pool_outcome(tiered, proto, "ind", spec, proto.indications[0].comparisons[0])


def _primary(analyses: list[Any]) -> Any:
    return next(a for a in analyses if a.tier == "all" and a.analysis == "primary")


# Publication bias


def test_publication_bias_below_min_k_is_not_judgeable_and_says_k() -> None:
    d = judge_publication_bias(RULES.grade["publication_bias"], 4, True, StudyData((), ()))
    assert d.judgement == "not judgeable" and d.downgrade == 0
    assert d.judgement == "not judgeable" and d.reason.startswith("k = 4 < 10")


def test_publication_bias_not_judgeable_is_shown_in_every_sof_row_and_pooled_csv() -> None:
    analyses = _pool("placebo", hm.PLACEBO_ORAL)
    certainty = certainty_of(analyses, RULES)
    rows = findings(analyses, certainty, RULES)
    assert len(rows) == 1
    row = rows[0]
    assert [d.domain for d in row.domains] == list(DOMAINS)
    assert any(n.startswith("publication bias: not judgeable: k = 4 < 10")
               for n in row.footnotes)  # fmt: skip
    frame = analyses_frame(analyses, None, None, pooled_columns(analyses, certainty, RULES))
    primary = frame[(frame.tier == "all") & (frame.analysis == "primary")].iloc[0]
    assert primary["publication_bias"] == "not judgeable"
    assert "k = 4 < 10" in primary["publication_bias_reason"]


def test_at_min_k_binary_pools_run_harbords_test() -> None:
    k = 10
    tables = tuple((5.0 + i, 35.0 - i, 3.0 + (i % 4), 37.0 - (i % 4)) for i in range(k))
    data = StudyData(tuple(0.1 * i for i in range(k)), tuple(0.1 for _ in range(k)), tables)
    d = judge_publication_bias(RULES.grade["publication_bias"], k, True, data)
    assert "Harbord's test p = " in d.reason and d.judgement in ("no concern", "serious")
    # Without 2x2 tables (reported effects), Peters' test with the study sizes instead.
    peters = StudyData(
        data.yi, tuple(0.05 + 0.01 * i for i in range(k)), None, (80.0,) * 5 + (200.0,) * 5
    )
    d2 = judge_publication_bias(RULES.grade["publication_bias"], k, True, peters)
    assert "Harbord's test not computable" in d2.reason and "Peters' test p = " in d2.reason


# Control risk and absolute effects


def test_control_risk_comes_only_from_placebo_arms() -> None:
    arms = [ControlArm("a", "placebo", 10, 100), ControlArm("b", "active", 50, 100)]
    cr = control_risk(arms, ["placebo", "usual_care"])
    assert cr.risk == pytest.approx(0.10)
    assert cr.studies == ("a",) and "10/100" in cr.source and "not used: b" in cr.source


def test_an_active_comparator_pool_gets_no_control_risk_and_says_why() -> None:
    analyses = _pool("active:otherdrug", hm.ACTIVE_ORAL)
    a = _primary(analyses)
    assert a.control_arms and all(arm.comparator == "active" for arm in a.control_arms)
    cr = control_risk_of(a, RULES)
    assert cr.risk is None
    assert "no placebo or usual care arm" in cr.source and "active" in cr.source
    row = findings(analyses, certainty_of(analyses, RULES), RULES)[0]
    assert row.risk_comparator == "not estimable"
    # the same trials against placebo do get one, from their placebo arms (26/160)
    placebo = _primary(_pool("placebo", hm.PLACEBO_ORAL))
    assert control_risk_of(placebo, RULES).risk == pytest.approx(26 / 160)


def test_nnt_where_significant_and_not_significant_otherwise() -> None:
    cr = ControlRisk(0.2, 20, 100, ("a",), "placebo arms")
    sig = binary_absolute("RR", 0.4055, 0.1, 0.7, cr, "higher")  # RR 1.5 (1.11 to 2.01)
    assert sig.nnt.startswith("NNT 10 (")
    harm = binary_absolute("RR", 0.4055, 0.1, 0.7, cr, "lower")  # more of a bad outcome
    assert harm.nnt.startswith("NNH 10 (")
    ns = binary_absolute("RR", 0.4055, -0.1, 0.9, cr, "higher")
    assert ns.nnt == "not significant"
    assert ns.difference_text.startswith("100 more per 1,000 (")


def test_continuous_outcomes_against_the_mid() -> None:
    assert "whole CI is beyond the MID" in continuous_against_mid("MD", 8, 6, 10, 5)
    assert "within the MID" in continuous_against_mid("MD", 1, -2, 3, 5)
    assert continuous_against_mid("MD", 1, -2, 3, None) == (
        "no minimal important difference in the protocol"
    )


# Imprecision


def test_a_ci_crossing_one_decision_threshold_is_serious() -> None:
    t, why = decision_thresholds("RR", DecisionThreshold(effect=1.25, source="test"), None, 0.2)
    assert t is not None and why == ""
    info = InformationSize(100, "test")
    # RR 1.10 to 1.60: crosses 1.25 only
    one = judge_imprecision(IMP, ci_low=0.0953, ci_high=0.47, participants=1000,
                            information=info, thresholds=t)  # fmt: skip
    assert one.judgement == "serious" and "crosses one decision threshold" in one.reason
    # RR 0.70 to 1.60: crosses both 0.80 and 1.25
    both = judge_imprecision(IMP, ci_low=-0.357, ci_high=0.47, participants=1000,
                             information=info, thresholds=t)  # fmt: skip
    assert both.judgement == "very serious"
    # RR 1.30 to 1.60: clear of both, OIS met
    none = judge_imprecision(IMP, ci_low=0.262, ci_high=0.47, participants=1000,
                             information=info, thresholds=t)  # fmt: skip
    assert none.judgement == "no concern"


def test_without_thresholds_imprecision_falls_back_to_no_effect_and_says_so() -> None:
    t, why = decision_thresholds("RR", None, None, 0.2)
    assert t is None
    d = judge_imprecision(IMP, ci_low=-0.1, ci_high=0.3, participants=5000,
                          information=InformationSize(100, "x"), thresholds=t,
                          no_threshold_why=why)  # fmt: skip
    assert d.judgement == "serious"
    assert "no decision threshold in the protocol: judged against no effect" in d.reason


def test_a_threshold_per_1000_uses_the_control_risk_and_a_mid_serves_continuous() -> None:
    t, _ = decision_thresholds("RR", DecisionThreshold(per_1000=50, source="s"), None, 0.2)
    assert t is not None and t.high == pytest.approx(0.22314, abs=1e-4)  # log(0.25 / 0.2)
    none, why = decision_thresholds("RR", DecisionThreshold(per_1000=50, source="s"), None, None)
    assert none is None and "control risk" in why
    mid, _ = decision_thresholds("MD", None, Mid(value=3, source="s"), None)
    assert mid is not None and (mid.low, mid.high) == (-3, 3)


def test_ois_far_from_met_is_very_serious_and_the_reason_says_how_computed() -> None:
    info = optimal_information_size(IMP, True, 0.2, "lower")
    assert info.ois is not None and "25% relative reduction" in info.how
    far = judge_imprecision(IMP, ci_low=-1.0, ci_high=-0.5, participants=info.ois // 4,
                            information=info, thresholds=None)  # fmt: skip
    assert far.judgement == "very serious"
    near = judge_imprecision(IMP, ci_low=-1.0, ci_high=-0.5, participants=info.ois - 1,
                             information=info, thresholds=None)  # fmt: skip
    assert near.judgement == "serious"
    assert optimal_information_size(IMP, False, None, "higher").ois == 785


# The engine


def test_missing_risk_of_bias_and_indirectness_are_not_judgeable_never_no_concern() -> None:
    c = grade_outcome(
        RULES.grade, randomised=True, k=1, ci_low=0.2, ci_high=0.8, participants=5000,
        binary=False, information=InformationSize(100, "x"),
    )  # fmt: skip
    assert [d.domain for d in c.domains] == list(DOMAINS)
    for name in ("risk of bias", "indirectness", "inconsistency", "publication bias"):
        assert c.domain(name).judgement == "not judgeable", name
        assert c.domain(name).reason
    assert c.level == "High"  # nothing judged serious lowers nothing, but nothing is hidden
    given = DomainJudgement("risk of bias", "very serious", "all studies at high risk")
    lowered = grade_outcome(
        RULES.grade, randomised=True, k=1, ci_low=0.2, ci_high=0.8, participants=5000,
        binary=False, information=InformationSize(100, "x"), risk_of_bias=given,
    )  # fmt: skip
    assert lowered.domain("risk of bias") == given and lowered.level == "Low"


def test_inconsistency_shows_the_handbook_prediction_interval_and_the_ci_of_i2() -> None:
    proto = hm.protocol([hm.PLACEBO_ORAL])
    studies = [hm.study(f"s{i}") for i in range(4)]
    arms = []
    for i, (t, c) in enumerate([(30, 5), (8, 9), (25, 6), (7, 10)]):
        arms += [hm.arm(f"s{i}", "treatment", events=t, n=40)]
        arms += [hm.arm(f"s{i}", "control", events=c, n=40)]
    tiered, _ = hm.tiered(studies, arms, proto)
    spec = proto.indications[0].outcomes[0]
    a = _primary(pool_outcome(tiered, proto, "ind", spec, proto.indications[0].comparisons[0]))
    d = certainty_of([a], RULES)[a.key].domain("inconsistency")
    assert d.judgement in ("serious", "very serious")
    assert "95% CI" in d.reason and "prediction interval" in d.reason
