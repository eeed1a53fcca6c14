"""Regimens read strictly: one unambiguous daily dose, derived and flagged, or unknown with why."""

from __future__ import annotations

import pytest

from evidence.inputs.regimen import read_daily_dose


@pytest.mark.parametrize(
    ("text", "daily", "derived"),
    [
        ("baclofen 10 mg t.i.d.", 30.0, True),
        ("20 mg three times daily", 60.0, True),
        ("5 mg tid", 15.0, True),
        ("10 mg BID", 20.0, True),
        ("10 mg/day", 10.0, False),
        ("baclofen 10 mg t.i.d. (30 mg/day)", 30.0, False),  # the printed daily dose is used
        ("1,000 ug/day", 1000.0, False),
    ],
)
def test_explicit_regimens_give_a_daily_dose(text: str, daily: float, derived: bool) -> None:
    unit = "ug" if "ug" in text else "mg"
    d = read_daily_dose(text, unit)
    assert (d.status, d.value, d.unit, d.derived) == ("known", daily, f"{unit}/day", derived)
    assert d.how


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("up to 80 mg", "up to"),
        ("titrated up to 150 mg/day", "up to"),
        ("baclofen 30-80 mg/day", "range"),
        ("baclofen 30 to 80 mg daily", "range"),
        ("0.5 mg/kg/day", "per kilogram"),
        ("10 mg (1-2 caps tid prn)", "as needed"),
        ("10 mg tid prn", "as needed"),
        ("median dose 20 mg/day", "median"),
        ("Most often 10 mg po tid", "most frequent"),
        ("baclofen >=20 mg/day", "lower bound"),
        ("active bolus (50 ug)", "no daily frequency"),
        ("10 mg t.i.d. and 20 mg t.i.d.", "several daily doses"),
        ("dose 182±135 ug/day", "spread"),
    ],
)
def test_ambiguous_doses_stay_unknown_with_why(text: str, why: str) -> None:
    unit = "ug" if "ug" in text else "mg"
    d = read_daily_dose(text, unit)
    assert d.status == "ambiguous" and d.value is None
    assert why in d.why


def test_target_and_mean_achieved_doses_are_told_apart() -> None:
    target = read_daily_dose("titrated over 7 weeks to target 180 mg/day", "mg")
    assert (target.value, target.kind) == (180.0, "assigned") and "target" in target.how
    mean = read_daily_dose("Mean dose 494.9 ug/day", "ug")
    assert (mean.value, mean.kind) == (494.9, "achieved_mean")


def test_other_units_and_dose_free_text_are_not_read() -> None:
    assert read_daily_dose("oral 20 mg/day before the pump", "ug").status == "none"
    assert read_daily_dose("baclofen", "mg").status == "none"
    assert read_daily_dose(None, "mg").status == "none"
