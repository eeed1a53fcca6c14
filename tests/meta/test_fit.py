"""rma: every data set x measure x method x test against metafor, plus the known traps."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.meta_analysis import combine_effects

from evidence.meta import ConvergenceError, PooledResult, Tau2Control, rma
from tests.meta.reference import (
    assert_all_close,
    assert_close,
    case_id,
    dataset,
    effect_sizes,
    load,
)

RMA = load()["rma"]
FIELDS = {
    "estimate": "estimate",
    "se": "se",
    "stat": "zval",
    "pval": "pval",
    "ci_low": "ci_lb",
    "ci_high": "ci_ub",
    "tau2": "tau2",
    "q": "QE",
    "q_pval": "QEp",
    "i2": "I2",
    "h2": "H2",
    "pi_low": "pi_lb",
    "pi_high": "pi_ub",
}


@pytest.mark.parametrize(
    "rec", RMA, ids=[case_id(r, "dataset", "measure", "method", "test") for r in RMA]
)
def test_rma_matches_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes(rec["dataset"], rec["measure"])
    res = rma(es, method=rec["method"], test=rec["test"])
    assert res.k == rec["k"]
    for ours, theirs in FIELDS.items():
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert_all_close(res.weights, rec["weights"], "weights")
    assert res.q_df == rec["k"] - 1
    assert res.df == (None if rec["test"] == "z" else rec["k"] - 1)
    if rec["method"] != "FE":
        assert res.tau == pytest.approx(math.sqrt(rec["tau2"]), rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("rec", load()["rma_reml_default"], ids=lambda r: r["dataset"])
def test_fisher_scoring_reproduces_metafor_default_iterates(rec: dict[str, Any]) -> None:
    """With metafor's stopping threshold (1e-5) we stop where metafor stops."""
    es = effect_sizes(rec["dataset"], rec["measure"])
    res = rma(es, method="REML", control=Tau2Control(reml_threshold=1e-5))
    assert_close(res.tau2, rec["tau2"], "tau2")
    assert_close(res.estimate, rec["estimate"], "estimate")
    assert res.tau2_algorithm == "fisher_scoring"


def test_ratio_measures_expose_the_exponentiated_scale() -> None:
    rr = rma(effect_sizes("bcg", "RR"), method="DL")
    assert rr.exp_estimate == pytest.approx(math.exp(rr.estimate))
    assert rr.exp_ci_low == pytest.approx(math.exp(rr.ci_low))
    assert rr.exp_ci_high == pytest.approx(math.exp(rr.ci_high))
    assert {"exp_estimate", "exp_ci_low", "exp_ci_high"} <= rr.to_dict().keys()
    md = rma(effect_sizes("normand1999", "MD"), method="DL")
    assert md.exp_estimate is None and "exp_estimate" not in md.to_dict()


def test_dl_with_q_below_df_truncates_tau2_at_zero() -> None:
    """statsmodels' DL goes negative here (negative weights); ours must not."""
    d = dataset("homog")
    with np.errstate(invalid="ignore"):  # statsmodels takes sqrt of its negative variance
        sm = combine_effects(np.asarray(d["yi"]), np.asarray(d["vi"]), method_re="dl")
    assert sm.tau2 < 0
    rec = next(r for r in load()["homogeneous"] if r["method"] == "DL")
    res = rma(d["yi"], d["vi"], method="DL")
    assert res.q is not None and res.q_df is not None and res.q < res.q_df
    assert res.tau2 == 0.0 and rec["tau2"] == 0
    assert all(w > 0 for w in res.weights)
    assert_all_close(res.weights, rec["weights"], "weights")
    # with tau^2 = 0 the prediction interval is the confidence interval
    assert res.pi_low == pytest.approx(res.ci_low) and res.pi_high == pytest.approx(res.ci_high)
    assert res.i2 == 0.0 and res.h2 == 1.0


@pytest.mark.parametrize("rec", load()["homogeneous"], ids=lambda r: r["method"])
def test_homogeneous_data_all_estimators(rec: dict[str, Any]) -> None:
    d = dataset("homog")
    res = rma(d["yi"], d["vi"], method=rec["method"])
    for ours, theirs in FIELDS.items():
        assert_close(getattr(res, ours), rec[theirs], ours)


@pytest.mark.parametrize("rec", load()["k1"], ids=lambda r: r["method"])
def test_single_study_is_returned_as_is(rec: dict[str, Any]) -> None:
    res = rma([0.3], [0.04], method=rec["method"])
    for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("pval", "pval")):
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert_close(res.ci_low, rec["ci_lb"], "ci_low")
    assert_close(res.ci_high, rec["ci_ub"], "ci_high")
    assert res.k == 1
    # metafor's conventions for one study (tests/meta/test_edge_cases.py checks every method)
    assert (res.q, res.q_df, res.q_pval, res.tau2, res.i2, res.h2) == (0.0, 0, 1.0, 0.0, 0.0, 1.0)
    assert any("heterogeneity cannot be assessed" in n for n in res.notes)
    assert res.weights == (100.0,)


