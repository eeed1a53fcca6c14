"""Subgroup analysis and meta-regression against metafor (dat.bcg: alloc and ablat)."""

from __future__ import annotations

from typing import Any

import pytest

from evidence.meta import meta_regression, subgroup_analysis
from tests.meta.reference import (
    assert_all_close,
    assert_close,
    case_id,
    dataset,
    effect_sizes,
    load,
)

SUBGROUP = load()["subgroup"]
METAREG = load()["metareg"]


@pytest.mark.parametrize("rec", SUBGROUP, ids=[case_id(r, "method", "test") for r in SUBGROUP])
def test_subgroups_match_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes("bcg", "RR")
    res = subgroup_analysis(
        es, groups=dataset("bcg")["alloc"], moderator="alloc", method=rec["method"],
        test=rec["test"],
    )  # fmt: skip
    assert list(res.levels) == rec["levels"]
    for group, theirs in zip(res.groups, rec["groups"], strict=True):
        assert group.k == theirs["k"]
        for ours, key in (("estimate", "estimate"), ("se", "se"), ("ci_low", "ci_lb"),
                          ("ci_high", "ci_ub"), ("q", "QE")):  # fmt: skip
            assert_close(getattr(group, ours), theirs[key], f"{theirs['level']} {ours}")
        if rec["method"] != "FE":
            assert_close(group.tau2, theirs["tau2"], f"{theirs['level']} tau2")
    # Q-between on the separate subgroup pools
    assert_close(res.q_between, rec["Qb"], "Q-between")
    assert res.q_between_df == rec["Qb_df"]
    assert_close(res.q_between_pval, rec["Qb_p"], "Q-between p")
    # mixed-effects model with factor(alloc): QM with a common tau^2
    model = res.moderator_model
    assert model is not None
    assert_close(model.qm, rec["QM"], "QM")
    assert_close(model.qm_pval, rec["QMp"], "QM p")
    qm_df = rec["QM_df"]
    assert model.qm_df == (qm_df[0] if isinstance(qm_df, list) else qm_df)
    assert model.qm_dist == ("chi2" if rec["test"] == "z" else "F")
    assert_close(model.tau2, rec["tau2"], "tau2")
    assert_close(model.qe, rec["QE"], "QE")
    assert_close(model.qe_pval, rec["QEp"], "QE p")
    assert_all_close([c.estimate for c in model.coefficients], rec["beta"], "beta")
    assert_all_close([c.se for c in model.coefficients], rec["se"], "se")
    assert len(res.to_frame()) == len(rec["levels"])


@pytest.mark.parametrize("rec", METAREG, ids=[case_id(r, "method", "test") for r in METAREG])
def test_meta_regression_matches_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes("bcg", "RR")
    res = meta_regression(
        es, moderator=dataset("bcg")["ablat"], name="ablat", method=rec["method"],
        test=rec["test"],
    )  # fmt: skip
    coefs = res.coefficients
    assert [c.name for c in coefs] == ["intercept", "ablat"]
    for ours, theirs in (("estimate", "beta"), ("se", "se"), ("stat", "zval"), ("pval", "pval"),
                         ("ci_low", "ci_lb"), ("ci_high", "ci_ub")):  # fmt: skip
        assert_all_close([getattr(c, ours) for c in coefs], rec[theirs], ours)
    assert_close(res.df, rec["df"], "df")
    assert_close(res.qm, rec["QM"], "QM")
    assert_close(res.qm_pval, rec["QMp"], "QM p")
    assert_close(res.qe, rec["QE"], "QE")
    assert res.qe_df == rec["k"] - 2
    assert_close(res.qe_pval, rec["QEp"], "QE p")
    assert_close(res.tau2, rec["tau2"], "tau2")
    assert_close(res.i2, rec["I2"], "I2")
    assert_close(res.h2, rec["H2"], "H2")
    assert_close(res.r2, rec["R2"], "R2")
    assert res.coefficient("ablat").estimate == coefs[1].estimate
    assert list(res.to_frame()["name"]) == ["intercept", "ablat"]


def test_subgroups_need_two_levels() -> None:
    with pytest.raises(ValueError, match="two subgroups"):
        subgroup_analysis([0.1, 0.2, 0.3], [0.1, 0.1, 0.1], groups=["a", "a", "a"])
