"""The regenerated tables on the bundled data, and rules that live in data."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from tests.conftest import RAW, synthesize

LEVELS = {"Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient"}


def run(data: Path, tmp: Path) -> Path:
    out = tmp / "processed"
    result = synthesize(data, out, tmp / "reports")
    assert result.exit_code == 0, result.output
    return out / "baclofen"


@pytest.fixture(scope="module")
def processed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return run(RAW, tmp_path_factory.mktemp("run"))


def test_uses_one_row_per_indication_with_reasons(processed: Path) -> None:
    proto = yaml.safe_load((RAW / "protocols" / "baclofen.yaml").read_text())
    uses = pd.read_csv(processed / "table_uses.csv")
    assert list(uses["indication"]) == [i["id"] for i in proto["indications"]]
    assert set(uses["evidence_level"]) <= LEVELS
    for r in uses.itertuples():
        carried = r.reasons.split(" | ")[0]  # the comparison that carries the level comes first
        assert carried.startswith(f"carried by {r.carried_by}:"), r.reasons
        assert carried.endswith(f"→ {r.evidence_level}"), r.reasons
        assert isinstance(r.sources, str) and r.sources


def test_every_article_row_has_an_agreement_row(processed: Path) -> None:
    claims = yaml.safe_load((RAW / "claims" / "baclofen.yaml").read_text())
    agreement = pd.read_csv(processed / "agreement.csv", keep_default_na=False)
    expected = sum(len(t["rows"]) for t in claims["tables"].values())
    assert len(agreement) == expected
    assert set(agreement["equal"]) <= {"yes", "no", "n/a"}
    differing = agreement[agreement["equal"] == "no"]
    assert (differing["why_different"] != "").all()


def test_tables_carry_sources(processed: Path) -> None:
    for name in (
        "table_dosage.csv",
        "table_side_effects.csv",
        "table_interactions.csv",
        "pooled.csv",
    ):
        frame = pd.read_csv(processed / name, keep_default_na=False)
        assert len(frame) > 0, name
        with_studies = (
            frame[frame.get("arms_with_counts", 1) != 0] if "arms_with_counts" in frame else frame
        )
        if name == "pooled.csv":  # a sensitivity analysis left with no study has no source
            with_studies = frame[frame["k"] != 0]
        assert (with_studies["sources"] != "").all(), name


def test_sensitivity_leaves_out_derived_comparisons(processed: Path) -> None:
    pooled = pd.read_csv(processed / "pooled.csv")
    ex = pooled[pooled["analysis"] == "excluding_derived"]
    assert len(ex) > 0 and (ex["derived_comparisons"] == 0).all()
    for r in ex.itertuples():
        primary = pooled[
            (pooled.indication == r.indication)
            & (pooled.comparison == r.comparison)
            & (pooled.outcome == r.outcome)
            & (pooled.tier == "all")
            & (pooled.analysis == "primary")
        ].iloc[0]
        assert r.k == primary.k - primary.derived_comparisons


def test_sensitivity_leaves_out_exactly_the_high_risk_trials(processed: Path) -> None:
    rob = pd.read_csv(RAW / "risk_of_bias.csv", keep_default_na=False)
    high = set(rob.loc[rob["overall"] == "high", "study_id"])
    pooled = pd.read_csv(processed / "pooled.csv", keep_default_na=False)
    primary = pooled[(pooled["tier"] == "all") & (pooled["analysis"] == "primary")]
    keys = ["indication", "comparison", "outcome"]
    sens = pooled[pooled["analysis"] == "excluding_high_risk"].set_index(keys)
    expected = {
        tuple(r[k] for k in keys): [s for s in r["studies"].split() if s not in high]
        for _, r in primary.iterrows()
        if high & set(r["studies"].split())
    }
    assert expected and set(expected) == set(sens.index)
    for key, kept in expected.items():
        row = sens.loc[key]
        assert row["studies"].split() == kept
        assert row["k"] == len(kept)
        assert (row["note"] != "") == (not kept)


def test_a_stricter_rule_set_changes_the_rating(data_copy: Path, tmp_path: Path) -> None:
    rules_path = data_copy / "rules" / "evidence_levels_v3.yaml"
    rules = yaml.safe_load(rules_path.read_text())
    for rule in rules["by_comparison"]["levels"]:
        for cond in rule.get("all", []):
            if rule["level"] == "Mixed" and cond[0] == "evidence_trials":
                cond[2] = 100
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    uses = pd.read_csv(run(data_copy, tmp_path) / "table_uses.csv").set_index("indication")
    assert uses.loc["alcohol_use_disorder", "evidence_level"] != "Mixed"


def test_rule_set_version_must_match_the_protocol(data_copy: Path, tmp_path: Path) -> None:
    rules_path = data_copy / "rules" / "evidence_levels_v3.yaml"
    rules = yaml.safe_load(rules_path.read_text())
    rules["version"] = "9.9.9"
    rules_path.write_text(yaml.safe_dump(rules, sort_keys=False))
    result = synthesize(data_copy, tmp_path / "p", tmp_path / "r")
    assert result.exit_code == 1
    assert "evidence_levels_v3.yaml:version" in result.output
    assert "'9.9.9'" in result.output and "rule_set_version '3.0.0'" in result.output


def test_side_effect_frequencies_come_only_from_exposed_participants(processed: Path) -> None:
    rules = yaml.safe_load((RAW / "rules" / "evidence_levels_v2.yaml").read_text())["harms"]
    studies = pd.read_csv(RAW / "studies.csv", keep_default_na=False)
    design = dict(zip(studies["study_id"], studies["design"], strict=True))
    side = pd.read_csv(processed / "table_side_effects.csv", keep_default_na=False)
    assert len(side) > 0
    for r in side.itertuples():
        groups = [g for g in r.exposed_groups.split("; ") if g]
        if not groups:
            assert r.frequency == "not assessable", r
        cited = [g.rsplit("(", 1)[1].rstrip(")") for g in groups]
        assert all(design[s] in rules["incidence_designs"] for s in cited), r
        for sid, d in design.items():
            if d in rules["signal_designs"] and f"{sid} (" in r.signals:
                assert sid not in cited, r
        if r.rr_vs_placebo != "":
            assert r.rr_k >= rules["rr_min_trials"], r
    assert side["reversibility"].ne("").all()
