"""GRADE is judged once per pool in a run: the certainty kept with the analysis object is given
again only for the same rule set and snapshot, and forgotten with the analysis."""

from __future__ import annotations

import gc
from typing import Any

from evidence.rating.domains import DomainJudgement
from evidence.rating.rules import load_rules
from evidence.synthesis.pool import pool_outcome
from evidence.tables import uses
from evidence.tables.uses import certainty_of, grade_analysis
from tests.conftest import RAW
from tests.synthesis import handmade as hm

RULES = load_rules(RAW / "rules" / "evidence_levels_v3.yaml")


def _primary(k: int = 4) -> Any:
    proto = hm.protocol([hm.PLACEBO_ORAL])
    studies = [hm.study(f"s{i}", comparator="placebo") for i in range(k)]
    arms = []
    for i in range(k):
        arms += [hm.arm(f"s{i}", "treatment", events=10 + 3 * i, n=40)]
        arms += [hm.arm(f"s{i}", "control", events=5 + i, n=40)]
    tiered, _ = hm.tiered(studies, arms, proto)
    spec = proto.indications[0].outcomes[0]
    pools = pool_outcome(tiered, proto, "ind", spec, proto.indications[0].comparisons[0])
    return next(a for a in pools if a.tier == "all" and a.analysis == "primary")


def test_the_same_pool_rule_set_and_snapshot_give_the_certainty_judged_first() -> None:
    a = _primary()
    first = grade_analysis(a, RULES)
    assert grade_analysis(a, RULES) is first
    assert certainty_of([a], RULES)[a.key] is first
    # what the memo gives is what judging again gives
    fresh = uses._grade(a, RULES, None, None, None)
    assert fresh == first and fresh is not first


def test_another_rule_set_object_or_an_equal_pool_is_judged_anew() -> None:
    a, b = _primary(), _primary()
    assert a == b and a is not b  # equal keys and numbers, two objects
    first = grade_analysis(a, RULES)
    assert grade_analysis(b, RULES) is not first  # keyed on the object, not its key
    other_rules = load_rules(RAW / "rules" / "evidence_levels_v3.yaml")
    again = grade_analysis(a, other_rules)
    assert again is not first and again == first
    assert grade_analysis(a, other_rules) is again


def test_a_given_domain_judgement_is_used_not_the_memo() -> None:
    a = _primary()
    grade_analysis(a, RULES)
    given = DomainJudgement("risk of bias", "very serious", "given by the caller")
    c = grade_analysis(a, RULES, risk_of_bias=given)
    assert c.domain("risk of bias") == given
    assert grade_analysis(a, RULES).domain("risk of bias") != given


def test_the_memo_forgets_an_analysis_once_it_is_freed() -> None:
    a = _primary()
    grade_analysis(a, RULES)
    key = id(a)
    assert key in uses._GRADED
    del a
    gc.collect()
    assert key not in uses._GRADED
