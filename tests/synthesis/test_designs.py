"""Crossover and multi-arm trials counted as the Cochrane Handbook (chapter 23) says."""

from __future__ import annotations

import pytest

from evidence.inputs.protocol import ProtocolError
from evidence.meta import escalc, rma
from evidence.meta.subgroup import subgroup_analysis
from evidence.synthesis.pool import (
    ALL_TIERS,
    CROSSOVER_AS_PARALLEL,
    PRIMARY,
    comparisons,
    pool_protocol,
)
from tests.synthesis.handmade import arm, protocol, study, tiered

PARALLEL = [study("p1"), study("p2", year=2004)]
PARALLEL_ARMS = [
    arm("p1", "treatment", events=12, n=40),
    arm("p1", "control", events=6, n=41),
    arm("p2", "treatment", events=20, n=60),
    arm("p2", "control", events=11, n=58),
]
CROSSOVER = study("x1", design="crossover_rct", year=2008)
CROSSOVER_ARMS = [arm("x1", "treatment", events=14, n=20), arm("x1", "control", events=5, n=20)]


def _pools(proto, studies, arms):
    rows, _ = tiered(studies, arms, proto)
    return {(a.tier, a.analysis): a for a in pool_protocol(rows, proto)}


@pytest.mark.parametrize("r", [0.3, 0.5])
def test_a_crossover_trials_participants_count_once(r: float) -> None:
    proto = protocol(crossover={"correlation": r})
    pools = _pools(proto, [*PARALLEL, CROSSOVER], [*PARALLEL_ARMS, *CROSSOVER_ARMS])
    primary = pools[(ALL_TIERS, PRIMARY)]
    assert primary.participants == 40 + 41 + 60 + 58 + 20  # not 20 + 20
    # Paired analysis: the crossover trial's variance is the parallel one × (1 − r).
    parallel = escalc("RR", events_treat=[14], n_treat=[20], events_ctrl=[5], n_ctrl=[20])
    i = primary.result.studies.index("x1")
    assert primary.result.vi[i] == pytest.approx(parallel.vi[0] * (1 - r), rel=1e-12)
    # The sensitivity analysis treats the crossover arms as parallel groups, still counted once.
    sens = pools[(ALL_TIERS, CROSSOVER_AS_PARALLEL)]
    assert sens.result.vi[sens.result.studies.index("x1")] == pytest.approx(parallel.vi[0])
    assert sens.participants == primary.participants
    assert sens.result.ci_high - sens.result.ci_low >= primary.result.ci_high - (
        primary.result.ci_low
    )


def test_no_crossover_sensitivity_analysis_without_a_crossover_trial() -> None:
    pools = _pools(protocol(), PARALLEL, PARALLEL_ARMS)
    assert CROSSOVER_AS_PARALLEL not in {a for _, a in pools}


def test_a_three_arm_trials_control_is_never_counted_twice_in_any_tier_subgroup() -> None:
    proto = protocol()
    arms = [
        arm("m", "treatment", "low", events=10, n=50),
        arm("m", "treatment", "high", events=20, n=50),
        arm("m", "control", "low", events=6, n=60),
        *PARALLEL_ARMS,
    ]
    rows, _ = tiered([study("m"), *PARALLEL], arms, proto)
    comp = comparisons(rows, "ind", "o", "RR").set_index(["study_id", "tier"])
    # Overall: the drug arms combined against the whole control group, once.
    assert comp.loc[
        ("m", ALL_TIERS), ["events_treat", "n_treat", "events_ctrl", "n_ctrl"]
    ].tolist() == [
        30,
        100,
        6,
        60,
    ]
    # Tiers: the shared control split evenly, so the subgroups hold each control once.
    low, high = comp.loc[("m", "low")], comp.loc[("m", "high")]
    assert (low.n_ctrl, high.n_ctrl) == (30, 30) and (low.events_ctrl, high.events_ctrl) == (3, 3)
    assert low.n_ctrl + high.n_ctrl == 60
    pools = {(a.tier, a.analysis): a for a in pool_protocol(rows, proto)}
    tiers = [a for (t, _), a in pools.items() if t != ALL_TIERS]
    in_tiers = sum(a.participants for a in tiers)
    assert in_tiers == pools[(ALL_TIERS, PRIMARY)].participants == 100 + 60 + 81 + 118
    # The tier subgroups' effect sizes use the split control (escalc on 3 of 30 events).
    low_pool = pools[("low", PRIMARY)]
    ref = escalc("RR", events_treat=[10], n_treat=[50], events_ctrl=[3], n_ctrl=[30])
    assert low_pool.result.yi[low_pool.result.studies.index("m")] == pytest.approx(ref.yi[0])


