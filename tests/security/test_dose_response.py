"""Dose-response meta-regression on the arms' daily doses: a known slope, and "not assessable"."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from evidence.inputs.protocol import Protocol, parse_protocol
from evidence.synthesis.dose_response import ASSESSED, NOT_ASSESSABLE, arm_contrasts, dose_response

SD = 2.0


def _protocol(method: str, test: str, rule: dict[str, int] | None) -> Protocol:
    raw: dict[str, object] = {
        "protocol_id": "toy",
        "version": "1",
        "title": "toy",
        "drug": {"name": "drug", "pubmed_term": "drug"},
        "indications": [
            {
                "id": "ind",
                "label": "Ind",
                "pubmed_query": "q",
                "outcomes": [
                    {"id": "score", "measure": "MD", "benefit": "lower", "label": "Score"},
                    {"id": "resp", "measure": "RR", "benefit": "higher", "label": "Resp"},
                ],
            }
        ],
        "dose_tiers": {
            "oral": {
                "unit": "mg/day",
                "field": "dose_mg_day",
                "tiers": [{"label": "low", "max": 60}, {"label": "high"}],
            }
        },
        "rating": {
            "rule_set": "rules.yaml",
            "rule_set_version": "1",
            "model": {"method": method, "test": test},
        },
    }
    if rule is not None:
        raw["dose_response"] = rule
    return parse_protocol(raw, "toy.yaml")


# study -> [(arm, dose, mean, n)], the control (mean 0, n) follows; s6 has two dose arms.
ARMS = {
    "s1": ([("a", 10.0, 2.0, 30)], 30),
    "s2": ([("a", 20.0, -0.5, 25)], 25),
    "s3": ([("a", 40.0, 3.8, 40)], 40),
    "s4": ([("a", 60.0, 1.5, 20)], 20),
    "s5": ([("a", 120.0, 7.5, 50)], 50),
    "s6": ([("lo", 30.0, 0.2, 20), ("hi", 90.0, 6.5, 20)], 40),
}


def _tiered(arms: dict[str, tuple[list[tuple[str, float, float, int]], int]]) -> pd.DataFrame:
    rows: list[dict[str, object]] = []
    for sid, (drug, n_ctrl) in arms.items():
        base = {
            "indication": "ind",
            "outcome": "score",
            "study_id": sid,
            "route": "oral",
            "timepoint_weeks": 12.0,
            "events": np.nan,
            "sd": SD,
            "se": np.nan,
        }
        for arm, dose, mean, n in drug:
            rows.append(
                base
                | {
                    "arm": arm,
                    "arm_role": "treatment",
                    "dose": dose,
                    "dose_derived": arm == "lo",
                    "mean": mean,
                    "n": n,
                }
            )
        rows.append(
            base
            | {
                "arm": "placebo",
                "arm_role": "control",
                "dose": np.nan,
                "dose_derived": False,
                "mean": 0.0,
                "n": n_ctrl,
            }
        )
    frame = pd.DataFrame(rows)
    frame["dose"] = frame["dose"].astype("Float64")
    return frame


def _expected(weights_tau2: float) -> tuple[float, float]:
    """Slope and its SE by a direct WLS of the arm contrasts on dose (shared control split)."""
    y, v, x = [], [], []
    for drug, n_ctrl in ARMS.values():
        share = n_ctrl / len(drug)
        for _, dose, mean, n in drug:
            y.append(mean)
            v.append(SD**2 / n + SD**2 / share)
            x.append(dose)
    w = 1 / (np.array(v) + weights_tau2)
    design = np.column_stack([np.ones(len(x)), x])
    cov = np.linalg.inv(design.T @ (design * w[:, None]))
    beta = cov @ design.T @ (w * np.array(y))
    return float(beta[1]), float(np.sqrt(cov[1, 1]))


def _row(frame: pd.DataFrame, analysis: str = "primary") -> pd.Series:
    return frame[
        (frame["outcome"] == "score") & (frame["route"] == "oral") & (frame["analysis"] == analysis)
    ].iloc[0]


@pytest.mark.parametrize("method", ["FE", "REML"])
def test_slope_matches_a_direct_weighted_regression(method: str) -> None:
    proto = _protocol(method, "z", {"min_studies": 5, "min_doses": 3})
    row = _row(dose_response(_tiered(ARMS), proto))
    assert row["status"] == ASSESSED
    assert (row["studies"], row["arms"], row["distinct_doses"], row["derived_doses"]) == (
        6,
        7,
        7,
        1,
    )
    if method == "REML":
        assert row["tau2"] > 0  # the weights really include tau^2
    slope, se = _expected(0.0 if method == "FE" else float(row["tau2"]))
    assert row["slope"] == pytest.approx(slope, abs=2e-6)
    assert row["slope_se"] == pytest.approx(se, abs=2e-5)
    assert 0.03 < row["slope"] < 0.08  # the hand-made set rises by about 0.05 per mg/day


def test_shared_control_is_split_between_dose_arms() -> None:
    con = arm_contrasts(_tiered(ARMS), "score", "MD")
    s6 = con.rows[con.rows["study_id"] == "s6"]
    assert list(s6["n_ctrl"]) == [20.0, 20.0]
    assert con.rows["n_ctrl"].sum() == 30 + 25 + 40 + 20 + 50 + 40  # every control counted once


def test_too_few_studies_or_doses_is_not_assessable_with_why() -> None:
    few = {k: ARMS[k] for k in ("s1", "s2", "s3")}
    proto = _protocol("REML", "knha", {"min_studies": 5, "min_doses": 3})
    row = _row(dose_response(_tiered(few), proto))
    assert row["status"] == NOT_ASSESSABLE and row["slope"] is None
    assert "only 3 studies" in row["reason"] and "asks for 5" in row["reason"]
    same = {k: ([(a, 30.0, m, n) for a, _, m, n in d], c) for k, (d, c) in ARMS.items()}
    row = _row(dose_response(_tiered(same), proto))
    assert row["status"] == NOT_ASSESSABLE
    assert "only 1 distinct daily doses" in row["reason"]


def test_no_thresholds_in_the_protocol_means_not_assessed() -> None:
    row = _row(dose_response(_tiered(ARMS), _protocol("REML", "knha", None)))
    assert row["status"] == NOT_ASSESSABLE
    assert "sets no dose-response thresholds" in row["reason"]


def test_arms_of_unknown_dose_are_counted_not_used() -> None:
    frame = _tiered(ARMS)
    frame.loc[(frame["study_id"] == "s5") & (frame["arm_role"] == "treatment"), "dose"] = pd.NA
    row = _row(dose_response(frame, _protocol("FE", "z", {"min_studies": 5, "min_doses": 3})))
    assert (row["studies"], row["arms_dose_unknown"]) == (5, 1)
    assert "s5" not in row["study_ids"].split()


def test_derived_doses_can_be_left_out() -> None:
    proto = _protocol("FE", "z", {"min_studies": 5, "min_doses": 3})
    frame = dose_response(_tiered(ARMS), proto)
    primary, sens = _row(frame), _row(frame, "excluding_derived_doses")
    assert (primary["arms"], sens["arms"]) == (7, 6)
    assert sens["derived_doses"] == 0 and sens["status"] == ASSESSED
    assert sens["slope"] != primary["slope"]
