"""Dose tiers at the protocol's cut points, and the outcomes-by-tier table."""

from __future__ import annotations

import pandas as pd
import pytest

from evidence.inputs.protocol import ProtocolError, load_protocol, parse_protocol
from evidence.inputs.snapshot import load_snapshot
from evidence.synthesis.tabulate import StudyDose, arm_dose, assign_tiers, outcomes_by_tier
from tests.conftest import RAW

PROTO = load_protocol(RAW / "protocols" / "baclofen.yaml")


def _tier(route: str, dose: float) -> tuple[str, str, float | None]:
    d = arm_dose(PROTO, route, {PROTO.dose_tiers[route].field: dose}, [])
    return d.tier, d.basis, d.dose


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
    assert _tier(route, dose) == (tier, "arm_field", float(dose))


def test_study_range_used_only_for_a_single_drug_arm_within_one_tier() -> None:
    one = {"unit": "mg/day", "single_drug_arm": True}
    rng = arm_dose(PROTO, "oral", {}, [], StudyDose(dose_min=30.0, dose_max=60.0, **one))
    assert (rng.tier, rng.basis, rng.dose) == ("low", "study_range", None)
    wide = arm_dose(PROTO, "oral", {}, [], StudyDose(dose_min=30.0, dose_max=270.0, **one))
    assert (wide.tier, wide.basis) == ("mixed", "study_range")
    same = arm_dose(PROTO, "oral", {}, [], StudyDose(dose_min=50.0, dose_max=50.0, **one))
    assert (same.tier, same.basis, same.dose) == ("low", "study_dose", 50.0)
    # only a maximum is not the arm's dose
    top = arm_dose(PROTO, "oral", {}, [], StudyDose(dose_max=180.0, **one))
    assert top.tier == "unknown" and "one end" in top.why
    kg = arm_dose(PROTO, "oral", {}, [], StudyDose("mg/kg", 0.5, 0.5, single_drug_arm=True))
    assert kg.tier == "unknown"
    assert arm_dose(PROTO, "oral", {}, []).tier == "unknown"
    assert arm_dose(PROTO, "other", {"dose_mg_day": 10.0}, []).tier == "not_tiered"
    # a multi-dose study's range never tiers one of its arms
    multi = arm_dose(PROTO, "oral", {}, [], StudyDose("mg/day", 30.0, 30.0, single_drug_arm=False))
    assert multi.tier == "unknown" and "several drug arms" in multi.why


def test_target_arm_tiered_from_its_own_dose_not_the_study_range() -> None:
    """A 150 mg/day target arm of a 30-150 mg/day study is high, not mixed."""
    study = StudyDose("mg/day", 30.0, 150.0, "Three arms: 30 mg/day and 150 mg/day", False)
    d = arm_dose(PROTO, "oral", {"dose_mg_day": 150.0}, [("arm_label", "high dose")], study)
    assert (d.tier, d.basis, d.dose, d.derived) == ("high", "arm_field", 150.0, False)
    low = arm_dose(PROTO, "oral", {"dose_mg_day": 30.0}, [("arm_label", "low dose")], study)
    assert low.tier == "low"


def test_regimen_in_the_arm_label_gives_a_derived_daily_dose() -> None:
    d = arm_dose(PROTO, "oral", {}, [("arm_label", "baclofen 10 mg t.i.d.")])
    assert (d.tier, d.basis, d.dose, d.unit, d.derived) == (
        "low",
        "arm_label",
        30.0,
        "mg/day",
        True,
    )
    assert "10 mg x 3 a day = 30 mg/day" in d.how


def test_ceiling_in_the_arm_label_stays_unknown_even_with_a_study_range() -> None:
    study = StudyDose("mg/day", 80.0, 80.0, None, True)
    d = arm_dose(PROTO, "oral", {}, [("arm_label", "baclofen up to 80 mg")], study)
    assert (d.tier, d.dose) == ("unknown", None)
    assert "up to" in d.why and d.why.startswith("arm_label")


def test_intrathecal_arm_gets_a_microgram_tier() -> None:
    own = arm_dose(PROTO, "intrathecal", {"dose_ug_day": 300.0, "dose_mg_day": None}, [])
    assert (own.tier, own.unit) == ("moderate", "ug/day")
    text = arm_dose(PROTO, "intrathecal", {}, [("row_note", "pump at 450 ug/day")])
    assert (text.tier, text.dose, text.unit) == ("high", 450.0, "ug/day")
    # a milligram figure in the same text is another unit and is not read as the pump dose
    mixed = arm_dose(
        PROTO, "intrathecal", {}, [("row_note", "oral 20 mg/day stopped; pump 90 ug/day")]
    )
    assert (mixed.tier, mixed.dose) == ("low", 90.0)
    bolus = arm_dose(PROTO, "intrathecal", {}, [("arm_label", "active bolus (50 ug)")])
    assert bolus.tier == "unknown" and "no daily frequency" in bolus.why


