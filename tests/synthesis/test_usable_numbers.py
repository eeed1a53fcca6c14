"""Every usable number enters, flagged: counts from printed percentages; named sensitivity pools."""

from __future__ import annotations

import pytest

from evidence.meta import escalc, rma, rma_mh
from evidence.synthesis import (
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
