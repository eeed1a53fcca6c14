"""The paths that read rows once into plain records give exactly what the per-call DataFrame
selections gave: the pools of the bundled protocol, control arms left out by a comparison's
terms, and the typed input tables."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evidence import pipeline
from evidence.inputs import snapshot as snap_mod
from evidence.inputs.protocol import ComparisonSpec
from evidence.inputs.risk_of_bias import high_risk
from evidence.inputs.textfile import read_csv_rows
from evidence.runs.workspace import Workspace
from evidence.synthesis.pool import pool_outcome, pool_protocol, relevant_controls
from evidence.synthesis.tabulate import GROUP_KEYS, outcomes_by_tier
from tests.conftest import RAW


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> tuple:
    out = tmp_path_factory.mktemp("out")
    ws = Workspace(RAW, out / "processed", out / "reports")
    snapshot = pipeline.load(ws, None)
    return snapshot, pipeline.tabulate(snapshot)


def test_pooling_split_once_equals_pooling_each_outcome_from_the_whole_frames(
    bundled: tuple,
) -> None:
    snapshot, tab = bundled
    p, risk = snapshot.protocol, high_risk(snapshot.risk_of_bias)
    split = pool_protocol(tab.tiered, p, tab.effects, risk)
    each = [
        a
        for ind in p.indications
        for comparison in ind.comparison_specs
        for spec in ind.outcomes
        for a in pool_outcome(tab.tiered, p, ind.id, spec, comparison, tab.effects, risk)
    ]
    assert len(split) == len(each) > 10
    assert any(a.analysis != "primary" for a in split)
    assert [repr(a) for a in split] == [repr(a) for a in each]  # repr: nan equals nan


def test_relevant_controls_leaves_out_the_unnamed_control_arms_of_a_naming_study() -> None:
    rows = pd.DataFrame(
        {
            "study_id": ["a", "a", "a", "b", "b"],
            "arm_role": ["treatment", "control", "control", "treatment", "control"],
            "arm": ["drug", "Placebo tablets", "usual care", "drug", None],
        }
    )
    spec = ComparisonSpec.model_validate(
        {"id": "c", "label": "c", "control_arm_terms": ["placebo"]}
    )
    kept = relevant_controls(rows, spec)
    assert kept.index.tolist() == [0, 1, 3, 4]  # b names no arm: its control stays


def test_outcomes_by_tier_counts_groups_with_missing_keys_and_numbers() -> None:
    rows = pd.DataFrame(
        {
            "indication": ["i"] * 5,
            "outcome": ["o"] * 5,
            "dose_tier": pd.array(["low", "low", None, "high", "low"], dtype="str"),
            "arm_role": ["treatment", "treatment", "treatment", "control", "treatment"],
            "study_id": ["s2", "s1", "s3", "s1", "s2"],
            "row_id": ["r1", "r2", "r3", "r4", "r5"],
            "n": pd.array([10, None, 5, 8, 4], dtype="Int64"),
            "events": pd.array([None, None, 1, 2, 3], dtype="Int64"),
            "mean": pd.array([None] * 5, dtype="Float64"),
            "sd": pd.array([None] * 5, dtype="Float64"),
            "se": pd.array([None] * 5, dtype="Float64"),
            "derived": pd.array([True, None, False, True, True], dtype="boolean"),
        }
    )
    out = outcomes_by_tier(rows).set_index(GROUP_KEYS)
    low = out.loc[("i", "o", "low", "treatment")]
    assert (low["studies"], low["arms"], low["participants"], low["events"]) == (2, 3, 14, 3)
    assert (low["derived_arms"], low["study_ids"]) == (2, "s1 s2")
    missing = out.loc[("i", "o", np.nan, "treatment")]
    assert (missing["arms"], missing["study_ids"]) == (1, "s3")
    assert out.loc[("i", "o", "high", "control")]["participants"] == 8


def test_typed_tables_equal_the_column_by_column_typing(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "study_id,n,derived,mean,note\ns1, 12 ,true,1.5,\ns2,,x, ,a note\ns3,3,false,,\n",
        encoding="utf-8",
    )
    header, rows = read_csv_rows(path)
    fast, slow = snap_mod._typed(path), snap_mod._typed_frame(header, rows)
    assert fast.equals(slow)
    assert list(fast.dtypes) == list(slow.dtypes)
    assert fast["n"].tolist() == [12, pd.NA, 3]
    assert fast["derived"].tolist() == [True, pd.NA, False]
    assert fast["mean"].tolist() == [1.5, pd.NA, pd.NA]
    assert fast["note"].tolist() == [None, "a note", None]


def test_loading_types_the_rows_validation_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each input table is read once: what was validated is what is loaded."""
    from evidence.inputs import validate
    from evidence.inputs.protocol import load_protocol

    reads: list[str] = []

    def counted(path: Path, *args: object, **kwargs: object) -> object:
        reads.append(Path(path).name)
        return read_csv_rows(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "read_csv_rows", counted)
    monkeypatch.setattr(snap_mod, "read_csv_rows", counted)
    protocol = load_protocol(RAW / "protocols" / "baclofen.yaml")
    snapshot = snap_mod.load_snapshot(RAW, protocol)
    assert reads.count("studies.csv") == 1 and reads.count("outcomes.csv") == 1
    assert len(snapshot.studies) > 10
