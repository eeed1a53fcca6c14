"""The rule set is data: conditions, order, fallback, and versions are enforced."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from evidence.rating.domains import DomainJudgement
from evidence.rating.grade import grade_outcome
from evidence.rating.imprecision import InformationSize
from evidence.rating.rules import load_rules, rate
from evidence.tables.side_effects import band_of
from tests.conftest import RAW

RULES_PATH = RAW / "rules" / "evidence_levels.yaml"
RULES_V3 = load_rules(RAW / "rules" / "evidence_levels_v3.yaml")
RULES = load_rules(RULES_PATH)


def features(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "placebo_rcts_with_direction": 0,
        "placebo_favour_share": None,
        "active_supportive_share": 1.0,
        "reviews": 0,
        "published_conflict": False,
        "pooled_conflict": False,
        "rcts_with_direction": 0,
        "preclinical": 0,
        "preclinical_minus_human_trials": 0,
        "human_studies": 0,
    }
    return base | over


def test_strong_needs_every_condition() -> None:
    strong = features(
        placebo_rcts_with_direction=5,
        placebo_favour_share=0.8,
        reviews=2,
        rcts_with_direction=5,
        human_studies=9,
    )
    assert rate(RULES, strong, "x").level == "Strong"
    assert rate(RULES, strong | {"reviews": 0}, "x").level != "Strong"
    # a published conflict turns consistent trials into mixed evidence
    assert rate(RULES, strong | {"published_conflict": True}, "x").level == "Mixed"


def test_comparable_active_trials_support_rather_than_undermine() -> None:
    f = features(
        placebo_rcts_with_direction=4,
        placebo_favour_share=0.75,
        reviews=1,
        rcts_with_direction=9,
        active_supportive_share=1.0,
        human_studies=12,
    )
    assert rate(RULES, f, "x").level == "Strong"
    assert rate(RULES, f | {"active_supportive_share": 0.2}, "x").level != "Strong"


def test_preclinical_before_mixed_and_fallbacks() -> None:
    f = features(
        rcts_with_direction=4,
        placebo_rcts_with_direction=3,
        placebo_favour_share=0.33,
        preclinical=13,
        preclinical_minus_human_trials=8,
        human_studies=6,
    )
    assert rate(RULES, f, "x").level == "Preclinical"
    assert (
        rate(RULES, f | {"preclinical": 0, "preclinical_minus_human_trials": -5}, "x").level
        == "Mixed"
    )
    assert rate(RULES, features(human_studies=2), "x").level == "Experimental/limited"
    assert rate(RULES, features(), "x").level == "Insufficient"


def test_reasons_name_the_level_and_the_rule_version() -> None:
    r = rate(RULES, features(human_studies=1), "1 case report")
    assert r.reasons == "1 case report → Experimental/limited"
    assert r.rule_set_version == RULES.version
    assert r.conditions == ("human_studies >= 1",)


def test_unknown_feature_is_an_error(tmp_path: Path) -> None:
    raw = yaml.safe_load(RULES_PATH.read_text())
    raw["levels"][0]["all"].append(["no_such_feature", ">=", 1])
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(KeyError, match="no_such_feature"):
        rate(load_rules(path), features(), "x")


def test_rule_set_must_end_with_a_fallback(tmp_path: Path) -> None:
    raw = yaml.safe_load(RULES_PATH.read_text())
    raw["levels"] = raw["levels"][:-1]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ValueError, match="last level"):
        load_rules(path)


@pytest.mark.parametrize(
    ("pct", "band"),
    [
        (10, "very common"),
        (9.99, "common"),
        (1, "common"),
        (0.99, "uncommon"),
        (0.1, "uncommon"),
        (0.05, "rare"),
        (0.01, "rare"),
        (0.009, "very rare"),
    ],
)
def test_frequency_bands_at_their_bounds(pct: float, band: str) -> None:
    assert band_of(pct, RULES) == band


def grade(**over: object):
    args: dict[str, object] = dict(
        randomised=True,
        k=5,
        ci_low=0.2,
        ci_high=0.8,
        pi_low=0.1,
        pi_high=0.9,
        i2=10.0,
        participants=1000,
        binary=False,
        information=InformationSize(400, "test"),
        risk_of_bias=DomainJudgement("risk of bias", "no concern", "all low risk"),
        indirectness=DomainJudgement("indirectness", "no concern", "direct"),
    )
    return grade_outcome(RULES_V3.grade, **(args | over))  # type: ignore[arg-type]


def test_grade_starts_high_for_trials_and_low_for_observational() -> None:
    assert grade().level == "High"
    assert grade(randomised=False).level == "Low"


def test_grade_domains_lower_certainty_with_reasons() -> None:
    assert grade(i2=60.0).level == "Moderate"
    assert grade(i2=80.0).level == "Low"
    c = grade(ci_low=-0.1, participants=100)
    imprecision = c.domain("imprecision")
    assert c.level == "Low"  # 100 < 0.4 x 400: very serious; the CI criterion does not add
    assert imprecision.downgrade == 2 and "100 participants < 0.4 × OIS 400" in imprecision.reason
    assert grade(ci_low=-0.1, participants=300).level == "Moderate"
    assert grade(pi_low=-0.2).level == "Moderate"  # CI excludes no effect, PI does not
    bad = DomainJudgement("indirectness", "serious", "surrogate outcome")
    assert grade(i2=80.0, ci_low=-1.0, participants=10, indirectness=bad).level == "Very low"
