"""egger_test against metafor's regtest, model "lm" (classical Egger) and "rma" (default)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS

from evidence.meta import Tau2Control, egger_test
from evidence.meta.bias import NotComputable
from tests.meta.reference import assert_close, case_id, dataset, effect_sizes, load

REGTEST = load()["regtest"]


@pytest.mark.parametrize(
    "rec", REGTEST, ids=[case_id(r, "dataset", "method", "model") for r in REGTEST]
)
def test_egger_matches_metafor_regtest(rec: dict[str, Any]) -> None:
    assert rec["k"] >= 10
    es = effect_sizes(rec["dataset"], rec["measure"])
    res = egger_test(es, model=rec["model"], method=rec["method"])
    assert_close(res.stat, rec["zval"], "stat")
    assert_close(res.pval, rec["pval"], "pval")
    assert_close(res.df, rec["df"], "df")
    assert_close(res.limit_estimate, rec["est"], "limit estimate")
    assert_close(res.limit_ci_low, rec["ci_lb"], "limit ci_low")
    assert_close(res.limit_ci_high, rec["ci_ub"], "limit ci_high")


def test_classical_egger_is_the_standard_normal_deviate_regression() -> None:
    """Egger 1997: regress y/se on 1/se; the intercept's t equals regtest(model="lm")'s."""
    d = dataset("hackshaw1998")
    y, v = np.asarray(d["yi"]), np.asarray(d["vi"])
    se = np.sqrt(v)
    ols = OLS(y / se, np.column_stack([np.ones_like(se), 1 / se])).fit()
    res = egger_test(y, v, model="lm")
    assert res.stat == pytest.approx(ols.tvalues[0], rel=1e-9)
    assert res.pval == pytest.approx(ols.pvalues[0], rel=1e-9)


def test_egger_refuses_fewer_than_ten_studies_unless_forced() -> None:
    es = effect_sizes("bcg", "RR")
    y, v = es.yi[:9], es.vi[:9]
    with pytest.raises(ValueError, match="k = 9 < 10"):
        egger_test(y, v)
    forced = egger_test(y, v, allow_small_k=True, model="lm")
    assert forced.k == 9 and forced.df == 7
    with pytest.raises(ValueError, match="at least 3"):
        egger_test(y[:2], v[:2], allow_small_k=True)


@pytest.mark.parametrize("model", ["rma", "lm"])
def test_egger_on_equal_standard_errors_is_not_computable_with_a_reason(model: str) -> None:
    """Equal SEs leave the regression on the SE rank-deficient; metafor's regtest fails too."""
    y = np.linspace(-0.5, 0.5, 12)
    with pytest.raises(NotComputable, match="same standard error") as info:
        egger_test(y, np.full(12, 0.04), model=model)
    assert info.value.reason.startswith("all 12 studies have the same standard error")
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda y, v: v.__setitem__(3, 0.0), "zero or negative sampling variance in 1 of 12"),
        (lambda y, v: y.__setitem__(0, np.nan), "non-finite effect in 1 of 12"),
        (lambda y, v: v.__setitem__(5, np.inf), "non-finite sampling variance in 1 of 12"),
    ],
    ids=["zero-variance", "nan-effect", "infinite-variance"],
)
def test_egger_names_the_data_it_cannot_use(change: Any, why: str) -> None:
    es = effect_sizes("bcg", "RR")
    y, v = np.array(es.yi[:12], dtype=float), np.array(es.vi[:12], dtype=float)
    change(y, v)
    with pytest.raises(NotComputable, match=why):
        egger_test(y, v)


def test_egger_whose_tau2_does_not_converge_is_not_computable() -> None:
    es = effect_sizes("bcg", "RR")
    stuck = Tau2Control(reml_maxiter=1, reml_fallback=False)
    with pytest.raises(NotComputable, match="tau\\^2 did not converge"):
        egger_test(es, control=stuck)
    assert egger_test(es).k == es.k  # the same data with the default control still compute
