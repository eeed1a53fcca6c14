"""The import keeps every source row, and the committed snapshot is what the import writes."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest

from evidence.inputs.importer import ImportConflict, import_evidence_set
from tests.conftest import RAW, SHARED_EVIDENCE

needs_source = pytest.mark.skipif(
    not SHARED_EVIDENCE.is_dir(), reason=f"curated source set not present at {SHARED_EVIDENCE}"
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


@needs_source
def test_import_keeps_every_row_and_value(tmp_path: Path) -> None:
    report = import_evidence_set(SHARED_EVIDENCE, tmp_path, "baclofen")
    for src_name, dest_name, n_in, n_out, _ in report.files:
        assert n_in == n_out, src_name
        if not src_name.endswith(".csv"):
            continue
        src_rows, dest_rows = rows(SHARED_EVIDENCE / src_name), rows(tmp_path / dest_name)
        assert len(src_rows) == len(dest_rows)
        for s, d in zip(src_rows, dest_rows, strict=True):
            assert {k: d[k] for k in s} == s  # same columns, same text
        if "row_id" in dest_rows[0]:
            ids = [r["row_id"] for r in dest_rows]
            assert len(set(ids)) == len(ids)


@needs_source
def test_committed_snapshot_equals_a_fresh_import(tmp_path: Path) -> None:
    report = import_evidence_set(SHARED_EVIDENCE, tmp_path, "baclofen")
    for _, dest_name, *_ in report.files:
        assert (tmp_path / dest_name).read_bytes() == (RAW / dest_name).read_bytes(), dest_name


@needs_source
def test_import_never_overwrites_different_files(tmp_path: Path) -> None:
    import_evidence_set(SHARED_EVIDENCE, tmp_path, "baclofen")
    target = tmp_path / "studies.csv"
    target.write_text("edited by a reviewer\n", encoding="utf-8")
    with pytest.raises(ImportConflict, match=r"studies\.csv"):
        import_evidence_set(SHARED_EVIDENCE, tmp_path, "baclofen")
    assert target.read_text(encoding="utf-8") == "edited by a reviewer\n"


@needs_source
def test_risk_of_bias_is_imported_verbatim_and_optional(tmp_path: Path) -> None:
    report = import_evidence_set(SHARED_EVIDENCE, tmp_path / "full", "baclofen")
    assert ("risk_of_bias.csv", "risk_of_bias.csv") in [f[:2] for f in report.files]
    src = SHARED_EVIDENCE / "risk_of_bias.csv"
    assert (tmp_path / "full" / "risk_of_bias.csv").read_bytes() == src.read_bytes()
    unjudged = sum(r["overall"] == "no_information" for r in rows(src))
    assert ("risk_of_bias.csv", unjudged) in [lim[:2] for lim in report.limits]

    older = tmp_path / "older"  # a source set from before risk of bias was curated
    shutil.copytree(SHARED_EVIDENCE, older, ignore=shutil.ignore_patterns("risk_of_bias.csv"))
    report = import_evidence_set(older, tmp_path / "old", "baclofen")
    assert "risk_of_bias.csv" not in [f[0] for f in report.files]
    assert not (tmp_path / "old" / "risk_of_bias.csv").exists()
