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


# ---------------------------------------------------------------- GLMM (rma.glmm, UM.FS)

# lme4 stops where its optimiser and finite-difference Hessian stop: with tight controls our
# optimum agrees to GLMM_REL; with metafor's defaults lme4 stops up to ~1e-3 short.
GLMM_REL = 1e-4
GLMM_DEFAULT_REL = 2e-3
GLMM_FS = [r for r in cases("rma_glmm") if r["model"] == "UM.FS"]


@cache
def glmm_fit(name: str) -> Any:
    from evidence.meta import rma_glmm

    d = rare()["datasets"][name]
    return rma_glmm(*tables(name), studies=d["study"])


@pytest.mark.parametrize("rec", GLMM_FS, ids=[case_id(r, "dataset", "controls") for r in GLMM_FS])
def test_glmm_matches_metafor(rec: dict[str, Any]) -> None:
    res = glmm_fit(rec["dataset"])
    rel = GLMM_REL if rec["controls"] == "tight" else GLMM_DEFAULT_REL
    pairs = {"estimate": "estimate", "se": "se", "ci_low": "ci_lb", "ci_high": "ci_ub"}
    pairs |= {"tau2": "tau2", "i2": "I2", "h2": "H2", "stat": "zval"}
    for ours, theirs in pairs.items():
        assert getattr(res, ours) == pytest.approx(rec[theirs], rel=rel, abs=1e-9), ours
    # The likelihood-ratio heterogeneity test needs no random effects: exact parity.
    assert_close(res.qe_lrt, rec["QE_LRT"], "QE_LRT")
    assert_close(res.qe_lrt_pval, rec["QEp_LRT"], "QEp_LRT")
    if rec["dataset"] == "bcg":  # no zero cells: the saturated model's Wald test exists
        assert_close(res.q, rec["QE_Wld"], "QE_Wld")
    else:
        assert res.q is None
    assert res.k == rec["k"] and res.q_df == rec["QE_df"]
    assert res.method == "GLMM" and res.model == "UM.FS" and res.n_agq == rec["nAGQ"]


@pytest.mark.parametrize("name", ["bcg", "nielweise2007", "li2007", "zero"])
def test_glmm_optimum_is_at_least_as_high_as_lme4s(name: str) -> None:
    """Where we differ from lme4, the likelihood says we are not the ones who stopped short."""
    from evidence.meta import rare_events

    rec = next(r for r in GLMM_FS if r["dataset"] == name and r["controls"] == "tight")
    res = glmm_fit(name)
    es = escalc("OR", drop00=True, **{c: rare()["datasets"][name][c] for c in BINARY})
    a, b, c, d = rare_events._tables(es)
    model = rare_events._FixedStudyModel(a, a + b, c, c + d, 7)
    start = model.profile_alpha(rec["estimate"], rec["tau2"] ** 0.5, a * 0)
    theirs, _ = model.profile(rec["estimate"], rec["tau2"] ** 0.5, start)
    assert res.loglik is not None
    assert res.loglik >= theirs + model.const - 1e-9


def test_glmm_result_is_json_safe_and_drops_double_zero_tables() -> None:
    res = glmm_fit("zero")
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert out["method"] == "GLMM" and out["q"] is None
    assert "z3" not in res.studies and any("double-zero" in n for n in res.notes)
    assert res.exp_estimate is not None


def test_glmm_refuses_too_few_tables() -> None:
    from evidence.meta import rma_glmm

    with pytest.raises(ValueError, match="at least 2 tables"):
        rma_glmm([0, 3], [10, 20], [0, 4], [12, 21])


def test_cli_also_glmm(tmp_path: Path) -> None:
    rec = next(r for r in GLMM_FS if r["dataset"] == "nielweise2007" and r["controls"] == "tight")
    out = run_meta(
        "--input", str(dataset_csv(tmp_path, "nielweise2007")), "--measure", "OR",
        "--method", "PETO", "--also", "glmm",
    )  # fmt: skip
    assert out["method"] == "PETO"
    glmm = out["glmm"]
    assert glmm["method"] == "GLMM"
    assert glmm["estimate"] == pytest.approx(rec["estimate"], rel=GLMM_REL)
    assert glmm["tau2"] == pytest.approx(rec["tau2"], rel=GLMM_REL)
