"""Rare-event pools against metafor: MH risk difference, Peto's OR, escalc PETO, rma.glmm."""

from __future__ import annotations

import csv
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.meta import escalc, rma, rma_mh, rma_peto
from tests.meta.reference import BINARY, assert_all_close, assert_close, case_id

RARE = Path(__file__).resolve().parents[1] / "fixtures" / "metafor" / "rare_events.json"
SUMMARY = {
    "estimate": "estimate",
    "se": "se",
    "stat": "zval",
    "pval": "pval",
    "ci_low": "ci_lb",
    "ci_high": "ci_ub",
    "q": "QE",
    "q_pval": "QEp",
    "i2": "I2",
    "h2": "H2",
}


@cache
def rare() -> dict[str, Any]:
    with RARE.open(encoding="utf-8") as fh:
        return json.load(fh)


def tables(name: str) -> list[list[float]]:
    d = rare()["datasets"][name]
    return [d[c] for c in BINARY]


def cases(key: str) -> list[dict[str, Any]]:
    return rare()[key]


@pytest.mark.parametrize("rec", cases("rma_mh_rd"), ids=[r["dataset"] for r in cases("rma_mh_rd")])
def test_mh_risk_difference_matches_metafor(rec: dict[str, Any]) -> None:
    res = rma_mh(*tables(rec["dataset"]), measure="RD")
    for ours, theirs in SUMMARY.items():
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert_all_close(res.weights, rec["weights"], "weights")
    assert res.k == rec["k"] and res.q_df == rec["k_yi"] - 1
    assert res.measure == "RD" and res.exp_estimate is None


def test_mh_risk_difference_counts_double_zero_tables() -> None:
    """A double-zero table pulls the MH risk difference towards 0 and has a positive weight."""
    with_00 = rma_mh(*tables("zero"), measure="RD")
    a, n1, c, n2 = tables("zero")
    keep = [i for i in range(len(a)) if not (a[i] == 0 and c[i] == 0)]
    without = rma_mh(*([col[i] for i in keep] for col in (a, n1, c, n2)), measure="RD")
    assert with_00.weights[2] > 0
    assert abs(with_00.estimate) < abs(without.estimate)
    assert with_00.q_df == without.q_df  # Q leaves it out either way


@pytest.mark.parametrize("rec", cases("rma_peto"), ids=[r["dataset"] for r in cases("rma_peto")])
def test_peto_matches_metafor(rec: dict[str, Any]) -> None:
    res = rma_peto(*tables(rec["dataset"]), studies=rare()["datasets"][rec["dataset"]]["study"])
    for ours, theirs in SUMMARY.items():
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert_all_close(res.weights, rec["weights"], "weights")
    assert res.k == rec["k"] and res.q_df == rec["k_yi"] - 1
    assert res.method == "PETO" and res.tau2 is None and res.pi_low is None
    assert res.exp_estimate is not None


@pytest.mark.parametrize(
    "rec", cases("escalc_peto"), ids=[case_id(r, "dataset", "drop00") for r in cases("escalc_peto")]
)
def test_escalc_peto_matches_metafor(rec: dict[str, Any]) -> None:
    d = rare()["datasets"][rec["dataset"]]
    es = escalc("PETO", studies=d["study"], drop00=rec["drop00"], **{c: d[c] for c in BINARY})
    assert list(es.studies) == rec["study"]
    assert_all_close(es.yi, rec["yi"], "yi")
    assert_all_close(es.vi, rec["vi"], "vi")


def test_peto_via_rma_and_its_refusals() -> None:
    d = rare()["datasets"]["zero"]
    es = escalc("OR", studies=d["study"], **{c: d[c] for c in BINARY})
    direct = rma_peto(*tables("zero"))
    via = rma(es, method="PETO")
    assert via.estimate == pytest.approx(direct.estimate, rel=1e-12)
    with pytest.raises(ValueError, match="odds-ratio"):
        rma(escalc("RR", **{c: d[c] for c in BINARY}), method="PETO")
    with pytest.raises(ValueError, match="drop00"):
        rma(escalc("OR", drop00=True, **{c: d[c] for c in BINARY}), method="PETO")
    with pytest.raises(ValueError, match="undefined"):
        escalc("PETO", events_treat=[0], n_treat=[10], events_ctrl=[0], n_ctrl=[10], add=0)
    with pytest.raises(ValueError, match="one of the two outcomes"):
        rma_peto([0, 0], [10, 12], [0, 0], [11, 9])


# ---------------------------------------------------------------- CLI

runner = CliRunner()


def dataset_csv(tmp_path: Path, name: str) -> Path:
    d = rare()["datasets"][name]
    path = tmp_path / f"{name}.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["study", *BINARY])
        writer.writerows(zip(d["study"], *(d[c] for c in BINARY), strict=True))
    return path


def run_meta(*args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["meta", *args])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def test_cli_mantel_haenszel_risk_difference(tmp_path: Path) -> None:
    rec = next(r for r in cases("rma_mh_rd") if r["dataset"] == "nielweise2007")
    out = run_meta(
        "--input", str(dataset_csv(tmp_path, "nielweise2007")), "--measure", "RD",
        "--method", "MH",
    )  # fmt: skip
    assert out["method"] == "MH" and out["measure"] == "RD"
    assert_close(out["estimate"], rec["estimate"], "estimate")
    assert_close(out["se"], rec["se"], "se")


def test_cli_peto(tmp_path: Path) -> None:
    rec = next(r for r in cases("rma_peto") if r["dataset"] == "nielweise2007")
    out = run_meta(
        "--input", str(dataset_csv(tmp_path, "nielweise2007")), "--measure", "OR",
        "--method", "PETO",
    )  # fmt: skip
    assert out["method"] == "PETO"
    for key in ("estimate", "se", "q", "i2"):
        assert_close(out[key], rec[SUMMARY.get(key, key) if key != "q" else "QE"], key)
    assert out["exp_estimate"] is not None
