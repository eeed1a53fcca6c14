"""regtest, Peters', Harbord's and the rank test, and trim and fill against metafor 3.8-1.

Reference values come from tests/metafor/make_reference_bias.R (Harbord's test by hand with
R's lm(), as metafor has no Harbord test).
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evidence.meta import (
    EffectSizes,
    NotAssessed,
    NotComputable,
    Tau2Control,
    egger_test,
    escalc,
    harbord_test,
    peters_test,
    ranktest,
    regtest,
    trimfill,
)
from evidence.meta.rank_correlation import inversion_distribution
from tests.meta.reference import assert_all_close, assert_close, case_id

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "metafor" / "publication_bias.json"
TIGHT = Tau2Control(reml_threshold=1e-12, reml_maxiter=1000)
METAFOR_DEFAULT = Tau2Control(reml_threshold=1e-5)


@cache
def load() -> dict[str, Any]:
    with FIXTURE.open(encoding="utf-8") as fh:
        return json.load(fh)


def data(name: str) -> dict[str, Any]:
    return load()["datasets"][name]


def control(name: str) -> Tau2Control:
    return METAFOR_DEFAULT if name == "default" else TIGHT


def binary(name: str) -> EffectSizes:
    """Our escalc on the data set's 2x2 counts (checked against metafor's yi and vi)."""
    d = data(name)
    es = escalc(
        d["measure"],
        events_treat=d["events_treat"],
        n_treat=d["n_treat"],
        events_ctrl=d["events_ctrl"],
        n_ctrl=d["n_ctrl"],
        studies=d["study"],
    )
    assert_all_close(es.yi, d["yi"], f"{name} yi")
    assert_all_close(es.vi, d["vi"], f"{name} vi")
    return es


def tables(name: str) -> list[tuple[float, float, float, float]]:
    d = data(name)
    return [
        (a, n1 - a, c, n2 - c)
        for a, n1, c, n2 in zip(
            d["events_treat"], d["n_treat"], d["events_ctrl"], d["n_ctrl"], strict=True
        )
    ]


def json_safe(result: Any) -> None:
    json.dumps(result.to_dict(), allow_nan=False)


REGTEST = load()["regtest"]
RANKTEST = load()["ranktest"]
HARBORD = load()["harbord"]
TRIMFILL = load()["trimfill"]


# ---------------------------------------------------------------- regtest


@pytest.mark.parametrize(
    "rec",
    REGTEST,
    ids=[case_id(r, "dataset", "model", "predictor", "method", "test", "control") for r in REGTEST],
)
def test_regtest_matches_metafor(rec: dict[str, Any]) -> None:
    d = data(rec["dataset"])
    res = regtest(
        d["yi"],
        d["vi"],
        ni=d.get("ni"),
        predictor=rec["predictor"],
        model=rec["model"],
        method=rec["method"],
        test=rec["test"],
        min_k=0,
        control=control(rec["control"]),
    )
    assert res.k == rec["k"]
    assert_close(res.stat, rec["zval"], "stat")
    assert_close(res.pval, rec["pval"], "pval")
    assert_close(res.df, rec["df"], "df")
    assert_close(res.limit_estimate, rec["est"], "limit estimate")
    assert_close(res.limit_ci_low, rec["ci_lb"], "limit ci_low")
    assert_close(res.limit_ci_high, rec["ci_ub"], "limit ci_high")
    assert_close(res.tau2, rec["tau2"], "tau2")
    json_safe(res)


@pytest.mark.parametrize("model", ["rma", "lm"])
def test_egger_test_is_regtest_on_the_standard_error(model: str) -> None:
    es = binary("egger2001")
    egger = egger_test(es, model=model, control=TIGHT)
    reg = regtest(es, model=model, control=TIGHT)
    assert (egger.stat, egger.pval, egger.df) == (reg.stat, reg.pval, reg.df)
    assert egger.limit_estimate == reg.limit_estimate


def test_peters_test_is_metafors_lm_regression_on_inverse_total_sample_size() -> None:
    es = binary("bcg")
    ni = [sum(t) for t in es.tables or ()]
    assert ni == data("bcg")["ni"]
    rec = next(
        r for r in REGTEST if (r["dataset"], r["model"], r["predictor"]) == ("bcg", "lm", "ninv")
    )
    res = peters_test(es, ni=ni, min_k=0)
    assert (res.model, res.predictor, res.test) == ("lm", "ninv", "t")
    assert_close(res.stat, rec["zval"], "stat")
    assert_close(res.pval, rec["pval"], "pval")
    assert_close(res.limit_estimate, rec["est"], "limit estimate")


def test_size_predictors_need_sample_sizes() -> None:
    d = data("hackshaw1998")
    with pytest.raises(ValueError, match="needs each study's total sample size"):
        regtest(d["yi"], d["vi"], predictor="ninv")
    with pytest.raises(ValueError, match="inputs differ in length"):
        regtest(d["yi"], d["vi"], predictor="ni", ni=[100] * 5)
    with pytest.raises(ValueError, match="ni must be finite and > 0"):
        regtest(d["yi"], d["vi"], predictor="ni", ni=[0] + [100] * 36)


@pytest.mark.parametrize("predictor", ["ni", "ninv", "sqrtni", "sqrtninv"])
def test_equal_sample_sizes_leave_no_slope_to_estimate(predictor: str) -> None:
    d = data("hackshaw1998")
    with pytest.raises(NotComputable, match=r"same .*sample size") as info:
        regtest(d["yi"], d["vi"], predictor=predictor, ni=[200] * 37)
    assert "rank-deficient" in info.value.reason


def test_intercept_is_no_limit_estimate_for_growing_predictors() -> None:
    d = data("pritz1997")
    for predictor in ("ni", "sqrtni"):
        res = regtest(d["yi"], d["vi"], ni=d["ni"], predictor=predictor)
        assert res.limit_estimate is res.limit_ci_low is res.limit_ci_high is None
        assert res.to_dict()["limit_estimate"] is None


def test_regtest_rejects_unknown_arguments() -> None:
    d = data("hackshaw1998")
    with pytest.raises(ValueError, match="predictor must be one of"):
        regtest(d["yi"], d["vi"], predictor="precision")
    with pytest.raises(ValueError, match="model must be"):
        regtest(d["yi"], d["vi"], model="glm")


# ---------------------------------------------------------------- ranktest


@pytest.mark.parametrize("rec", RANKTEST, ids=[case_id(r, "dataset", "exact") for r in RANKTEST])
def test_ranktest_matches_metafor(rec: dict[str, Any]) -> None:
    d = data(rec["dataset"])
    res = ranktest(d["yi"], d["vi"], exact=rec["exact"], min_k=0)
    assert res.k == rec["k"]
    assert_close(res.tau, rec["tau"], "tau")
    assert_close(res.pval, rec["pval"], "pval")
    json_safe(res)


def test_ranktest_is_exact_beyond_fifty_studies_as_metafor_asks() -> None:
    """metafor 3.8-1 passes exact=TRUE, so R's n < 50 switch to the normal test never applies."""
    d = data("big60")
    res = ranktest(d["yi"], d["vi"])
    assert res.k == 60 and res.exact
    assert res.stat == round((res.tau + 1) * 60 * 59 / 4)


