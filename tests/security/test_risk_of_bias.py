"""Risk of bias: the per-trial records as loaded, and GRADE's risk-of-bias domain of a pool."""

from __future__ import annotations

import copy
import csv
from collections import Counter
from pathlib import Path

import pytest
import yaml

from evidence.inputs.protocol import load_protocol
from evidence.inputs.risk_of_bias import RiskOfBias, Signals, high_risk, load_risk_of_bias
from evidence.inputs.snapshot import load_snapshot
from evidence.rating.grade import grade_outcome
from evidence.rating.risk_of_bias import (
    RiskOfBiasRulesError,
    RobRules,
    judge_risk_of_bias,
    pool_risk_of_bias,
    rules_of,
)
from tests.conftest import RAW


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_loader_types_every_row_of_the_file() -> None:
    path = RAW / "risk_of_bias.csv"
    rows = _rows(path)
    records = load_risk_of_bias(path)
    assert list(records) == [r["study_id"] for r in rows]
    assert Counter(r.overall for r in records.values()) == Counter(r["overall"] for r in rows)
    for row in rows:
        rec = records[row["study_id"]]
        assert rec.domains["missing outcome data"] == row["domain_missing_data"]
        assert rec.domains["selection of the reported result"] == row["domain_selection"]
        assert rec.signals.blinding == (row["blinding"] or None)
        assert rec.signals.registration == (row["registration"] or None)
        assert rec.source_url == row["source_url"]
    assert high_risk(records) == {r["study_id"] for r in rows if r["overall"] == "high"}
    assert high_risk(None) == frozenset()


def test_snapshot_holds_the_records_or_none(data_copy: Path) -> None:
    proto = load_protocol(data_copy / "protocols" / "baclofen.yaml")
    snap = load_snapshot(data_copy, proto)
    assert snap.risk_of_bias is not None
    assert all(isinstance(r, RiskOfBias) for r in snap.risk_of_bias.values())
    assert set(snap.risk_of_bias) <= set(snap.studies["study_id"])
    assert "risk_of_bias.csv" in snap.input_hashes  # a changed judgement is a new run

    bare = proto.model_copy(update={"files": proto.files.model_copy(update={"risk_of_bias": None})})
    (data_copy / "risk_of_bias.csv").unlink()
    snap = load_snapshot(data_copy, bare)
    assert snap.risk_of_bias is None
    assert "risk_of_bias.csv" not in snap.input_hashes


# --- GRADE's risk-of-bias domain of one pool, on hand-made records ---------------------------


def rec(sid: str, overall: str) -> RiskOfBias:
    """A trial whose five domains agree with its overall judgement (enough for the domain)."""
    return RiskOfBias(
        sid, overall, overall, overall, overall, overall, overall, Signals(), "https://x.org/"
    )


V3 = yaml.safe_load((RAW / "rules" / "evidence_levels_v3.yaml").read_text(encoding="utf-8"))


def grade_with(**policy: object) -> dict:
    """The bundled rule set's `grade` section with the risk-of-bias policy changed."""
    grade = copy.deepcopy(V3["grade"])
    grade["risk_of_bias"].update(policy)
    return grade


def test_bundled_rule_set_states_its_policy() -> None:
    rules = rules_of(V3["grade"])
    assert rules is not None
    assert rules.no_information == "some_concerns"  # conservative: cannot be judged low
    assert 0 < rules.serious_share <= 1 and 0 < rules.very_serious_high_share <= 1


def test_pool_of_high_risk_studies_is_very_serious() -> None:
    records = {s: rec(s, "high") for s in ("a", "b", "c")}
    j = judge_risk_of_bias(["a", "b", "c"], [50.0, 30.0, 20.0], records, RobRules())
    assert (j.judgement, j.downgrade) == ("very serious", 2)
    assert "3 of 3 studies, 100% of the weight, count as at high risk (≥ 50%)" in j.reason
    assert "high risk 3 studies (100%)" in j.reason