def test_the_tier_test_uses_the_split_control() -> None:
    proto = protocol()
    arms = [
        arm("m", "treatment", "low", events=10, n=50),
        arm("m", "treatment", "high", events=20, n=50),
        arm("m", "control", "low", events=6, n=60),
        arm("p1", "treatment", "low", events=12, n=40),
        arm("p1", "control", "low", events=6, n=41),
        arm("p2", "treatment", "high", events=20, n=60),
        arm("p2", "control", "high", events=11, n=58),
    ]
    rows, _ = tiered([study("m"), *PARALLEL], arms, proto)
    overall = next(
        a for a in pool_protocol(rows, proto) if (a.tier, a.analysis) == (ALL_TIERS, PRIMARY)
    )
    es = escalc(
        "RR",
        events_treat=[10, 12, 20, 20],
        n_treat=[50, 40, 50, 60],
        events_ctrl=[3, 6, 3, 11],
        n_ctrl=[30, 41, 30, 58],
    )
    ref = subgroup_analysis(es, groups=["low", "low", "high", "high"], moderator="t")
    assert overall.tier_test is not None
    assert overall.tier_test[0] == pytest.approx(ref.q_between, rel=1e-10)


def test_single_arm_rates_are_not_paired() -> None:
    proto = protocol(
        [{"id": "single", "label": "single group", "comparator": "none"}], measure="PLO"
    )
    rows, _ = tiered(
        [study("s", design="single_arm", comparator="none")],
        [arm("s", "single", events=7, n=10)],
        proto,
    )
    (a, *_) = pool_protocol(rows, proto)
    ref = rma(escalc("PLO", events=[7], n=[10]))
    assert a.result.estimate == pytest.approx(ref.estimate) and a.participants == 10


def test_a_multi_arm_trials_active_control_arms_stay_out_of_the_placebo_comparison() -> None:
    spec = {
        "id": "oral_vs_placebo",
        "label": "oral drug vs placebo",
        "routes": ["oral"],
        "comparator": "placebo",
        "control_arm_terms": ["placebo"],
    }
    proto = protocol([spec])
    arms = [
        arm("m", "treatment", events=20, n=50),
        {**arm("m", "control", events=8, n=50), "arm": "usual drug + placebo"},
        {**arm("m", "control", events=30, n=50), "arm": "usual drug + otherdrug"},
        arm("p1", "treatment", events=12, n=40),
        arm("p1", "control", events=6, n=41),  # no arm named: its control stays
    ]
    rows, _ = tiered([study("m"), study("p1")], arms, proto)
    overall = next(
        a for a in pool_protocol(rows, proto) if (a.tier, a.analysis) == (ALL_TIERS, PRIMARY)
    )
    ref = escalc("RR", events_treat=[20, 12], n_treat=[50, 40], events_ctrl=[8, 6], n_ctrl=[50, 41])
    assert overall.result.yi == pytest.approx(ref.yi)
    assert overall.participants == 100 + 81


@pytest.mark.parametrize("r", [-0.1, 1.0])
def test_a_crossover_correlation_outside_0_to_1_is_refused_naming_the_field(r: float) -> None:
    with pytest.raises(ProtocolError, match=r"field crossover\.correlation"):
        protocol(crossover={"correlation": r})
