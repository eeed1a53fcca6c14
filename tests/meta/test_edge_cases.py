"""The engine's edge cases: one study (metafor's conventions), results that must stay valid
JSON, effects and variances that would overflow, and subgroups without a label."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np
import pytest

from evidence.meta import (
    cumulative,
    escalc,
    leave_one_out,
    meta_regression,
    rma,
    subgroup_analysis,
)
from evidence.meta.effect_sizes import MAX_ABS_EFFECT, MAX_VARIANCE, MIN_VARIANCE, ExtremeValueError
from tests.meta.reference import assert_close
from tests.meta.test_measures import load_measures

SINGLE = load_measures()["single"]


def _refuse(constant: str) -> Any:
    raise ValueError(f"invalid JSON constant {constant}")


def strict_json(value: Any) -> Any:
    """Serialise and parse back, failing on NaN/Infinity as a strict JSON parser would."""
    return json.loads(json.dumps(value), parse_constant=_refuse)


@pytest.mark.parametrize(
    "rec", SINGLE["fits"], ids=[f"{r['method']}-{r['test']}" for r in SINGLE["fits"]]
)
def test_single_study_follows_metafor(rec: dict[str, Any]) -> None:
    res = rma([SINGLE["yi"]], [SINGLE["vi"]], method=rec["method"], test=rec["test"])
    assert res.test == rec["test_used"] == "z" and res.df is None
    pairs = {
        "estimate": "estimate", "se": "se", "stat": "zval", "pval": "pval", "ci_low": "ci_lb",
        "ci_high": "ci_ub", "q": "QE", "q_pval": "QEp", "tau2": "tau2", "i2": "I2", "h2": "H2",
    }  # fmt: skip
    for ours, theirs in pairs.items():
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert res.q_df == rec["QE_df"] == 0
    # metafor gives no prediction interval for FE; otherwise the PI is the CI
    assert_close(res.pi_low, rec["pi_lb"], "pi_low")
    assert_close(res.pi_high, rec["pi_ub"], "pi_high")
    assert any("heterogeneity cannot be assessed" in n for n in res.notes)
    assert strict_json(res.to_dict())["i2"] == 0.0


def test_identical_effects_under_knha_give_valid_json_naming_the_null_field() -> None:
    res = rma([0.2, 0.2, 0.2], [0.01, 0.02, 0.03], method="REML", test="knha")
    assert math.isinf(res.stat)  # the SE is 0: the statistic really is infinite
    out = strict_json(res.to_dict())
    assert out["zval_or_tval"] is None
    assert any(n.startswith("zval_or_tval (inf)") for n in out["notes"])
    assert out["estimate"] == pytest.approx(0.2)


def test_every_result_to_dict_is_strict_json() -> None:
    y, v = [0.2, 0.2, 0.2, 0.2], [0.01, 0.02, 0.03, 0.04]
    results = [
        escalc("GEN", yi=y, vi=v),
        rma(y, v, test="knha"),
        leave_one_out(y, v, test="knha"),
        cumulative(y, v, test="knha"),
        subgroup_analysis([0.2, 0.2, 0.5, 0.6], v, ["a", "a", "b", "b"], test="knha"),
        meta_regression([0.1, 0.3, 0.2, 0.5], v, moderator=[1.0, 2.0, 3.0, 4.0], test="knha"),
    ]
    for res in results:
        strict_json(res.to_dict())


@pytest.mark.parametrize(
    ("yi", "vi", "field", "value"),
    [
        ([0.1, 1e160, 0.3], [0.1, 0.1, 0.1], "yi", "1e+160"),
        ([0.1, -1e160, 0.3], [0.1, 0.1, 0.1], "yi", "-1e+160"),
        ([0.1, 0.2, 0.3], [0.1, 1e150, 0.1], "vi", "1e+150"),
        ([0.1, 0.2, 0.3], [0.1, 1e-310, 0.1], "vi", "1e-310"),
    ],
)
def test_overflowing_inputs_are_refused_naming_the_study(
    yi: list[float], vi: list[float], field: str, value: str
) -> None:
    pattern = re.escape(f"{field} of study 'b' (position 1) is {value}: ")
    with pytest.raises(ExtremeValueError, match=pattern):
        rma(yi, vi, studies=["a", "b", "c"])
    with pytest.raises(ExtremeValueError, match=pattern):
        escalc("GEN", yi=yi, vi=vi, studies=["a", "b", "c"])


def test_computed_effects_beyond_the_bound_are_refused() -> None:
    with pytest.raises(ExtremeValueError, match=r"yi of study '2' \(position 1\)"):
        escalc(
            "MD", mean_treat=[1.0, 1e60], sd_treat=[1, 1], n_treat=[10, 10],
            mean_ctrl=[0.0, 0.0], sd_ctrl=[1, 1], n_ctrl=[10, 10],
        )  # fmt: skip


@pytest.mark.parametrize("method", ["FE", "DL", "PM", "REML"])
def test_effects_at_the_bounds_still_pool_to_finite_numbers(method: str) -> None:
    """The bounds are where the arithmetic is still safe: the extremes pool without overflow."""
    big = MAX_ABS_EFFECT
    for y, v in (
        ([big, -big / 2, big / 3], [MAX_VARIANCE, MAX_VARIANCE / 2, MAX_VARIANCE / 3]),
        ([1e-3, -2e-3, 5e-3], [MIN_VARIANCE, 2 * MIN_VARIANCE, 3 * MIN_VARIANCE]),
        ([big, -big / 2, big / 3], [1.0, 2.0, 3.0]),
    ):
        res = rma(y, v, method=method)
        for field in ("estimate", "se", "pval", "q", "tau2", "i2"):
            value = getattr(res, field)
            assert value is not None and np.isfinite(value), (field, y, v)


@pytest.mark.parametrize("missing", [None, float("nan")])
def test_subgroup_labels_must_not_be_missing(missing: Any) -> None:
    with pytest.raises(ValueError, match=r"missing labels \(None or NaN\) at positions \[1, 3\]"):
        subgroup_analysis([0.1, 0.2, 0.3, 0.4, 0.5], [0.1] * 5, ["a", missing, "b", missing, "b"])


def test_subgroup_labels_from_pandas_with_na_are_refused() -> None:
    import pandas as pd

    groups = pd.Series(["a", "b", pd.NA, "b"], dtype="string")
    with pytest.raises(ValueError, match=r"positions \[2\]"):
        subgroup_analysis([0.1, 0.2, 0.3, 0.4], [0.1] * 4, groups)
