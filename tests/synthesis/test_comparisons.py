"""Studies are assigned to their protocol's comparisons, and no pool crosses comparisons."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence.inputs.protocol import ProtocolError
from evidence.synthesis.comparisons import assign_studies, comparator_of, unassigned_frame
from evidence.synthesis.pool import ALL_TIERS, PRIMARY, analyses_frame, pool_protocol
from tests.synthesis.handmade import PLACEBO_ORAL, arm, protocol, study, tiered

PLACEBO_TRIALS = [study("p1", year=2001), study("p2", year=2005), study("p3", year=2010)]
PLACEBO_ARMS = [
    arm("p1", "treatment", events=12, n=40),
    arm("p1", "control", events=6, n=41),
    arm("p2", "treatment", events=20, n=60),
    arm("p2", "control", events=11, n=58),
    arm("p3", "treatment", events=9, n=30),
    arm("p3", "control", events=7, n=31),
]


def _pools(studies, arms, proto=None):
    proto = proto or protocol()
    rows, _ = tiered(studies, arms, proto)
    return {
        (a.comparison, a.tier, a.analysis): a for a in pool_protocol(rows, proto) if a.tier == "all"
    }


def test_an_active_comparator_trial_leaves_the_placebo_pool_unchanged() -> None:
    before = _pools(PLACEBO_TRIALS, PLACEBO_ARMS)
    after = _pools(
        [*PLACEBO_TRIALS, study("a1", comparator="active:otherdrug")],
        [
            *PLACEBO_ARMS,
            arm("a1", "treatment", events=30, n=50),
            arm("a1", "control", events=5, n=50),
        ],
    )
    key = ("oral_vs_placebo", ALL_TIERS, PRIMARY)
    assert after[key].study_ids == before[key].study_ids == ("p1", "p2", "p3")
    assert after[key].result.estimate == before[key].result.estimate
    assert after[key].result.ci_low == before[key].result.ci_low
    assert after[key].participants == before[key].participants
    active = after[("oral_vs_active", ALL_TIERS, PRIMARY)]
    assert active.study_ids == ("a1",)
    assert active.comparison_label == "oral drug vs another drug"


def test_an_intrathecal_trial_never_pools_with_oral_ones() -> None:
    pools = _pools(
        [*PLACEBO_TRIALS, study("it1", route="intrathecal")],
        [
            *PLACEBO_ARMS,
            arm("it1", "treatment", events=18, n=20),
            arm("it1", "control", events=2, n=20),
        ],
    )
    for (comparison, _, _), a in pools.items():
        assert ("it1" in a.study_ids) == (comparison == "it_vs_placebo")
    assert pools[("it_vs_placebo", ALL_TIERS, PRIMARY)].study_ids == ("it1",)
    assert "it1" not in pools[("oral_vs_placebo", ALL_TIERS, PRIMARY)].study_ids


def test_every_pooled_row_names_its_comparison() -> None:
    pools = _pools(
        [*PLACEBO_TRIALS, study("it1", route="intrathecal")],
        [
            *PLACEBO_ARMS,
            arm("it1", "treatment", events=8, n=20),
            arm("it1", "control", events=2, n=20),
        ],
    )
    frame = analyses_frame(list(pools.values()))
    assert set(frame["comparison"]) == {"oral_vs_placebo", "it_vs_placebo"}
    labels = dict(zip(frame["comparison"], frame["comparison_label"], strict=True))
    assert labels == {
        "oral_vs_placebo": "oral drug vs placebo",
        "it_vs_placebo": "intrathecal drug vs placebo",
    }


def test_a_study_fitting_no_comparison_is_listed_with_why() -> None:
    studies = [
        *PLACEBO_TRIALS,
        study("sa", design="single_arm", comparator="none"),
        study("cl", design="cluster_rct"),
        study("iv", route="intravenous"),
    ]

    out = unassigned_frame(assign_studies(pd.DataFrame(studies), protocol()))
    why = dict(zip(out["study_id"], out["why"], strict=True))
    assert set(why) == {"sa", "cl", "iv"}
    assert "design single_arm not in rct/crossover_rct" in why["sa"]
    assert "comparator none is not placebo" in why["sa"]
    assert "design 'cluster_rct' cannot be pooled yet" in why["cl"]
    assert "route intravenous not intrathecal" in why["iv"]
    # Every comparison of the indication says why the study does not fit it.
    assert all(label in why["iv"] for label in ("oral drug vs placebo", "intrathecal drug"))


def test_a_comparison_allowing_an_unsupported_design_is_refused() -> None:
    with pytest.raises(ProtocolError, match=r"designs.*cluster_rct.*cannot be pooled yet"):
        protocol([{**PLACEBO_ORAL, "designs": ["rct", "cluster_rct"]}])


def test_comparison_ids_of_an_indication_are_unique() -> None:
    with pytest.raises(ProtocolError, match="comparison ids of indication ind repeat"):
        protocol([PLACEBO_ORAL, PLACEBO_ORAL])


def test_comparator_classes_come_from_the_data_and_protocol_terms() -> None:
    terms = ["conventional care", "standard treatment"]
    assert comparator_of("placebo", terms, "drugx").kind == "placebo"
    assert comparator_of("active:otherdrug/thirddrug", terms, "drugx").names == (
        "otherdrug",
        "thirddrug",
    )
    assert comparator_of("active:Standard treatment (delayed)", terms, "drugx").kind == (
        "usual_care"
    )
    assert comparator_of("active:drugx low dose", terms, "drugx").kind == "dose"
    assert comparator_of("", terms, "drugx").kind == "unknown"


def test_population_and_duration_windows_decide_membership() -> None:

    maintenance = {
        **PLACEBO_ORAL,
        "id": "maintenance",
        "label": "maintenance, children",
        "population_terms": ["children"],
        "min_duration_weeks": 4,
        "duration_unknown": "exclude",
    }
    proto = protocol([maintenance])
    studies = [
        study("kids", population="children with CP", duration=8),
        study("adults", population="adults with MS", duration=8),
        study("bolus", population="children", duration=None),
        study("short", population="children", duration=1),
    ]
    out = assign_studies(pd.DataFrame(studies), proto).set_index("study_id")
    assert out.loc["kids", "comparison"] == "maintenance"
    assert "population not children" in out.loc["adults", "why"]
    assert "duration not stated (needs >= 4 weeks)" in out.loc["bolus", "why"]
    assert "duration 1 weeks < 4" in out.loc["short", "why"]


def test_a_named_active_comparison_takes_only_its_drugs() -> None:

    named = {**PLACEBO_ORAL, "id": "vs_b", "label": "vs b", "comparator": "active"}
    proto = protocol([{**named, "comparator_names": ["bdrug"]}])
    out = assign_studies(
        pd.DataFrame([study("s1", comparator="active:bdrug"), study("s2", comparator="active:c")]),
        proto,
    ).set_index("study_id")
    assert out.loc["s1", "comparison"] == "vs_b"
    assert "comparator c not bdrug" in out.loc["s2", "why"]
