"""One small-k interval rule: forest, cumulative, summary of findings and pooled.csv agree."""

from __future__ import annotations

import math
import re

import pytest

from evidence.meta import escalc, rma
from evidence.report.plots import ForestGroup, cumulative_svg, forest_svg
from evidence.report.sof import relative_effect
from evidence.synthesis.pool import (
    ALL_TIERS,
    PRIMARY,
    analyses_frame,
    cumulative_pools,
    methods_notes,
    pool_protocol,
    small_k_test,
)
from tests.synthesis.handmade import arm, protocol, study, tiered

# Two agreeing trials: Knapp-Hartung's t with 1 df would make their interval absurdly wide.
TWO = [study("a", year=2001), study("b", year=2006)]
TWO_ARMS = [
    arm("a", "treatment", events=28, n=50),
    arm("a", "control", events=10, n=50),
    arm("b", "treatment", events=27, n=40),
    arm("b", "control", events=6, n=40),
]


def _overall(proto, studies, arms):
    rows, _ = tiered(studies, arms, proto)
    return next(
        a for a in pool_protocol(rows, proto) if (a.tier, a.analysis) == (ALL_TIERS, PRIMARY)
    )


def _shown(lo: float, hi: float) -> str:
    return f"[{math.exp(lo):.2f}, {math.exp(hi):.2f}]"


def test_forest_cumulative_and_sof_show_the_same_interval_for_k2() -> None:
    proto = protocol()
    a = _overall(proto, TWO, TWO_ARMS)
    assert a.result.k == 2 and a.result.test == "z"  # the protocol's k = 2 rule
    es = escalc("RR", events_treat=[28, 27], n_treat=[50, 40], events_ctrl=[10, 6], n_ctrl=[50, 40])
    ref = rma(es, method="REML", test="z")
    assert (a.result.ci_low, a.result.ci_high) == pytest.approx((ref.ci_low, ref.ci_high))
    seq = cumulative_pools(a, proto)
    last = seq.fits[-1]
    assert (last.ci_low, last.ci_high) == (a.result.ci_low, a.result.ci_high)
    shown = _shown(a.result.ci_low, a.result.ci_high)
    forest = forest_svg("t", [ForestGroup("all", a.result)], a.result)
    cumul = cumulative_svg("t", seq, a.years)
    assert shown in forest and shown in cumul
    sof = relative_effect(a)
    assert f"({math.exp(a.result.ci_low):.2f} to {math.exp(a.result.ci_high):.2f})" in sof
    row = analyses_frame([a]).iloc[0]
    assert (row.exp_ci_low, row.exp_ci_high) == pytest.approx(
        (math.exp(a.result.ci_low), math.exp(a.result.ci_high)), abs=1e-6
    )
    # Knapp-Hartung with 1 df would have given a far wider interval.
    knha = rma(es, method="REML", test="knha")
    assert knha.ci_high - knha.ci_low > 2 * (a.result.ci_high - a.result.ci_low)


def test_every_cumulative_step_follows_the_rule_for_its_own_k() -> None:
    proto = protocol()
    studies = [*TWO, study("c", year=2010)]
    arms = [*TWO_ARMS, arm("c", "treatment", events=9, n=30), arm("c", "control", events=7, n=31)]
    a = _overall(proto, studies, arms)
    seq = cumulative_pools(a, proto)
    assert [f.test for f in seq.fits] == ["z", "z", "adhoc"]
    assert (seq.fits[-1].ci_low, seq.fits[-1].ci_high) == (a.result.ci_low, a.result.ci_high)
    forest = forest_svg("t", [ForestGroup("all", a.result)], a.result)
    assert _shown(a.result.ci_low, a.result.ci_high) in forest


def test_adhoc_is_never_narrower_than_the_z_interval() -> None:
    proto = protocol()
    # Three nearly identical trials: Knapp-Hartung's scale falls below 1 here.
    studies = [study(s, year=2000 + i) for i, s in enumerate("xyz")]
    arms = [
        x
        for s in "xyz"
        for x in (arm(s, "treatment", events=20, n=50), arm(s, "control", events=10, n=50))
    ]
    a = _overall(proto, studies, arms)
    z = rma(
        escalc(
            "RR", events_treat=[20] * 3, n_treat=[50] * 3, events_ctrl=[10] * 3, n_ctrl=[50] * 3
        ),
        method="REML",
        test="z",
    )
    knha = rma(
        escalc(
            "RR", events_treat=[20] * 3, n_treat=[50] * 3, events_ctrl=[10] * 3, n_ctrl=[50] * 3
        ),
        method="REML",
        test="knha",
    )
    assert knha.ci_high - knha.ci_low < z.ci_high - z.ci_low  # the case adhoc guards against
    assert a.result.ci_high - a.result.ci_low >= z.ci_high - z.ci_low - 1e-12


def test_protocols_without_a_small_k_rule_keep_the_rating_models_test() -> None:
    proto = protocol(small_k=None)
    assert [small_k_test(proto, k) for k in (1, 2, 3)] == ["z", "knha", "knha"]
    strict = protocol(small_k={"test": "knha", "k2_test": "adhoc"})
    assert [small_k_test(strict, k) for k in (1, 2, 5)] == ["z", "adhoc", "knha"]


def test_the_methods_state_the_rule() -> None:
    text = " ".join(methods_notes(protocol()))
    assert re.search(r"exactly two studies use the normal \(z\) interval", text)
    assert "test='adhoc'" in text
