"""Q-profile intervals for tau^2, tau, I^2, H^2 and the prediction interval types, vs metafor."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import chi2
from typer.testing import CliRunner

from evidence.cli import app
from evidence.meta import PI_TYPES, confint_tau2, rma
from evidence.meta.heterogeneity import q_at, typical_variance
from tests.meta.reference import assert_all_close, assert_close, case_id
from tests.meta.reference_heterogeneity import CONTROL, data, load, yi_vi_csv

CONFINT = load()["confint"]


def _interval(rec: dict[str, Any]):
    d = data(rec["dataset"])
    mods = d[rec["mods"]] if rec["mods"] is not None else None
    return confint_tau2(
        d["yi"], d["vi"], mods=mods, method=rec["method"], level=rec["level"], control=CONTROL,
        tau2_max=rec["tau2_max"],
    )  # fmt: skip


CONFINT_IDS = [case_id(r, "dataset", "method", "mods", "level", "tau2_max") for r in CONFINT]


@pytest.mark.parametrize("rec", CONFINT, ids=CONFINT_IDS)
def test_q_profile_interval_matches_metafor(rec: dict[str, Any]) -> None:
    res = _interval(rec)
    what = case_id(rec, "dataset", "method", "mods")
    assert_all_close([res.tau2, res.tau2_low, res.tau2_high], rec["tau2"], f"{what} tau2")
    assert_all_close([res.tau, res.tau_low, res.tau_high], rec["tau"], f"{what} tau")
    assert_all_close([res.i2, res.i2_low, res.i2_high], rec["I2"], f"{what} I2")
    assert_all_close([res.h2, res.h2_low, res.h2_high], rec["H2"], f"{what} H2")
    assert (res.low_sign, res.high_sign, res.empty) == (
        rec["lb_sign"], rec["ub_sign"], rec["ci_null"],
    )  # fmt: skip
    assert_close(res.tau2_min, rec["tau2_min"], "tau2_min")


def test_empty_interval_when_q_at_zero_is_below_the_lower_quantile() -> None:
    rec = next(r for r in CONFINT if r["dataset"] == "homog" and r["method"] == "REML")
    res = _interval(rec)
    assert res.empty and res.tau2_low == res.tau2_high == 0.0
    assert (res.low_sign, res.high_sign) == ("<", "<")
    assert any("empty set" in n for n in res.notes)
    out = res.to_dict()
    assert (out["tau2_ci_low"], out["low_sign"]) == (0.0, "<")  # the sign is kept apart


def test_lower_bound_truncated_at_zero_is_noted() -> None:
    rec = next(r for r in CONFINT if r["dataset"] == "lowhet" and r["method"] == "DL")
    res = _interval(rec)
    assert res.tau2 == 0.0 and res.tau2_low == 0.0 and res.tau2_high is not None
    assert res.tau2_high > 0 and res.low_sign == "" and not res.empty
    assert any("truncated at 0" in n for n in res.notes)
    # The bound is where Q(tau^2) meets the lower 2.5% chi-square quantile.
    d = data("lowhet")
    q = q_at(res.tau2_high, *_arrays(d))
    assert math.isclose(q, chi2.ppf(0.025, len(d["yi"]) - 1), rel_tol=1e-9)


def test_bounds_above_the_search_interval_are_marked() -> None:
    rec = next(r for r in CONFINT if r["tau2_max"] is not None)
    res = _interval(rec)
    assert (res.low_sign, res.high_sign) == (">", ">")
    assert any("tau2_max" in n for n in res.notes)


def _arrays(d: dict[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y = np.asarray(d["yi"], dtype=float)
    v = np.asarray(d["vi"], dtype=float)
    return y, v, np.ones((len(y), 1))


def test_typical_variance_without_a_k_by_k_matrix_equals_the_projection_trace() -> None:
    d = data("bcg")
    y, v, _ = _arrays(d)
    x = np.column_stack([np.ones(len(y)), d["ablat"]])
    w = 1 / v
    wx = x * w[:, None]
    proj = np.diag(w) - wx @ np.linalg.inv(x.T @ wx) @ wx.T
    assert math.isclose(typical_variance(v, x), (len(y) - 2) / np.trace(proj), rel_tol=1e-12)
    assert math.isclose(q_at(0.0, y, v, x), float(y @ proj @ y), rel_tol=1e-12)


def test_no_interval_without_a_random_effects_component() -> None:
    assert load()["confint_fe_error"]  # metafor refuses too
    d = data("bcg")
    with pytest.raises(ValueError, match="no random-effects component"):
        confint_tau2(d["yi"], d["vi"], method="FE")
    with pytest.raises(ValueError, match="at least 2 studies"):
        confint_tau2([0.1], [0.01], method="REML")


def test_to_dict_is_json_safe_and_to_frame_has_four_rows() -> None:
    d = data("hackshaw1998")
    res = confint_tau2(d["yi"], d["vi"], method="DL")
    text = json.dumps(res.to_dict(), allow_nan=False)
    assert "i2_ci_high" in text
    frame = res.to_frame()
    assert list(frame["parameter"]) == ["tau2", "tau", "i2", "h2"]
    assert frame.loc[0, "ci_low"] == 0.0


# ---------------------------------------------------------------- prediction intervals

PREDICT = load()["predict"]


@pytest.mark.parametrize(
    "rec", PREDICT, ids=[case_id(r, "dataset", "method", "test", "pi_type") for r in PREDICT]
)
def test_prediction_interval_types_match_metafor(rec: dict[str, Any]) -> None:
    d = data(rec["dataset"])
    res = rma(
        d["yi"], d["vi"], method=rec["method"], test=rec["test"], pi_type=rec["pi_type"],
        control=CONTROL,
    )  # fmt: skip
    assert_close(res.estimate, rec["pred"], "pred")
    assert_close(res.pi_low, rec["pi_lb"], "pi_lb")
    assert_close(res.pi_high, rec["pi_ub"], "pi_ub")
    assert (rec["pi_type"] == "default") == (not any("prediction interval" in n for n in res.notes))


def test_handbook_form_equals_riley_from_three_studies_and_is_absent_below() -> None:
    for name in ("k3", "bcg"):
        d = data(name)
        hb = rma(d["yi"], d["vi"], method="DL", pi_type="handbook")
        ri = rma(d["yi"], d["vi"], method="DL", pi_type="riley")
        assert (hb.pi_low, hb.pi_high) == (ri.pi_low, ri.pi_high)
        assert f"t with {hb.k - 2} df" in hb.notes[-1]
    d = data("k2")
    hb = rma(d["yi"], d["vi"], method="DL", pi_type="handbook")
    assert hb.pi_low is None and hb.pi_high is None
    assert any("needs k >= 3" in n for n in hb.notes)
    riley = next(r for r in PREDICT if r["dataset"] == "k2" and r["pi_type"] == "riley")
    assert riley["pi_lb"] is not None  # metafor floors the df at 1 instead


def test_fixed_effect_has_no_prediction_interval_and_bad_types_are_refused() -> None:
    d = data("bcg")
    for pi_type in PI_TYPES:
        res = rma(d["yi"], d["vi"], method="FE", pi_type=pi_type)
        assert res.pi_low is None and res.pi_high is None
    with pytest.raises(ValueError, match="prediction interval type"):
        rma(d["yi"], d["vi"], pi_type="wide")


# ---------------------------------------------------------------- CLI

runner = CliRunner()


def test_cli_also_confint_and_pi_option(tmp_path: Path) -> None:
    path = yi_vi_csv(tmp_path / "bcg.csv", "bcg")
    result = runner.invoke(
        app, ["meta", "--input", str(path), "--measure", "GEN", "--method", "DL",
              "--pi", "riley", "--also", "confint"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    rec = next(r for r in CONFINT if r["dataset"] == "bcg" and r["method"] == "DL"
               and r["mods"] is None)  # fmt: skip
    ci = out["confint"]
    assert_all_close([ci["tau2"], ci["tau2_ci_low"], ci["tau2_ci_high"]], rec["tau2"], "tau2")
    assert_all_close([ci["i2"], ci["i2_ci_low"], ci["i2_ci_high"]], rec["I2"], "I2")
    pi = next(r for r in PREDICT if r["dataset"] == "bcg" and r["method"] == "DL"
              and r["test"] == "z" and r["pi_type"] == "riley")  # fmt: skip
    assert_close(out["pi_low"], pi["pi_lb"], "pi_lb")
    assert_close(out["pi_high"], pi["pi_ub"], "pi_ub")


def test_cli_confint_for_a_fixed_effect_pool_is_a_note_and_bad_pi_fails(tmp_path: Path) -> None:
    path = yi_vi_csv(tmp_path / "bcg.csv", "bcg")
    result = runner.invoke(
        app, ["meta", "--input", str(path), "--measure", "GEN", "--method", "FE",
              "--also", "confint"],
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "no random-effects component" in json.loads(result.stdout)["confint"]["notes"][0]
    bad = runner.invoke(app, ["meta", "--input", str(path), "--measure", "GEN", "--pi", "wide"])
    assert bad.exit_code == 1 and "prediction interval type" in bad.stderr


@pytest.mark.parametrize("level", [0.5, 0.8, 0.9, 0.95, 0.99])
def test_q_profile_critical_values_are_scipy_stats_chi2_to_the_last_bit(level: float) -> None:
    """The Q-profile's chi^2 quantiles come from scipy.special, as scipy.stats computes them."""
    from scipy.special import chdtri, gammaincinv

    alpha = 1 - level
    for df in range(1, 300):
        assert float(chdtri(df, alpha / 2)) == float(chi2.isf(alpha / 2, df))
        assert float(2 * gammaincinv(df / 2, alpha / 2)) == float(chi2.ppf(alpha / 2, df))
