"""rma_mv and the shared-control covariance against metafor's rma.mv.

Reference: tests/fixtures/metafor/multivariate.json, written by tests/metafor/make_reference_mv.R
(metafor 3.8-1). "tight" fits are metafor's best of several tightly controlled optimisers and
are matched at rel 1e-6 / abs 1e-9; metafor's default fits stop earlier, see DEFAULT_REL.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evidence.meta import (
    BlockCovariance,
    MultivariateResult,
    escalc,
    rma,
    rma_mv,
    shared_control_covariance,
)
from evidence.meta import multivariate as mv
from tests.meta.reference import assert_all_close, assert_close, rel_diff

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "metafor" / "multivariate.json"
# metafor's default nlminb run stops where the likelihood is flat; its estimates sit this close
# (relative; 1.0e-5 at most on these data) to the converged ones, so the default fits are
# matched at this tolerance.
DEFAULT_REL = 5e-5


@cache
def load() -> dict[str, Any]:
    with FIXTURE.open(encoding="utf-8") as fh:
        return json.load(fh)


def _vec(x: Any) -> list[float]:
    if x is None:
        return []
    return [float(v) for v in (x if isinstance(x, list) else [x])]


def _mat(x: Any) -> np.ndarray:
    return np.atleast_2d(np.array(x, dtype=float))


def check_fit(res: MultivariateResult, ref: dict[str, Any], what: str) -> None:
    """Every number metafor reports for the model, at rel 1e-6 / abs 1e-9."""
    assert res.k == ref["k"] and res.p == ref["p"] and res.parms == ref["parms"], what
    est = [c.estimate for c in res.coefficients]
    assert_all_close(est, _vec(ref["beta"]), f"{what} beta")
    assert_all_close([c.se for c in res.coefficients], _vec(ref["se"]), f"{what} se")
    assert_all_close([c.stat for c in res.coefficients], _vec(ref["zval"]), f"{what} stat")
    assert_all_close([c.pval for c in res.coefficients], _vec(ref["pval"]), f"{what} pval")
    assert_all_close([c.ci_low for c in res.coefficients], _vec(ref["ci_lb"]), f"{what} ci_lb")
    assert_all_close([c.ci_high for c in res.coefficients], _vec(ref["ci_ub"]), f"{what} ci_ub")
    assert_all_close(np.ravel(res.vb).tolist(), np.ravel(_mat(ref["vb"])).tolist(), f"{what} vb")
    assert_all_close(res.sigma2, _vec(ref["sigma2"]), f"{what} sigma2")
    assert_all_close(res.tau2, _vec(ref["tau2"]), f"{what} tau2")
    if ref["rho"] is not None:
        assert_all_close(res.rho, _vec(ref["rho"]), f"{what} rho")
        assert res.g_levels == tuple(ref["g_levels"])
    for ours, key in (
        (res.qe, "QE"),
        (res.qe_pval, "QEp"),
        (res.qm, "QM"),
        (res.qm_pval, "QMp"),
        (res.ll_ml, "ll_ml"),
        (res.ll_reml, "ll_reml"),
        (res.deviance, "dev"),
        (res.aic, "aic"),
        (res.bic, "bic"),
        (res.aicc, "aicc"),
    ):
        assert_close(ours, ref[key], f"{what} {key}")
    assert res.qe_df == ref["QEdf"]
    ddf = [v for v in (ref["ddf"] if isinstance(ref["ddf"], list) else [ref["ddf"]]) if v]
    assert res.df == (ddf[0] if ddf else None)


def berkey_design() -> tuple[np.ndarray, list[str]]:
    d = load()["data"]["berkey1998"]
    x = np.array([[float(o == lvl) for lvl in ("AL", "PD")] for o in d["outcome"]])
    return x, ["outcomeAL", "outcomePD"]


def fit_case(name: str, control: str = "tight") -> tuple[MultivariateResult, dict[str, Any]]:
    case = load()["fits"][name]
    ref = case[control]
    if case["data"] == "konstantopoulos2011":
        d = load()["data"]["konstantopoulos2011"]
        x = None
        names = None
        if case["model"] == "year":
            x = np.column_stack([np.ones(len(d["yi"])), np.array(d["year"]) - 1990.0])
            names = ["intrcpt", "I(year - 1990)"]
        random = "~ 1 | district" if case["model"] == "district_only" else "~ 1 | district/school"
        res = rma_mv(
            d["yi"],
            d["vi"],
            x,
            random=random,
            data=d,
            method=case["method"],
            test=case["test"],
            coef_names=names,
        )
    else:
        d = load()["data"]["berkey1998"]
        x, names = berkey_design()
        if case["model"] == "outcome_year":
            yr = np.array(d["year"]) - 1983.0
            x = np.column_stack([x, x[:, 0] * yr, x[:, 1] * yr])
            names = [*names, "outcomeAL:I(year - 1983)", "outcomePD:I(year - 1983)"]
        res = rma_mv(
            d["yi"],
            d["V"],
            x,
            random="~ outcome | trial",
            data=d,
            struct=case["struct"],
            method=case["method"],
            test=case["test"],
            coef_names=names,
        )
    return res, ref


@pytest.mark.parametrize("name", sorted(load()["fits"]))
def test_matches_metafor_converged(name: str) -> None:
    res, ref = fit_case(name)
    check_fit(res, ref, name)
    assert [c.name for c in res.coefficients] == _names(ref["coef_names"])


def _names(x: Any) -> list[str]:
    return x if isinstance(x, list) else [x]


@pytest.mark.parametrize("name", sorted(load()["fits"]))
def test_metafor_default_fit_is_within_its_optimiser_tolerance(name: str) -> None:
    res, ref = fit_case(name, "default")
    theirs = _vec(ref["sigma2"]) + _vec(ref["tau2"]) + _vec(ref["beta"]) + _vec(ref["se"])
    ours = (
        list(res.sigma2)
        + list(res.tau2)
        + [c.estimate for c in res.coefficients]
        + [c.se for c in res.coefficients]
    )
    for a, b in zip(ours, theirs, strict=True):
        assert math.isclose(a, b, rel_tol=DEFAULT_REL, abs_tol=1e-9), (name, a, b)
    # Our estimate is the maximum: metafor's stopping point never has a higher likelihood.
    key = "ll_reml" if res.method == "REML" else "ll_ml"
    assert getattr(res, key) >= ref[key] - 1e-10


def test_three_level_model_matches_metafors_documented_example() -> None:
    res, _ = fit_case("kon-intercept-REML-z")
    assert res.sigma2_names == ("district", "district/school")
    assert res.n_clusters == 11  # one block per district
    assert round(res.sigma2[0], 4) == 0.0651 and round(res.sigma2[1], 4) == 0.0327


def test_dense_and_block_v_give_the_same_fit() -> None:
    d = load()["data"]["berkey1998"]
    x, _ = berkey_design()
    dense = rma_mv(d["yi"], d["V"], x, random="~ outcome | trial", data=d, struct="UN")
    v = np.array(d["V"])
    blocks = [v[i : i + 2, i : i + 2] for i in range(0, len(d["yi"]), 2)]
    blocked = rma_mv(d["yi"], blocks, x, random="~ outcome | trial", data=d, struct="UN")
    assert_all_close(blocked.tau2, dense.tau2, "tau2")
    assert_all_close(
        [c.estimate for c in blocked.coefficients], [c.estimate for c in dense.coefficients]
    )
    assert dense.n_clusters == blocked.n_clusters == 5


def test_result_is_json_safe_and_tabulates() -> None:
    res, _ = fit_case("ber-UN-REML-t")
    text = json.dumps(res.to_dict(), allow_nan=False)
    assert json.loads(text)["struct"] == "UN"
    frame = res.to_frame()
    assert list(frame["name"]) == ["outcomeAL", "outcomePD"]
    assert res.coefficient("outcomePD").estimate == frame["estimate"][1]


# ------------------------------------------------------------ shared-control covariance


GLESER_SHARED = {"RD", "OR", "RR"}


@pytest.mark.parametrize("measure", sorted(GLESER_SHARED))
def test_gleser2009_binary_covariance_and_fit(measure: str) -> None:
    d = load()["data"]["gleser2009_binary"]
    ref = load()["gleser_binary"][measure]
    # Group 1 (ai/n1i) is the arm every treatment of a study is compared with.
    es = escalc(
        measure, events_treat=d["ai"], n_treat=d["n1i"], events_ctrl=d["ci"], n_ctrl=d["n2i"]
    )
    assert_all_close(es.yi, ref["yi"], "yi")
    cov = shared_control_covariance(
        measure, d["study"], es.yi, es.vi, n_ctrl=d["n1i"], events_ctrl=d["ai"]
    )
    assert_all_close(cov.to_dense().ravel().tolist(), _mat(ref["V"]).ravel().tolist(), "V")
    x = np.array([[float(t == lvl) for lvl in (1, 2, 3)] for t in d["trt"]])
    res = rma_mv(es.yi, cov, x, coef_names=["trt1", "trt2", "trt3"])
    check_fit(res, ref["fit"], f"gleser {measure}")


def test_gleser2009_smd_covariance_and_fit() -> None:
    d = load()["data"]["gleser2009_smd"]
    ref = load()["gleser_smd"]
    cov = shared_control_covariance(
        "SMD", d["study"], ref["yi"], ref["vi"], n_ctrl=d["n2i"], n_treat=d["n1i"]
    )
    assert_all_close(cov.to_dense().ravel().tolist(), _mat(ref["V"]).ravel().tolist(), "V")
    x = np.array([[float(t == lvl) for lvl in (1, 2)] for t in d["trt"]])
    check_fit(rma_mv(ref["yi"], cov, x), ref["fit"], "gleser SMD")


def _threearm(nm: str) -> tuple[list[float], BlockCovariance, dict[str, Any]]:
    d = load()["data"][f"threearm_{nm}"]
    if nm == "md":
        yi = d["yi"]
        cov = shared_control_covariance(
            "MD", d["study"], yi, d["vi"], n_ctrl=d["n_c"], sd_ctrl=d["sd_c"]
        )
    else:
        es = escalc(
            "OR", events_treat=d["ai"], n_treat=d["n1i"], events_ctrl=d["ci"], n_ctrl=d["n2i"]
        )
        assert_all_close(es.yi, d["yi"], "yi")
        yi = list(es.yi)
        cov = shared_control_covariance(
            "OR", d["study"], es.yi, es.vi, n_ctrl=d["n2i"], events_ctrl=d["ci"]
        )
    return yi, cov, d


@pytest.mark.parametrize("name", sorted(load()["threearm"]))
def test_hand_made_multi_arm_sets(name: str) -> None:
    case = load()["threearm"][name]
    nm = name.split("-")[0]
    yi, cov, d = _threearm(nm)
    assert_all_close(cov.to_dense().ravel().tolist(), _mat(case["V"]).ravel().tolist(), "V")
    random = "~ 1 | study" if name.endswith("arm_outer") else "~ 1 | study/arm"
    res = rma_mv(yi, cov, random=random, data=d, method=case["method"])
    check_fit(res, case["tight"], name)


def test_multi_arm_trial_enters_once_as_one_block() -> None:
    _yi, cov, _ = _threearm("or")
    assert cov.labels == ("t1", "t2", "t3", "t4", "t5")
    assert [len(r) for r in cov.rows] == [3, 1, 2, 1, 1]
    block = cov.blocks[0]
    assert block[0, 1] == block[0, 2] == block[1, 2] == pytest.approx(1 / 20 + 1 / 85)


def test_two_arm_only_data_equal_rma() -> None:
    ref = load()["twoarm"]
    d = load()["data"]["twoarm"]
    uni = rma(d["yi"], d["vi"], method="REML")
    res = rma_mv(d["yi"], d["vi"], random="~ 1 | study", data=d)
    assert math.isclose(res.sigma2[0], uni.tau2 or 0.0, rel_tol=1e-8)
    assert math.isclose(res.coefficients[0].estimate, uni.estimate, rel_tol=1e-8)
    assert math.isclose(res.coefficients[0].se, uni.se, rel_tol=1e-8)
    assert math.isclose(res.qe, uni.q or 0.0, rel_tol=1e-8)
    # metafor's rma.mv stops ~1e-7 from rma's REML; ours agrees with both.
    assert_close(res.sigma2[0], ref["uni"]["tau2"], "sigma2 vs rma")
    assert_close(res.sigma2[0], ref["mv"]["sigma2"], "sigma2 vs rma.mv")
    assert_close(res.ll_reml, ref["uni"]["ll_reml"], "ll")
    assert rel_diff(res.coefficients[0].estimate, ref["uni"]["beta"]) < 1e-8


# ------------------------------------------------------------------------ bad input


def test_bad_input_gets_clear_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    d = load()["data"]["konstantopoulos2011"]
    with pytest.raises(ValueError, match="cannot read"):
        rma_mv(d["yi"], d["vi"], random="district/school", data=d)
    with pytest.raises(ValueError, match="'town' is not in data"):
        rma_mv(d["yi"], d["vi"], random="~ 1 | town", data=d)
    with pytest.raises(ValueError, match="needs data"):
        rma_mv(d["yi"], d["vi"], random="~ 1 | district")
    with pytest.raises(ValueError, match="V has 3 variances"):
        rma_mv(d["yi"], [0.1, 0.2, 0.3], random="~ 1 | district", data=d)
    with pytest.raises(ValueError, match="not symmetric"):
        rma_mv([0.1, 0.2], [np.array([[1.0, 0.5], [0.2, 1.0]])])
    with pytest.raises(ValueError, match="non-positive variances"):
        rma_mv([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(ValueError, match="unknown struct"):
        rma_mv(d["yi"], d["vi"], random="~ school | district", data=d, struct="AR")
    monkeypatch.setattr(mv, "DENSE_LIMIT", 10)
    with pytest.raises(ValueError, match="dense V is accepted up to k = 10"):
        rma_mv(d["yi"], np.diag(d["vi"]))


def test_shared_control_rejects_inconsistent_or_undefined_control() -> None:
    with pytest.raises(ValueError, match="study 's1': n_ctrl differs"):
        shared_control_covariance(
            "MD", ["s1", "s1"], [1.0, 2.0], [0.1, 0.1], n_ctrl=[10, 11], sd_ctrl=[1.0, 1.0]
        )
    with pytest.raises(ValueError, match="0 of 20 control events"):
        shared_control_covariance(
            "OR", ["s1", "s1"], [1.0, 2.0], [0.5, 0.5], n_ctrl=[20, 20], events_ctrl=[0, 0]
        )
    with pytest.raises(ValueError, match="needs sd_ctrl"):
        shared_control_covariance("MD", ["s1"], [1.0], [0.1], n_ctrl=[10])
    with pytest.raises(ValueError, match="not positive definite"):
        shared_control_covariance(
            "MD", ["s1", "s1"], [1.0, 2.0], [0.01, 0.01], n_ctrl=[10, 10], sd_ctrl=[3.0, 3.0]
        )