def test_pool_of_unassessed_studies_follows_the_policy_and_says_so() -> None:
    j = judge_risk_of_bias(["a", "b"], [60.0, 40.0], {}, RobRules())
    assert j.judgement == "serious"
    assert j.reason.startswith("no study of the pool has a risk-of-bias assessment")
    assert "no risk-of-bias row 2 studies (100%; treated as some concerns by policy)" in j.reason

    j = judge_risk_of_bias(["a", "b"], [60.0, 40.0], {}, RobRules(no_information="low"))
    assert j.judgement == "no concern"
    assert "treated as low risk by policy" in j.reason


def test_changing_the_policy_in_the_rule_set_changes_the_judgement() -> None:
    records = {"a": rec("a", "low"), "b": rec("b", "no_information"), "c": rec("c", "low")}
    studies, weights = ["a", "b", "c"], [20.0, 60.0, 20.0]
    seen = {}
    words = {"some_concerns": "some concerns", "high": "high risk", "low": "low risk"}
    for policy, said in words.items():
        j = pool_risk_of_bias(studies, weights, records, grade_with(no_information=policy))
        assert j is not None
        seen[policy] = j.judgement
        assert f"no information 1 study (60%; treated as {said} by policy)" in j.reason
    assert seen == {"some_concerns": "serious", "high": "very serious", "low": "no concern"}


def test_weight_not_the_count_of_studies_decides() -> None:
    records = {"big": rec("big", "low"), "s1": rec("s1", "high"), "s2": rec("s2", "high")}
    studies = ["big", "s1", "s2"]
    light = judge_risk_of_bias(studies, [80.0, 10.0, 10.0], records, RobRules())
    assert light.judgement == "no concern"  # two of three trials at high risk, 20% of weight
    assert "hold 20% of the weight (< 50%)" in light.reason
    heavy = judge_risk_of_bias(studies, [30.0, 35.0, 35.0], records, RobRules())
    assert heavy.judgement == "very serious"
    middle = judge_risk_of_bias(
        studies, [55.0, 25.0, 20.0], records, RobRules(very_serious_high_share=0.6)
    )
    assert middle.judgement == "no concern"
    some = {**records, "s2": rec("s2", "some_concerns")}
    assert judge_risk_of_bias(studies, [40.0, 30.0, 30.0], some, RobRules()).judgement == (
        "serious"
    )
    # thresholds come from the rule set
    lax = pool_risk_of_bias(studies, [40.0, 30.0, 30.0], some, grade_with(serious_share=0.7))
    assert lax is not None and lax.judgement == "no concern"


def test_a_share_at_the_threshold_is_shown_on_its_side() -> None:
    records = {"a": rec("a", "low"), "b": rec("b", "some_concerns")}
    j = judge_risk_of_bias(["a", "b"], [50.4, 49.6], records, RobRules())
    assert j.judgement == "no concern"
    assert "49.6% of the weight (< 50%)" in j.reason


def test_no_records_or_an_older_rule_set_leave_the_domain_unassessed() -> None:
    assert pool_risk_of_bias(["a"], [100.0], None, V3["grade"]) is None
    older = {k: v for k, v in V3["grade"].items() if k != "risk_of_bias"}
    assert pool_risk_of_bias(["a"], [100.0], {"a": rec("a", "high")}, older) is None
    c = grade_outcome(
        V3["grade"], randomised=True, k=1, ci_low=0.1, ci_high=0.9,
        pi_low=None, pi_high=None, i2=None, participants=1000, binary=True,
        risk_of_bias=pool_risk_of_bias(["a"], [100.0], {"a": rec("a", "high")}, V3["grade"]),
    )  # fmt: skip
    judged = c.domain("risk of bias")
    assert (judged.judgement, judged.downgrade) == ("very serious", 2)
    others = sum(d.downgrade for d in c.domains if d.domain != "risk of bias")
    assert c.level == ("Very low", "Low", "Moderate", "High")[max(0, 3 - 2 - others)]


@pytest.mark.parametrize(
    ("policy", "expect"),
    [
        ({"no_information": "unclear"}, "grade.risk_of_bias.no_information"),
        ({"serious_share": 50}, "grade.risk_of_bias.serious_share"),
        ({"very_serious_high_share": 0}, "grade.risk_of_bias.very_serious_high_share"),
        ({"serius_share": 0.5}, "unknown key"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_key(policy: dict, expect: str) -> None:
    with pytest.raises(RiskOfBiasRulesError, match=expect):
        rules_of(grade_with(**policy))
