"""Risk of bias: the per-trial records as loaded, and GRADE's risk-of-bias domain of a pool."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from evidence.inputs.protocol import load_protocol
from evidence.inputs.risk_of_bias import RiskOfBias, high_risk, load_risk_of_bias
from evidence.inputs.snapshot import load_snapshot
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
