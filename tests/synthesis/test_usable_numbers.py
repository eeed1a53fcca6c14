"""Every usable number enters, flagged: counts from printed percentages; named sensitivity pools."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from evidence.meta import escalc, rma, rma_mh
from evidence.synthesis.pool import (
    ALL_TIERS,
    EXCLUDING_DERIVED,
    FIXED_EFFECT,
    PRIMARY,
    counts_from_percentages,
    pool_protocol,
)
from tests.synthesis.handmade import arm, protocol, study, tiered

PRINTED = [
    arm("a", "treatment", events=12, n=40),
    arm("a", "control", events=6, n=41),
    arm("b", "treatment", events=20, n=60),
    arm("b", "control", events=11, n=58),
]


def _pools(studies, arms):
    proto = protocol()
    rows, _ = tiered(studies, arms, proto)
    return {(a.tier, a.analysis): a for a in pool_protocol(rows, proto)}


def test_a_trial_printing_percentages_and_n_enters_with_derived_counts() -> None:
    arms = [
        *PRINTED,
        arm("pc", "treatment", n=158, pct=11.9),
        arm("pc", "control", n=162, pct=10.5),
    ]
    pools = _pools([study("a"), study("b"), study("pc")], arms)
    primary = pools[(ALL_TIERS, PRIMARY)]
    assert "pc" in primary.study_ids and primary.derived == 1
    es = escalc(
        "RR",
        events_treat=[12, 20, 19],
        n_treat=[40, 60, 158],
        events_ctrl=[6, 11, 17],
        n_ctrl=[41, 58, 162],
    )
    i = primary.result.studies.index("pc")
    assert primary.result.yi[i] == pytest.approx(es.yi[2])
    assert pools[(ALL_TIERS, EXCLUDING_DERIVED)].study_ids == ("a", "b")


def test_derived_counts_are_flagged_with_how_and_never_replace_printed_ones() -> None:
    proto = protocol()
    rows, _ = tiered(
        [study("x")],
        [
            arm("x", "treatment", events=5, n=50, pct=90.0),  # printed count wins
            arm("x", "control", n=50, pct=10.0),
        ],
        proto,
    )
    out = counts_from_percentages(rows).set_index("arm_role")
    assert out.loc["treatment", "events"] == 5 and not out.loc["treatment", "derived"]
    assert out.loc["control", "events"] == 5 and out.loc["control", "derived"]
    assert out.loc["control", "derived_how"] == "events = 10% x 50 = 5 (not printed)"


def test_a_percentage_of_another_denominator_gives_no_count() -> None:
    proto = protocol()
    rows, _ = tiered(
        [study("x")],
        [arm("x", "treatment", n=20, pct=33.0), arm("x", "control", n=20, pct=5.0)],
        proto,
    )
    out = counts_from_percentages(rows).set_index("arm_role")
    # 33% of 20 is 6.6: 7/20 = 35%, two points off the printed 33%, so no count is made.
    assert out["events"].isna().tolist() == [True, False]


def test_fixed_effect_sensitivity_is_mantel_haenszel_for_arm_counts() -> None:
    pools = _pools([study("a"), study("b")], PRINTED)
    fe = pools[(ALL_TIERS, FIXED_EFFECT)]
    ref = rma_mh([12, 20], [40, 60], [6, 11], [41, 58], measure="RR")
    assert fe.result.method == ref.method
    assert fe.result.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert fe.study_ids == pools[(ALL_TIERS, PRIMARY)].study_ids


def test_fixed_effect_with_a_crossover_trial_keeps_its_paired_variance() -> None:
    arms = [*PRINTED, arm("x", "treatment", events=14, n=20), arm("x", "control", events=5, n=20)]
    pools = _pools([study("a"), study("b"), study("x", design="crossover_rct")], arms)
    fe, primary = pools[(ALL_TIERS, FIXED_EFFECT)], pools[(ALL_TIERS, PRIMARY)]
    ref = rma(list(primary.result.yi), list(primary.result.vi), method="FE", measure="RR")
    assert fe.result.estimate == pytest.approx(ref.estimate, rel=1e-12)


def _effects(rows):
    df = pd.DataFrame(rows)
    df["indication"] = "ind"
    df["comparison"] = "oral_vs_placebo"
    df["design"] = "rct"
    df["year"] = 2010
    return df


def _effect(sid, measure, est, lo, hi, n=100, outcome="o"):
    return {
        "study_id": sid,
        "outcome": outcome,
        "measure": measure,
        "estimate": est,
        "ci_low": lo,
        "ci_high": hi,
        "n_total": n,
    }


def _pool_with(effects, measure="RR"):
    proto = protocol(measure=measure)
    rows, _ = tiered([study("a"), study("b")], PRINTED, proto)
    return {(a.tier, a.analysis): a for a in pool_protocol(rows, proto, effects)}


def test_a_reported_ratio_with_its_ci_enters_by_generic_inverse_variance() -> None:
    pools = _pool_with(_effects([_effect("r", "RR", 2.0, 1.0, 4.0, n=120)]))
    primary = pools[(ALL_TIERS, PRIMARY)]
    i = primary.result.studies.index("r")
    se = (math.log(4.0) - math.log(1.0)) / (2 * 1.959963984540054)
    assert primary.result.yi[i] == pytest.approx(math.log(2.0))
    assert primary.result.vi[i] == pytest.approx(se * se)
    assert primary.participants == 40 + 41 + 60 + 58 + 120
    assert primary.derived == 1
    assert "r" not in pools[(ALL_TIERS, EXCLUDING_DERIVED)].study_ids
    # No Mantel-Haenszel on a pool with a reported effect: inverse-variance fixed effect.
    assert pools[(ALL_TIERS, FIXED_EFFECT)].result.method == "FE"


@pytest.mark.parametrize(
    "measure", ["HR", "OR", "adjusted HR", "RR vs non-users", "Cohen's d", "SMD"]
)
def test_incompatible_measures_never_enter_a_risk_ratio_pool(measure: str) -> None:
    pools = _pool_with(_effects([_effect("r", measure, 2.0, 1.0, 4.0)]))
    assert pools[(ALL_TIERS, PRIMARY)].study_ids == ("a", "b")


def test_arm_data_first_and_doubtful_reported_effects_are_left_out() -> None:
    effects = _effects(
        [
            _effect("a", "RR", 9.0, 5.0, 20.0),  # `a` has arm data: counted once, from its arms
            _effect("bad", "RR", 6.3, 2.4, 6.1),  # CI not containing its estimate
            _effect("two", "RR", 2.0, 1.0, 4.0),  # two rows for one outcome: which one?
            _effect("two", "RR", 3.0, 1.5, 6.0),
            _effect("other", "RR", 2.0, 1.0, 4.0, outcome="elsewhere"),
        ]
    )
    pools = _pool_with(effects)
    primary = pools[(ALL_TIERS, PRIMARY)]
    assert primary.study_ids == ("a", "b")
    assert primary.result.yi == _pool_with(None)[(ALL_TIERS, PRIMARY)].result.yi


def test_a_reported_mean_difference_enters_an_md_pool_and_respects_comparisons() -> None:
    proto = protocol(measure="MD")
    arms = [
        arm("a", "treatment", n=30, mean=5.0, sd=2.0),
        arm("a", "control", n=30, mean=4.0, sd=2.0),
    ]
    rows, _ = tiered([study("a")], arms, proto)
    effects = _effects(
        [
            _effect("md", "MD (mean change)", 1.5, 0.5, 2.5),
            _effect("act", "MD", 3.0, 2.0, 4.0),
        ]
    )
    effects.loc[1, "comparison"] = "oral_vs_active"
    pools = {
        (a.comparison, a.analysis): a
        for a in pool_protocol(rows, proto, effects)
        if a.tier == ALL_TIERS
    }
    placebo = pools[("oral_vs_placebo", PRIMARY)]
    assert placebo.study_ids == ("a", "md")
    assert placebo.result.yi[1] == pytest.approx(1.5)
    assert pools[("oral_vs_active", PRIMARY)].study_ids == ("act",)
