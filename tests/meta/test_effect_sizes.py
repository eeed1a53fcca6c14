"""escalc: effect sizes and sampling variances equal to metafor's, zero cells included."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from evidence.meta import EffectSizes, cmicalc, escalc
from evidence.meta.effect_sizes import ExtremeValueError
from tests.meta.reference import assert_all_close, case_id, dataset, effect_sizes, load

ESCALC = load()["escalc"]
ZERO = load()["zero_escalc"]


@pytest.mark.parametrize("rec", ESCALC, ids=[case_id(r, "dataset", "measure") for r in ESCALC])
def test_escalc_matches_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes(rec["dataset"], rec["measure"])
    assert_all_close(es.yi, rec["yi"], "yi")
    assert_all_close(es.vi, rec["vi"], "vi")
    assert es.studies == tuple(dataset(rec["dataset"])["study"])


@pytest.mark.parametrize(
    "rec", ZERO, ids=[case_id(r, "dataset", "measure", "drop00") for r in ZERO]
)
def test_zero_cells_match_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes(rec["dataset"], rec["measure"], drop00=rec["drop00"])
    kept = [y is not None for y in rec["yi"]]
    assert_all_close(es.yi, [y for y in rec["yi"] if y is not None], "yi")
    assert_all_close(es.vi, [v for v in rec["vi"] if v is not None], "vi")
    labels = dataset(rec["dataset"])["study"]
    assert es.dropped == tuple(s for s, k in zip(labels, kept, strict=True) if not k)
    assert all(np.isfinite(es.yi)) and all(np.isfinite(es.vi))


def test_zero_correction_flags_only_tables_with_a_zero() -> None:
    es = effect_sizes("zero", "OR")
    d = dataset("zero")
    cells = zip(d["events_treat"], d["n_treat"], d["events_ctrl"], d["n_ctrl"], strict=True)
    expected = tuple(a == 0 or a == n1 or c == 0 or c == n2 for a, n1, c, n2 in cells)
    assert es.corrected == expected
    assert any(expected) and not all(expected)


def test_no_correction_of_a_zero_cell_is_refused_naming_the_study() -> None:
    """With to="none" a zero cell gives an infinite log ratio, which no pool can use: it is
    refused naming the study, instead of flowing on as -inf (why "only0" is the default)."""
    with pytest.raises(ExtremeValueError, match=r"yi of study 'a' \(position 0\) is -inf"):
        escalc(
            "RR", events_treat=[0], n_treat=[10], events_ctrl=[3], n_ctrl=[10], to="none",
            studies=["a"],
        )  # fmt: skip


def test_cmicalc_is_the_exact_gamma_correction() -> None:
    m = np.array([2.0, 10.0, 50.0, 1000.0])
    c = cmicalc(m)
    approx = 1 - 3 / (4 * m - 1)
    # the exact correction is below 1, increases to 1, and is close to the usual approximation
    assert np.all(c < 1) and np.all(np.diff(c) > 0)
    np.testing.assert_allclose(c[1:], approx[1:], rtol=1e-3)
    assert np.isnan(cmicalc([1.0])[0])


def test_lists_arrays_and_series_give_the_same_effect_sizes() -> None:
    d = dataset("bcg")
    cols = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
    as_list = escalc("RR", **{c: list(d[c]) for c in cols})
    as_array = escalc("RR", **{c: np.asarray(d[c]) for c in cols})
    frame = pd.DataFrame({c: d[c] for c in cols}, index=[f"s{i}" for i in range(len(d["n_treat"]))])
    as_series = escalc("RR", **{c: frame[c] for c in cols})
    assert as_list.yi == as_array.yi == as_series.yi
    assert as_list.vi == as_array.vi == as_series.vi


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"events_treat": [5], "n_treat": [4], "events_ctrl": [1], "n_ctrl": [5]}, "exceeds"),
        ({"events_treat": [-1], "n_treat": [4], "events_ctrl": [1], "n_ctrl": [5]}, "negative"),
        ({"events_treat": [1], "n_treat": [0], "events_ctrl": [1], "n_ctrl": [5]}, "> 0"),
        ({"events_treat": [1, 2], "n_treat": [4], "events_ctrl": [1], "n_ctrl": [5]}, "length"),
        ({"events_treat": [1], "n_treat": [4]}, "needs events_ctrl"),
    ],
)
def test_invalid_binary_input_is_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        escalc("OR", **kwargs)


def test_negative_sd_and_non_numeric_values_are_refused() -> None:
    good = {"mean_treat": [1], "sd_treat": [1], "n_treat": [10], "mean_ctrl": [0], "n_ctrl": [10]}
    with pytest.raises(ValueError, match="sd_ctrl has negative"):
        escalc("MD", sd_ctrl=[-1], **good)
    with pytest.raises(TypeError, match="yi must be numeric"):
        escalc("GEN", yi=["a"], vi=[0.1])
    with pytest.raises(ValueError, match="unknown measure"):
        escalc("XYZ", yi=[1], vi=[1])


def test_result_serialises() -> None:
    es = effect_sizes("normand1999", "SMD")
    assert isinstance(es, EffectSizes)
    frame = es.to_frame()
    assert list(frame.columns) == ["study", "yi", "vi", "sei", "zero_corrected"]
    np.testing.assert_allclose(frame["sei"] ** 2, frame["vi"])
    assert es.to_dict()["measure"] == "SMD"


@pytest.mark.parametrize(
    ("measure", "statistic"), [("RR", "risk-ratio"), ("OR", "odds-ratio"), ("RD", "diff")]
)
def test_two_proportions_is_statsmodels_effectsize_2proportions_to_the_bit(
    measure: str, statistic: str
) -> None:
    from statsmodels.stats.meta_analysis import effectsize_2proportions

    from evidence.meta.effect_sizes import two_proportions

    rng = np.random.default_rng(8)
    n1 = rng.integers(5, 500, 200).astype(float)
    n2 = rng.integers(5, 500, 200).astype(float)
    a = np.floor(rng.uniform(0, 1, 200) * n1) + 0.5
    c = np.floor(rng.uniform(0, 1, 200) * n2) + 0.5
    ours = two_proportions(a, n1 + 1, c, n2 + 1, measure)
    theirs = effectsize_2proportions(
        a, n1 + 1, c, n2 + 1, statistic=statistic, zero_correction=None
    )
    assert np.array_equal(ours[0], theirs[0])
    assert np.array_equal(ours[1], theirs[1])