def test_single_study_under_knha_falls_back_to_z() -> None:
    res = rma([0.3], [0.04], method="REML", test="knha")
    assert res.test == "z" and res.df is None
    assert any("0 degrees of freedom" in n for n in res.notes)


def test_no_studies_is_an_error() -> None:
    with pytest.raises(ValueError, match="k = 0"):
        rma([], [], method="REML")


def test_invalid_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown method"):
        rma([0.1, 0.2], [0.1, 0.1], method="ML")
    with pytest.raises(ValueError, match="unknown test"):
        rma([0.1, 0.2], [0.1, 0.1], test="t")
    with pytest.raises(ValueError, match="positive"):
        rma([0.1, 0.2], [0.1, 0.0])
    with pytest.raises(ValueError, match="non-finite"):
        rma([0.1, float("nan")], [0.1, 0.1])
    with pytest.raises(ValueError, match="length"):
        rma([0.1, 0.2], [0.1])


def test_python_lists_arrays_and_series_agree() -> None:
    d = dataset("hackshaw1998")
    a = rma(list(d["yi"]), list(d["vi"]), method="PM")
    b = rma(np.asarray(d["yi"]), np.asarray(d["vi"]), method="PM")
    c = rma(pd.Series(d["yi"], index=d["study"]), pd.Series(d["vi"]), method="PM")
    assert a.to_dict() == b.to_dict() == c.to_dict()


def test_fixed_effect_and_paule_mandel_agree_with_statsmodels() -> None:
    """Cross-check against statsmodels' combine_effects where it is right (tight PM tolerance)."""
    d = dataset("hackshaw1998")
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    sm = combine_effects(y, v, method_re="pm", atol=1e-14, maxiter=500)
    fe = rma(y, v, method="FE")
    pm = rma(y, v, method="PM")
    assert fe.estimate == pytest.approx(sm.mean_effect_fe, rel=1e-12)
    assert fe.se == pytest.approx(sm.sd_eff_w_fe, rel=1e-12)
    assert pm.tau2 == pytest.approx(sm.tau2, rel=1e-6)
    assert pm.estimate == pytest.approx(sm.mean_effect_re, rel=1e-6)


def test_paule_mandel_failure_is_raised_not_hidden() -> None:
    es = effect_sizes("bcg", "RR")
    with pytest.raises(ConvergenceError, match="Paule-Mandel did not converge"):
        rma(es, method="PM", control=Tau2Control(pm_maxiter=2))


def test_fixed_effect_knha_is_flagged() -> None:
    res = rma(effect_sizes("bcg", "OR"), method="FE", test="knha")
    assert any("not meant for fixed-effect" in n for n in res.notes)


def test_result_frame_and_dict() -> None:
    res = rma(effect_sizes("bcg", "OR"), method="REML", test="knha")
    assert isinstance(res, PooledResult)
    frame = res.to_frame()
    assert len(frame) == res.k + 1
    assert frame["term"].iloc[-1] == "pooled"
    assert frame["weight"].iloc[:-1].sum() == pytest.approx(100.0)
    np.testing.assert_allclose(frame["exp_estimate"], np.exp(frame["estimate"]))
    d = json.loads(json.dumps(res.to_dict()))
    assert d["test"] == "knha" and d["df"] == res.k - 1
    assert d["tau2_algorithm"] == "fisher_scoring"


def test_weighted_fit_with_moderators_is_statsmodels_wls_to_the_last_bit() -> None:
    """`_weighted_fit` reproduces WLS(...).fit() ("pinv") without importing statsmodels."""
    from statsmodels.regression.linear_model import WLS

    from evidence.meta.fit import _weighted_fit

    rng = np.random.default_rng(16)
    for _ in range(200):
        k, p = int(rng.integers(4, 40)), int(rng.integers(2, 5))
        x = np.column_stack([np.ones(k), rng.normal(size=(k, p - 1)) * rng.uniform(0.01, 50)])
        y, w = rng.normal(size=k), 1 / rng.uniform(0.001, 5, size=k)
        beta, cov, rss = _weighted_fit(y, w, x)
        ref = WLS(y, x, weights=w).fit()
        assert np.array_equal(beta, ref.params)
        assert np.array_equal(cov, ref.normalized_cov_params)
        assert rss == float(ref.ssr)
