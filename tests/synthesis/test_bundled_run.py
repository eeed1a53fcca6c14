"""The bundled data: every pool names its comparison, and no pool crosses comparisons."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from evidence.inputs.protocol import load_protocol
from evidence.synthesis.comparisons import comparator_of
from tests.conftest import synthesize


def test_every_pooled_row_names_a_comparison_whose_studies_share_route_and_comparator(
    data_copy: Path, tmp_path: Path
) -> None:
    result = synthesize(data_copy, tmp_path / "p", tmp_path / "r")
    assert result.exit_code == 0, result.output
    pooled = pd.read_csv(tmp_path / "p" / "baclofen" / "pooled.csv", dtype=str)
    assert pooled["comparison"].notna().all() and pooled["comparison_label"].notna().all()
    proto = load_protocol(data_copy / "protocols" / "baclofen.yaml")
    studies = pd.read_csv(data_copy / "studies.csv", dtype=str).set_index("study_id")
    empty = pooled["k"] == "0"  # a sensitivity analysis with nothing left: says why
    assert pooled.loc[empty, "studies"].isna().all()
    assert pooled.loc[empty, "note"].str.startswith("not estimable: ").all()
    for row in pooled[~empty].itertuples():
        ids = row.studies.split()
        routes = {studies.loc[s, "route"] for s in ids}
        kinds = {
            comparator_of(studies.loc[s, "comparator"], proto.usual_care_terms, "").kind
            for s in ids
        }
        assert len(routes) == 1 and len(kinds) == 1, (row.indication, row.comparison, ids)
        spec = proto.indication(row.indication).comparison(row.comparison)
        assert spec.label == row.comparison_label
        assert spec.routes is None or routes <= set(spec.routes)
    unassigned = pd.read_csv(tmp_path / "p" / "baclofen" / "unassigned.csv", dtype=str)
    assert unassigned["why"].notna().all() and (unassigned["why"].str.len() > 0).all()
    assert set(unassigned["study_id"]).isdisjoint(
        {s for ids in pooled["studies"].dropna() for s in ids.split()}
    )
    html = (tmp_path / "r" / "baclofen" / "index.html").read_text(encoding="utf-8")
    assert 'id="table-unassigned"' in html and 'id="methods-notes"' in html
    for label in set(pooled["comparison_label"]):
        assert label in html
