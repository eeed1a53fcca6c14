"""Dose tiers at the protocol's cut points, and the outcomes-by-tier table."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence.protocol import ProtocolError, load_protocol, parse_protocol
from evidence.snapshot import load_snapshot
from evidence.tabulate import assign_tiers, outcomes_by_tier, tier_for
from tests.conftest import RAW

PROTO = load_protocol(RAW / "protocols" / "baclofen.yaml")


@pytest.mark.parametrize(
    ("route", "dose", "tier"),
    [
        ("oral", 5, "low"),
        ("oral", 60, "low"),
        ("oral", 60.5, "moderate"),
        ("oral", 61, "moderate"),
        ("oral", 100, "moderate"),
        ("oral", 100.01, "high"),
        ("oral", 270, "high"),
        ("intrathecal", 100, "low"),
        ("intrathecal", 101, "moderate"),
        ("intrathecal", 400, "moderate"),
        ("intrathecal", 401, "high"),
    ],
)
def test_tier_at_cut_points(route: str, dose: float, tier: str) -> None:
    field = PROTO.dose_tiers[route].field
    assert tier_for(PROTO, route, {field: dose}, None, None, None) == (tier, "arm", float(dose))


def test_study_range_used_only_within_one_tier() -> None:
    assert tier_for(PROTO, "oral", {}, "mg/day", 30.0, 60.0) == ("low", "study_range", None)
    assert tier_for(PROTO, "oral", {}, "mg/day", 30.0, 270.0) == ("mixed", "study_range", None)
    assert tier_for(PROTO, "oral", {}, "mg/day", None, 180.0) == ("high", "study_range", None)
    assert tier_for(PROTO, "oral", {}, "mg/kg", 0.5, 0.5) == ("unknown", "none", None)
    assert tier_for(PROTO, "oral", {}, None, None, None) == ("unknown", "none", None)
    assert tier_for(PROTO, "other", {"dose_mg_day": 10.0}, None, None, None)[0] == "not_tiered"
    # the arm's own dose wins over the study's range
    assert tier_for(PROTO, "oral", {"dose_mg_day": 90.0}, "mg/day", 30.0, 30.0)[0] == "moderate"


def test_cut_points_must_increase() -> None:
    raw = PROTO.model_dump()
    raw["dose_tiers"]["oral"]["tiers"] = [
        {"label": "a", "max": 100},
        {"label": "b", "max": 60},
        {"label": "c"},
    ]
    with pytest.raises(ProtocolError, match=r"dose_tiers\.oral"):
        parse_protocol(raw, "p.yaml")


def test_outcomes_by_tier_counts_match_rows() -> None:
    snap = load_snapshot(RAW, PROTO)
    tiered = assign_tiers(snap.outcomes, snap.studies, PROTO)
    assert len(tiered) == len(snap.outcomes)
    table = outcomes_by_tier(tiered)
    assert table["arms"].sum() == len(snap.outcomes)
    keys = ["indication", "outcome", "dose_tier", "arm_role"]
    assert not table.duplicated(keys).any()
    # one cell recomputed by hand from the rows
    rows = tiered[
        (tiered.indication == "alcohol_use_disorder")
        & (tiered.outcome == "abstinence")
        & (tiered.arm_role == "treatment")
    ]
    cells = table[
        (table.indication == "alcohol_use_disorder")
        & (table.outcome == "abstinence")
        & (table.arm_role == "treatment")
    ]
    assert cells["events"].sum() == rows["events"].sum()
    assert cells["studies"].sum() == rows.groupby("dose_tier")["study_id"].nunique().sum()
    # tiers come only from the protocol's labels and the fallbacks
    labels = {t.label for spec in PROTO.dose_tiers.values() for t in spec.tiers}
    assert set(table["dose_tier"]) <= labels | {"mixed", "unknown", "not_tiered"}
    assert pd.api.types.is_integer_dtype(table["participants"])
