"""egger_test against metafor's regtest, model "lm" (classical Egger) and "rma" (default)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from statsmodels.regression.linear_model import OLS

from evidence.meta import egger_test
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
