"""REML: the fallback when metafor's Fisher scoring does not converge.

The data set is the first random k = 10 set (seed search in make_reference.R) on which
metafor's rma(method = "REML") stops with "Fisher scoring algorithm did not converge".
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from evidence.meta import (
    ConvergenceError,
    Tau2Control,
    estimate_tau2,
    reml_loglik,
    reml_score,
    rma,
)
from tests.meta.reference import assert_close, case_id, dataset, effect_sizes, load

CASE = load()["reml_nonconvergence"]


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y, v = np.asarray(CASE["yi"]), np.asarray(CASE["vi"])
    return y, v, np.ones((len(y), 1))


def test_metafor_did_fail_on_this_data() -> None:
    assert "did not converge" in CASE["error"]
    assert len(CASE["yi"]) == 10


def test_our_fisher_scoring_fails_there_too() -> None:
    y, v, _ = _data()
    with pytest.raises(ConvergenceError, match="Fisher scoring did not converge"):
        rma(y, v, method="REML", control=Tau2Control(reml_threshold=1e-5, reml_fallback=False))


def test_fallback_reaches_the_reml_maximum() -> None:
    y, v, x = _data()
    res = rma(CASE["yi"], CASE["vi"], method="REML")
    assert res.tau2_algorithm == "bracketed_reml_search"
    assert res.tau2 is not None and res.tau2 > 0
    # metafor with step-halving and more iterations, and R's optimize() on the REML likelihood
    assert_close(res.tau2, CASE["tau2_stepadj"], "tau2 vs rma(stepadj = 0.5)")
    assert_close(res.tau2, CASE["tau2_optimize"], "tau2 vs optimize()")
    assert_close(res.estimate, CASE["estimate_stepadj"], "estimate")
    assert_close(res.se, CASE["se_stepadj"], "se")
    # an interior maximum: the score vanishes and the likelihood is lower on either side
    curvature_scale = abs(reml_score(res.tau2 * 0.5, y, v, x))
    assert abs(reml_score(res.tau2, y, v, x)) < 1e-8 * curvature_scale
    ll = reml_loglik(res.tau2, y, v, x)
    for factor in (0.99, 1.01):
        assert reml_loglik(res.tau2 * factor, y, v, x) < ll


RMA_REML = [r for r in load()["rma"] if r["method"] == "REML" and r["test"] == "z"]


@pytest.mark.parametrize("rec", RMA_REML, ids=[case_id(r, "dataset", "measure") for r in RMA_REML])
def test_forced_fallback_agrees_with_metafor(rec: dict[str, Any]) -> None:
    """Skip Fisher scoring entirely (0 iterations allowed): the fallback alone must match."""
    es = effect_sizes(rec["dataset"], rec["measure"])
    res = rma(es, method="REML", control=Tau2Control(reml_maxiter=0))
    assert res.tau2_algorithm == "bracketed_reml_search"
    assert_close(res.tau2, rec["tau2"], "tau2")
    assert_close(res.estimate, rec["estimate"], "estimate")


def test_fallback_stops_at_zero_when_the_score_is_negative_there() -> None:
    d = dataset("homog")
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    x = np.ones((len(y), 1))
    assert reml_score(0.0, y, v, x) < 0
    est = estimate_tau2("REML", y, v, x, Tau2Control(reml_maxiter=0))
    assert est.algorithm == "bracketed_reml_search"
    assert est.value == 0.0
    rec = next(r for r in load()["homogeneous"] if r["method"] == "REML")
    assert rec["tau2"] == 0
