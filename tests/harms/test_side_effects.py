"""Side-effect frequencies, signals and relative risks on small hand-made data sets."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from evidence.inputs.protocol import Protocol, SideEffectRow, load_protocol
from evidence.meta.fit import rma_mh
from evidence.rating.rules import RuleSet, load_rules
from evidence.synthesis.tabulate import assign_tiers
from evidence.tables.side_effects import SideEffect, side_effect_rows, side_effects_frame
from tests.conftest import RAW, synthesize

PROTOCOL = load_protocol(RAW / "protocols" / "baclofen.yaml")
RULES = load_rules(RAW / "rules" / "evidence_levels_v2.yaml")
SPEC = SideEffectRow(
    row="Drowsiness",
    outcomes=["ae_x"],
    signal_outcomes=["stopped_for_x"],
    reversibility_outcomes=["x_resolved"],
)

OUTCOME_COLS = [
    "row_id", "study_id", "outcome", "outcome_definition", "timepoint_weeks", "arm", "arm_role",
    "dose_mg_day", "dose_ug_day", "n", "events", "mean", "sd", "se", "pct", "derived",
    "derived_how", "source_url", "note",
]  # fmt: skip


def study(sid: str, design: str, route: str = "oral", comparator: str = "placebo") -> dict:
    return {
        "study_id": sid,
        "indication": "condition_a",
        "design": design,
        "route": route,
        "comparator": comparator,
        "year": 2000,
        "dose_min": None,
        "dose_max": None,
        "dose_unit": None,
    }


def arm(sid: str, role: str, *, outcome: str = "ae_x", **values: Any) -> dict:
    row = dict.fromkeys(OUTCOME_COLS)
    row.update(
        row_id=f"{sid}-{role}-{outcome}-{values.get('dose_mg_day', '')}",
        study_id=sid,
        outcome=outcome,
        arm=values.pop("arm", "drug" if role != "control" else "placebo"),
        arm_role=role,
        derived="false",
    )
    row.update(values)
    return row


def table(
    studies: list[dict], arms: list[dict], rules: RuleSet = RULES, spec: SideEffectRow = SPEC
) -> list[SideEffect]:
    st = pd.DataFrame(studies)
    out = pd.DataFrame(arms, columns=OUTCOME_COLS)
    for col in ("n", "events", "pct", "mean", "dose_mg_day", "dose_ug_day"):
        out[col] = pd.to_numeric(out[col])
    tiered = assign_tiers(out, st, PROTOCOL)
    return side_effect_rows(spec, tiered, PROTOCOL, rules)


def by_route(found: list[SideEffect]) -> dict[str, SideEffect]:
    return {s.route: s for s in found}


def with_harms(**changes: Any) -> RuleSet:
    return RULES.model_copy(update={"harms": {**RULES.harms, **changes}})


TRIALS = [study("trial_a", "rct"), study("trial_b", "rct")]
TRIAL_ARMS = [
    arm("trial_a", "treatment", n=100, events=3),
    arm("trial_a", "control", n=100, events=1),
    arm("trial_b", "treatment", n=120, events=2),
    arm("trial_b", "control", n=110, events=1),
]


def test_trials_with_enough_exposed_set_the_band_from_counts() -> None:
    (s,) = table(TRIALS, TRIAL_ARMS)
    assert s.route == "oral" and s.participants == 220
    assert s.band == "common" and s.band_basis.startswith("pooled counts, 220 exposed")


def test_an_overdose_case_series_with_a_high_event_rate_changes_no_band() -> None:
    (before,) = table(TRIALS, TRIAL_ARMS)
    overdose = study("overdose_series", "case_series", comparator="")
    (after,) = table(
        [*TRIALS, overdose],
        [*TRIAL_ARMS, arm("overdose_series", "single", n=23, events=20, arm="overdose cases")],
    )
    assert after.band == before.band
    assert after.incidence_pct == before.incidence_pct
    assert after.participants == before.participants
    assert "overdose_series (case_series; overdose cases): ae_x 20 of 23" in after.signals


def test_a_withdrawal_report_of_cases_is_listed_never_a_frequency() -> None:
    review = study("withdrawal_cases", "narrative_review", route="", comparator="")
    (s,) = table([review], [arm("withdrawal_cases", "single", pct=56.5, arm="withdrawal cases")])
    assert s.band == "not assessable" and s.incidence_pct is None
    assert s.printed_pct == ""
    assert "56.5% as printed (count not printed)" in s.signals


def test_people_who_stopped_for_the_effect_are_a_signal_not_its_incidence() -> None:
    open_trial = study("open_trial", "single_arm", comparator="none")
    (s,) = table(
        [open_trial], [arm("open_trial", "single", outcome="stopped_for_x", n=35, events=9)]
    )
    assert s.band == "not assessable" and s.participants == 0
    assert "stopped_for_x 9 of 35" in s.signals


def test_routes_are_kept_apart() -> None:
    pump = study("pump_cohort", "cohort", route="intrathecal", comparator="none")
    found = by_route(
        table([*TRIALS, pump], [*TRIAL_ARMS, arm("pump_cohort", "single", n=9, events=8)])
    )
    assert set(found) == {"oral", "intrathecal"}
    assert found["oral"].band == "common" and found["oral"].participants == 220
    assert found["intrathecal"].band == "very common"
    assert "only 9 exposed" in found["intrathecal"].band_basis


def test_a_single_zero_cell_trial_makes_no_rr_claim() -> None:
    arms = [
        arm("trial_a", "treatment", n=20, events=12),
        arm("trial_a", "control", n=20, events=0),
    ]
    (s,) = table([study("trial_a", "rct")], arms)
    assert s.rr is None and s.rr_ci is None and s.rr_k == 1
    assert "no RR claimed" in s.rr_note
    assert "12/20 vs 0/20 (trial_a)" in s.placebo_comparison


def test_two_trials_give_a_mantel_haenszel_rr_despite_a_zero_cell() -> None:
    arms = [
        arm("trial_a", "treatment", n=20, events=12),
        arm("trial_a", "control", n=20, events=0),
        arm("trial_b", "treatment", n=50, events=10),
        arm("trial_b", "control", n=50, events=4),
    ]
    (s,) = table(TRIALS, arms)
    mh = rma_mh([12, 10], [20, 50], [0, 4], [20, 50], measure="RR")
    assert s.rr == pytest.approx(math.exp(mh.estimate))
    assert s.rr_ci == pytest.approx((math.exp(mh.ci_low), math.exp(mh.ci_high)))
    assert s.rr_k == 2 and "Mantel–Haenszel" in s.rr_note


def test_one_trial_suffices_when_the_rule_set_says_so() -> None:
    arms = [arm("trial_a", "treatment", n=40, events=8), arm("trial_a", "control", n=40, events=2)]
    (s,) = table([study("trial_a", "rct")], arms, rules=with_harms(rr_min_trials=1))
    assert s.rr == pytest.approx(4.0)


def test_an_active_comparator_trial_gives_no_rr_against_placebo() -> None:
    active = study("head_to_head", "rct", comparator="active:other_drug")
    arms = [
        arm("head_to_head", "treatment", n=100, events=30),
        arm("head_to_head", "control", n=100, events=5),
    ]
    (s,) = table([active], arms, rules=with_harms(rr_min_trials=1))
    assert s.rr is None and s.rr_k == 0 and s.placebo_comparison == ""
    assert s.participants == 100  # its drug arm still counts exposed people


def test_a_label_percentage_sets_the_band_over_a_small_trial() -> None:
    small = [arm("trial_a", "treatment", n=15, events=1)]
    (without,) = table([study("trial_a", "rct")], small)
    assert without.band == "common" and "only 15 exposed" in without.band_basis
    label = study("label_x", "drug_label", comparator="")
    (s,) = table(
        [study("trial_a", "rct"), label],
        [*small, arm("label_x", "treatment", pct=0.5), arm("label_x", "control", pct=0.4)],
    )
    assert s.band == "uncommon" and s.band_basis == "label: 0.5% (label_x)"
    assert "0.5% vs 0.4% (label_x: placebo; printed)" in s.placebo_comparison


def test_counts_from_enough_exposed_outrank_a_label_when_the_rule_set_orders_so() -> None:
    label = study("label_x", "drug_label", comparator="")
    rules = with_harms(band_order=["counts", "label", "printed", "few_counts"])
    (s,) = table([*TRIALS, label], [*TRIAL_ARMS, arm("label_x", "treatment", pct=0.5)], rules)
    assert s.band == "common" and s.band_basis.startswith("pooled counts")


def test_printed_trial_percentages_outrank_few_counts() -> None:
    arms = [
        arm("trial_a", "treatment", n=15, events=1),
        arm("trial_b", "treatment", pct=28.7),
    ]
    (s,) = table(TRIALS, arms)
    assert s.band == "very common" and "median 28.7% (trial_b)" in s.band_basis


def test_derived_counts_can_be_left_out() -> None:
    arms = [*TRIAL_ARMS, arm("trial_c", "treatment", n=200, events=60, derived="true")]
    studies = [*TRIALS, study("trial_c", "rct")]
    (kept,) = table(studies, arms)
    (left,) = table(studies, arms, rules=with_harms(exclude_derived=True))
    assert kept.participants == 420 and left.participants == 220
    assert kept.band_basis.endswith("includes derived counts (trial_c)")
    assert "derived" not in left.band_basis


def test_an_rr_that_uses_a_crossover_trial_says_how_it_entered() -> None:
    arms = [
        arm("trial_a", "treatment", n=20, events=8),
        arm("trial_a", "control", n=20, events=2),
        arm("cross_b", "treatment", n=15, events=6),
        arm("cross_b", "control", n=15, events=1),
    ]
    (s,) = table([study("trial_a", "rct"), study("cross_b", "crossover_rct")], arms)
    assert s.rr is not None
    assert s.rr_note.endswith("periods taken as parallel groups (cross_b)")


def test_reversibility_comes_from_the_rows_or_says_not_reported() -> None:
    (none,) = table(TRIALS, TRIAL_ARMS)
    assert none.reversibility == "not reported"
    cohort = study("cohort_a", "cohort", comparator="none")
    arms = [
        arm("cohort_a", "single", n=30, events=6, outcome_definition="mild transient x"),
        arm("cohort_a", "single", outcome="x_resolved", pct=43.5, outcome_definition="resolved"),
    ]
    (s,) = table([cohort], arms)
    assert "transient (cohort_a)" in s.reversibility
    assert "resolved: 43.5% (cohort_a)" in s.reversibility


def test_dose_dependence_compares_arms_of_different_doses() -> None:
    arms = [
        arm("trial_a", "treatment", n=40, events=4, dose_mg_day=30),
        arm("trial_a", "treatment", n=40, events=12, dose_mg_day=90, arm="drug high"),
        arm("trial_a", "control", n=40, events=2),
    ]
    (s,) = table([study("trial_a", "rct")], arms)
    assert "trial_a: 4/40 at 30 mg/day, 12/40 at 90 mg/day" in s.dose_dependence
    (flat,) = table(TRIALS, TRIAL_ARMS)
    assert flat.dose_dependence.startswith("not assessable")


def test_the_frame_has_one_row_per_side_effect_and_route() -> None:
    pump = study("pump_cohort", "cohort", route="intrathecal", comparator="none")
    st = pd.DataFrame([*TRIALS, pump])
    out = pd.DataFrame(
        [*TRIAL_ARMS, arm("pump_cohort", "single", n=9, events=8)], columns=OUTCOME_COLS
    )
    for col in ("n", "events", "pct", "mean", "dose_mg_day", "dose_ug_day"):
        out[col] = pd.to_numeric(out[col])
    proto: Protocol = PROTOCOL.model_copy(update={"side_effects": [SPEC]})
    frame, found = side_effects_frame(assign_tiers(out, st, proto), {}, proto, RULES)
    assert list(zip(frame["side_effect"], frame["route"], strict=True)) == [
        ("Drowsiness", "intrathecal"),
        ("Drowsiness", "oral"),
    ]
    assert len(found) == 2


@pytest.mark.parametrize(
    ("harms", "message"),
    [
        ({}, "has no `harms:` section"),
        ({**RULES.harms, "min_exposed": 0}, "harms.min_exposed"),
        ({**RULES.harms, "band_order": ["label", "guess"]}, "harms.band_order"),
        ({**RULES.harms, "signal_designs": ["rct"]}, "both incidence and signal"),
    ],
)
def test_a_bad_harms_section_is_refused_by_name(harms: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        table(TRIALS, TRIAL_ARMS, rules=RULES.model_copy(update={"harms": harms}))


def test_a_run_with_a_bad_harms_section_stops_naming_it_and_writes_no_table(
    data_copy: Path, tmp_path: Path
) -> None:
    path = data_copy / "rules" / "evidence_levels_v3.yaml"
    rules = yaml.safe_load(path.read_text(encoding="utf-8"))
    rules["harms"]["rr_min_trials"] = 0
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    result = synthesize(data_copy, tmp_path / "processed", tmp_path / "reports")
    assert result.exit_code != 0
    assert "harms.rr_min_trials" in result.output
    assert not (tmp_path / "processed" / "baclofen" / "table_side_effects.csv").exists()
    assert not (tmp_path / "reports" / "baclofen").exists()


def test_designs_in_neither_list_are_named_as_left_out() -> None:
    animal = study("mouse_study", "animal", comparator="placebo")
    (s,) = table(
        [*TRIALS, animal],
        [*TRIAL_ARMS, arm("mouse_study", "treatment", n=10, events=9)],
    )
    assert s.participants == 220 and "mouse_study" not in s.signals
    assert s.left_out == "mouse_study (animal)"


def test_an_arm_with_no_participants_gives_no_rate() -> None:
    (s,) = table(TRIALS, [*TRIAL_ARMS, arm("trial_b", "treatment", n=0, events=0, arm="b2")])
    assert s.participants == 220 and s.arms == 2


def test_an_active_arm_of_a_placebo_trial_stays_out_of_the_rr() -> None:
    three_arm = [
        arm("trial_a", "treatment", n=40, events=10),
        arm("trial_a", "control", n=40, events=2, arm="placebo"),
        arm("trial_a", "control", n=40, events=30, arm="other drug"),
        arm("trial_b", "treatment", n=50, events=10),
        arm("trial_b", "control", n=50, events=4),
    ]
    (s,) = table(TRIALS, three_arm)
    mh = rma_mh([10, 10], [40, 50], [2, 4], [40, 50], measure="RR")
    assert s.rr == pytest.approx(math.exp(mh.estimate))
    assert "10/40 vs 2/40 (trial_a)" in s.placebo_comparison