def test_ranktest_with_ties_falls_back_to_the_normal_approximation_with_a_note() -> None:
    d = data("ties")
    res = ranktest(d["yi"], d["vi"], min_k=0)
    assert not res.exact
    assert res.notes == ("ties in the data: the p-value uses the normal approximation",)


def test_inversion_distribution_counts_permutations() -> None:
    for n in range(1, 7):
        counts = np.zeros(n * (n - 1) // 2 + 1)
        for perm in itertools.permutations(range(n)):
            inv = sum(perm[i] > perm[j] for i in range(n) for j in range(i + 1, n))
            counts[inv] += 1
        np.testing.assert_allclose(inversion_distribution(n), counts / counts.sum(), rtol=1e-12)


# ---------------------------------------------------------------- Harbord


@pytest.mark.parametrize("rec", HARBORD, ids=[r["dataset"] for r in HARBORD])
def test_harbord_matches_the_lm_fit_by_hand(rec: dict[str, Any]) -> None:
    d = data(rec["dataset"])
    res = harbord_test(tables(rec["dataset"]), studies=d["study"], min_k=0)
    assert (res.k, res.k_used, res.df) == (rec["k"], rec["k_used"], rec["df"])
    assert list(res.excluded) == rec["excluded"]
    assert_close(res.intercept, rec["intercept"], "intercept")
    assert_close(res.intercept_se, rec["se"], "se")
    assert_close(res.stat, rec["tval"], "t")
    assert_close(res.pval, rec["pval"], "pval")
    assert_close(res.ci_low, rec["ci_lb"], "ci_low")
    assert_close(res.ci_high, rec["ci_ub"], "ci_high")
    assert_close(res.slope, rec["slope"], "slope")
    assert_close(res.slope_se, rec["slope_se"], "slope_se")
    json_safe(res)


def test_harbord_takes_the_uncorrected_tables_of_effect_sizes() -> None:
    """zeros has single-zero tables (escalc adds 1/2 to them) and two V = 0 tables."""
    es = binary("zeros")
    rec = next(r for r in HARBORD if r["dataset"] == "zeros")
    res = harbord_test(es, min_k=0)
    assert_close(res.stat, rec["tval"], "t")
    assert res.excluded == ("z3", "z10")
    assert res.notes and "V = 0 and cannot enter: z3, z10" in res.notes[0]


def test_harbord_counts_only_tables_that_enter_towards_min_k() -> None:
    with pytest.raises(NotAssessed, match="k = 10 < 11") as info:
        harbord_test(tables("zeros"), min_k=11)
    assert info.value.reason.startswith("k = 10 < 11 studies")


def test_harbord_refuses_effect_sizes_without_tables() -> None:
    d = data("hackshaw1998")
    es = escalc("GEN", yi=d["yi"], vi=d["vi"])
    with pytest.raises(ValueError, match="needs 2x2 tables; effect sizes of measure GEN"):
        harbord_test(es)


# ---------------------------------------------------------------- trim and fill


@pytest.mark.parametrize(
    "rec",
    TRIMFILL,
    ids=[
        case_id(r, "dataset", "method", "test", "estimator", "side_given", "control")
        for r in TRIMFILL
    ],
)
def test_trimfill_matches_metafor(rec: dict[str, Any]) -> None:
    d = data(rec["dataset"])
    res = trimfill(
        d["yi"],
        d["vi"],
        method=rec["method"],
        test=rec["test"],
        estimator=rec["estimator"],
        side=rec["side_given"],
        studies=d["study"],
        min_k=0,
        control=control(rec["control"]),
    )
    assert res.side == rec["side"]
    assert res.side_chosen is (rec["side_given"] is None)
    assert res.k0 == rec["k0"]
    assert list(res.filled) == rec["fill"]
    assert_close(res.se_k0, rec["se_k0"], "se_k0")
    assert_close(res.p_k0, rec["p_k0"], "p_k0")
    assert_all_close(res.yi, rec["yi"], "filled yi")
    assert_all_close(res.vi, rec["vi"], "filled vi")
    p = res.pooled
    assert p.k == rec["k"]
    assert_close(p.estimate, rec["estimate"], "estimate")
    assert_close(p.se, rec["se"], "se")
    assert_close(p.ci_low, rec["ci_lb"], "ci_low")
    assert_close(p.ci_high, rec["ci_ub"], "ci_high")
    assert_close(p.stat, rec["zval"], "stat")
    assert_close(p.pval, rec["pval"], "pval")
    assert_close(p.tau2, rec["tau2"], "tau2")
    assert_close(p.q, rec["QE"], "QE")
    json_safe(res)


def test_trimfill_names_filled_studies_and_keeps_the_measure() -> None:
    es = binary("bcg")
    res = trimfill(es, method="FE", control=TIGHT)
    assert res.k0 == 4 and res.side == "right"
    assert res.studies[-4:] == ("Filled 1", "Filled 2", "Filled 3", "Filled 4")
    assert res.studies[:13] == es.studies
    assert res.pooled.measure == "RR" and res.pooled.exp_estimate is not None


def test_trimfill_refuses_an_undecidable_side_and_bad_arguments() -> None:
    y = np.linspace(-0.5, 0.8, 12)
    with pytest.raises(NotComputable, match="pass side='left' or 'right'"):
        trimfill(y, np.full(12, 0.04))
    assert trimfill(y, np.full(12, 0.04), side="left").k == 12
    with pytest.raises(ValueError, match="estimator must be one of"):
        trimfill(y, np.full(12, 0.04), estimator="Q0")
    with pytest.raises(ValueError, match="side must be"):
        trimfill(y, np.full(12, 0.04), side="up")


# ---------------------------------------------------------------- minimum k


@pytest.mark.parametrize(
    "run",
    [
        lambda y, v, n, t: regtest(y, v),
        lambda y, v, n, t: regtest(y, v, model="lm", predictor="vi"),
        lambda y, v, n, t: peters_test(y, v, ni=n),
        lambda y, v, n, t: ranktest(y, v),
        lambda y, v, n, t: harbord_test(t),
        lambda y, v, n, t: trimfill(y, v),
    ],
    ids=["regtest-rma", "regtest-lm", "peters", "ranktest", "harbord", "trimfill"],
)
def test_below_min_k_a_test_is_not_assessed_and_gives_no_number(run: Any) -> None:
    es = binary("bcg")
    y, v = es.yi[:9], es.vi[:9]
    n = [sum(t) for t in (es.tables or ())][:9]
    with pytest.raises(NotAssessed) as info:
        run(y, v, n, tables("bcg")[:9])
    assert info.value.reason.startswith("k = 9 < 10 studies, too few for ")
    assert isinstance(info.value, NotComputable)


def test_min_k_is_an_argument() -> None:
    es = binary("bcg")
    y, v = es.yi[:9], es.vi[:9]
    assert regtest(y, v, min_k=9).k == 9
    with pytest.raises(NotAssessed, match="k = 13 < 20"):
        ranktest(es, min_k=20)
    with pytest.raises(ValueError, match="min_k must be >= 0"):
        ranktest(es, min_k=-1)


def test_ranktest_on_many_studies_uses_linear_memory_and_says_so() -> None:
    rng = np.random.default_rng(7)
    k = 5000
    v = rng.uniform(0.01, 0.5, k)
    y = rng.normal(0, np.sqrt(v))
    res = ranktest(y, v)
    assert not res.exact
    assert any("normal approximation" in n for n in res.notes)
    assert 0 <= res.pval <= 1
    small = ranktest(y[:40], v[:40])
    assert small.exact and small.notes == ()