def test_achieved_mean_dose_kept_apart_from_the_assigned_dose() -> None:
    study = StudyDose(notes="Mean dose 93.6 mg/day.", single_drug_arm=True)
    d = arm_dose(PROTO, "oral", {"dose_mg_day": 150.0}, [], study)
    assert (d.dose, d.kind, d.achieved, d.tier) == (150.0, "assigned", 93.6, "high")
    only = arm_dose(PROTO, "oral", {}, [], study)
    assert (only.dose, only.kind, only.achieved, only.tier) == (
        93.6,
        "achieved_mean",
        93.6,
        "moderate",
    )
    # a study with several drug arms: its notes speak for none of them
    multi = arm_dose(PROTO, "oral", {}, [], StudyDose(notes="Mean dose 93.6 mg/day."))
    assert multi.dose is None and multi.achieved is None


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
    # a drug arm is never tiered from a multi-arm study's range
    drug = tiered[tiered["arm_role"].isin(["treatment", "single"])]
    per_study = drug.groupby("study_id")["arm"].nunique()
    multi = drug[drug["study_id"].isin(per_study[per_study > 1].index)]
    assert not (multi["dose_basis"].isin(["study_range", "study_dose", "study_notes"])).any()
    assert pd.api.types.is_integer_dtype(table["participants"])


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hand-made studies: a 30-150 mg/day three-arm trial, a one-arm 30-60 trial, a two-arm
    trial with only a range, and an intrathecal pump trial printing its daily dose."""
    study_cols = ["study_id", "indication", "design", "route", "comparator", "year", "notes"]
    studies = pd.DataFrame(
        [
            ["three", "ind", "rct", "oral", "placebo", 2020, "Three arms.", 30.0, 150.0],
            ["one", "ind", "rct", "oral", "placebo", 2019, "", 30.0, 60.0],
            ["two", "ind", "rct", "oral", "placebo", 2018, "", 30.0, 30.0],
            ["pump", "ind", "rct", "intrathecal", "placebo", 2017, "", None, None],
        ],
        columns=[*study_cols, "dose_min", "dose_max"],
    )
    studies["dose_unit"] = ["mg/day", "mg/day", "mg/day", None]
    rows = [
        ("three", "high dose (target)", "treatment", 150.0, None, None),
        ("three", "baclofen 10 mg t.i.d.", "treatment", None, None, None),
        ("three", "placebo", "control", None, None, None),
        ("one", "baclofen", "treatment", None, None, None),
        ("one", "placebo", "control", None, None, None),
        ("two", "baclofen a", "treatment", None, None, None),
        ("two", "baclofen b", "treatment", None, None, "up to 80 mg"),
        ("two", "placebo", "control", None, None, None),
        ("pump", "intrathecal pump", "treatment", None, None, "pump set at 250 ug/day"),
        ("pump", "placebo", "control", None, None, None),
    ]
    outcomes = pd.DataFrame(
        [
            {
                "row_id": f"{s}-{i}",
                "study_id": s,
                "outcome": "o",
                "arm": arm,
                "arm_role": role,
                "dose_mg_day": mg,
                "dose_ug_day": ug,
                "note": note,
                "events": 1.0,
                "n": 10.0,
                "mean": None,
                "sd": None,
                "se": None,
                "derived": False,
            }
            for i, (s, arm, role, mg, ug, note) in enumerate(rows)
        ]
    )
    return outcomes, studies


def test_tiers_of_hand_made_arms() -> None:
    outcomes, studies = _frames()
    tiered = assign_tiers(outcomes, studies, PROTO).set_index(["study_id", "arm"])
    # a 150 mg/day target arm of a 30-150 study: its own dose, not the study's range
    assert tiered.loc[("three", "high dose (target)"), "dose_tier"] == "high"
    assert tiered.loc[("three", "high dose (target)"), "dose_basis"] == "arm_field"
    tid = tiered.loc[("three", "baclofen 10 mg t.i.d.")]
    assert (tid["dose_tier"], tid["dose"], tid["dose_derived"]) == ("low", 30.0, True)
    assert tiered.loc[("three", "placebo"), "dose_tier"] == "mixed"  # its arms differ
    # one drug arm: the study's range is a fallback, within one tier
    assert tiered.loc[("one", "baclofen"), "dose_tier"] == "low"
    assert tiered.loc[("one", "baclofen"), "dose_basis"] == "study_range"
    # two drug arms: the range is never theirs; a ceiling stays unknown with why
    assert tiered.loc[("two", "baclofen a"), "dose_tier"] == "unknown"
    assert "several drug arms" in tiered.loc[("two", "baclofen a"), "dose_why"]
    assert "up to" in tiered.loc[("two", "baclofen b"), "dose_why"]
    # the intrathecal arm gets a microgram tier from its own row
    pump = tiered.loc[("pump", "intrathecal pump")]
    assert (pump["dose_tier"], pump["dose"], pump["dose_unit_day"]) == ("moderate", 250.0, "ug/day")
    assert pd.isna(tiered.loc[("pump", "placebo"), "dose"])  # a control arm gets no dose


def test_dose_response_thresholds_are_validated() -> None:
    raw = PROTO.model_dump()
    raw["dose_response"] = {"min_studies": 2, "min_doses": 3}
    with pytest.raises(ProtocolError, match=r"dose_response\.min_studies"):
        parse_protocol(raw, "p.yaml")
    raw.pop("dose_response")
    assert parse_protocol(raw, "p.yaml").dose_response is None  # optional: older protocols load
