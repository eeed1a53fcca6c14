"""The sensitivity analysis without trials at high risk of bias, on hand-made pools."""

from __future__ import annotations

import numpy as np
import pandas as pd

from evidence.synthesis.pool import (
    ALL_TIERS,
    EXCLUDING_HIGH_RISK,
    PRIMARY,
    analyses_frame,
    methods_notes,
    not_estimable,
    pool_protocol,
)
from tests.synthesis.handmade import arm, protocol, study, tiered

STUDIES = [study("a", year=2001), study("b", year=2002), study("c", year=2003)]
ARMS = [
    arm("a", "treatment", events=12, n=40),
    arm("a", "control", events=6, n=41),
    arm("b", "treatment", events=20, n=60),
    arm("b", "control", events=11, n=58),
    arm("c", "treatment", events=30, n=50),
    arm("c", "control", events=8, n=52),
]
PROTO = protocol()


def pools(high: set[str], studies=STUDIES, arms=ARMS) -> dict[tuple[str, str], object]:
    rows, _ = tiered(studies, arms, PROTO)
    found = pool_protocol(rows, PROTO, high_risk=frozenset(high))
    return {(a.tier, a.analysis): a for a in found}


def test_the_sensitivity_pool_drops_exactly_the_high_risk_trials() -> None:
    found = pools({"c", "elsewhere"})
    primary, sens = found[(ALL_TIERS, PRIMARY)], found[(ALL_TIERS, EXCLUDING_HIGH_RISK)]
    assert set(primary.study_ids) == {"a", "b", "c"}
    assert sens.study_ids == ("a", "b")
    assert sens.participants == 40 + 41 + 60 + 58
    # the same pool as one made of the two remaining trials alone
    alone = pools(set(), STUDIES[:2], ARMS[:4])[(ALL_TIERS, PRIMARY)]
    assert alone.study_ids == sens.study_ids
    assert np.isclose(sens.result.estimate, alone.result.estimate)
    assert np.isclose(sens.result.ci_low, alone.result.ci_low)
    assert not np.isclose(sens.result.estimate, primary.result.estimate)


def test_no_high_risk_trial_means_no_sensitivity_pool() -> None:
    found = pools(set())
    assert not [k for k in found if k[1] == EXCLUDING_HIGH_RISK]
    found = pools({"not_in_this_pool"})
    assert not [k for k in found if k[1] == EXCLUDING_HIGH_RISK]


def test_a_pool_of_high_risk_trials_is_listed_as_not_estimable_with_why() -> None:
    found = pools({"a", "b", "c"})
    assert (ALL_TIERS, EXCLUDING_HIGH_RISK) not in found
    listed = not_estimable(list(found.values()), frozenset({"a", "b", "c"}))
    assert len(listed) == 1
    assert "all 3 studies of the pool (a, b, c) at high risk of bias" in listed[0].why
    frame = analyses_frame(list(found.values()), unestimable=listed)
    row = frame[frame["analysis"] == EXCLUDING_HIGH_RISK].iloc[0]
    assert row["k"] == 0 and pd.isna(row["estimate"]) and row["note"] == listed[0].why
    assert (frame.loc[frame["analysis"] != EXCLUDING_HIGH_RISK, "note"] == "").all()
    # a pool with one trial left at lower risk is estimable, so nothing is listed
    assert not_estimable(list(pools({"a", "b"}).values()), frozenset({"a", "b"})) == []


def test_methods_say_which_restriction_and_why_from_the_data() -> None:
    none_low = methods_notes(PROTO, {"a": "high", "b": "some_concerns", "c": "no_information"})
    assert "'excluding_high_risk' leaves out" in none_low[-1]
    assert "(1 of the 3 trials with a RoB 2 judgement)" in none_low[-1]
    assert "no trial with a judgement is at low risk overall" in none_low[-1]
    one_low = methods_notes(PROTO, {"a": "high", "b": "low"})
    assert "only 1 of the 2 trials with a judgement is at low risk" in one_low[-1]
    assert not any("excluding_high_risk" in n for n in methods_notes(PROTO))
