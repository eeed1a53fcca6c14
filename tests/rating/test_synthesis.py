"""Pairing arms into comparisons, merging arms, and pooling by tier."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evidence.inputs.protocol import OutcomeSpec, load_protocol
from evidence.meta import escalc, rma
from evidence.synthesis.pool import ALL_TIERS, _combine_continuous, comparisons, pool_outcome
from tests.conftest import RAW

PROTO = load_protocol(RAW / "protocols" / "baclofen.yaml")


def arm(
    study,
    role,
    tier,
    events=None,
    n=None,
    mean=None,
    sd=None,
    se=None,
    tp=None,
    derived=False,
    year=2000,
):
    return {
        "study_id": study,
        "indication": "x",
        "outcome": "o",
        "arm_role": role,
        "dose_tier": tier,
        "events": events,
        "n": n,
        "mean": mean,
        "sd": sd,
        "se": se,
        "timepoint_weeks": tp,
        "derived": derived,
        "year": year,
        "arm": f"{role}-{tier}",
    }


def frame(rows):
    df = pd.DataFrame(rows)
    for c in ("events", "n"):
        df[c] = df[c].astype("Int64")
    for c in ("mean", "sd", "se", "timepoint_weeks"):
        df[c] = df[c].astype("Float64")
    df["derived"] = df["derived"].astype("boolean")
    return df


def test_merged_groups_match_the_union_of_the_samples() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(10, 2, 23), rng.normal(13, 3, 31)
    rows = pd.DataFrame(
        {
            "n": [len(a), len(b)],
            "mean": [a.mean(), b.mean()],
            "sd": [a.std(ddof=1), b.std(ddof=1)],
            "se": [None, None],
        }
    )
    mean, sd, n, derived = _combine_continuous(rows)
    union = np.concatenate([a, b])
    assert n == 54 and not derived
    assert mean == pytest.approx(union.mean(), rel=1e-12)
    assert sd == pytest.approx(union.std(ddof=1), rel=1e-12)


def test_three_arm_trial_counts_its_control_once_per_pool() -> None:
    tiered = frame(
        [
            arm("s1", "treatment", "low", 10, 50),
            arm("s1", "treatment", "high", 20, 50),
            arm("s1", "control", "mixed", 5, 60),
            arm("s2", "treatment", "low", 8, 40, tp=4),
            arm("s2", "control", "low", 9, 40, tp=4),
            arm("s2", "treatment", "low", 7, 40, tp=12),
            arm("s2", "control", "low", 12, 40, tp=12),
        ]
    )
    comp = comparisons(tiered, "x", "o", "RR")
    s1 = comp[comp.study_id == "s1"].set_index("tier")
    assert s1.loc[ALL_TIERS, ["events_treat", "n_treat", "events_ctrl", "n_ctrl"]].tolist() == [
        30,
        100,
        5,
        60,
    ]
    assert s1.loc["high", ["events_treat", "n_treat"]].tolist() == [20, 50]
    s2 = comp[(comp.study_id == "s2") & (comp.tier == ALL_TIERS)].iloc[0]
    assert (s2.events_treat, s2.events_ctrl) == (7, 12)  # the latest timepoint both arms report


def test_pool_matches_escalc_and_rma_and_leaves_out_derived() -> None:
    tiered = frame(
        [
            arm("a", "treatment", "low", 12, 40),
            arm("a", "control", "low", 6, 41),
            arm("b", "treatment", "high", 30, 80, derived=True),
            arm("b", "control", "high", 18, 79),
            arm("c", "treatment", "high", 9, 25),
            arm("c", "control", "high", 4, 26),
            arm("d", "treatment", "low", 15, 60),
            arm("d", "control", "low", 10, 58),
        ]
    )
    spec = OutcomeSpec(id="o", measure="RR", benefit="higher", label="O")
    out = {(a.tier, a.analysis): a for a in pool_outcome(tiered, PROTO, "x", spec)}
    overall = out[(ALL_TIERS, "primary")]
    es = escalc(
        "RR",
        events_treat=[12, 30, 9, 15],
        n_treat=[40, 80, 25, 60],
        events_ctrl=[6, 18, 4, 10],
        n_ctrl=[41, 79, 26, 58],
        studies=list("abcd"),
    )
    ref = rma(es, method="REML", test=PROTO.small_k.test if PROTO.small_k else "knha")
    assert overall.result.estimate == pytest.approx(ref.estimate, rel=1e-12)
    assert overall.result.ci_high == pytest.approx(ref.ci_high, rel=1e-12)
    assert overall.participants == 40 + 41 + 80 + 79 + 25 + 26 + 60 + 58
    assert overall.derived == 1
    assert out[(ALL_TIERS, "excluding_derived")].study_ids == ("a", "c", "d")
    assert out[("low", "primary")].result.k == 2 and out[("high", "primary")].result.k == 2
    q, df, p = overall.tier_test  # type: ignore[misc]
    assert df == 1 and 0 <= p <= 1 and q >= 0
