"""leave_one_out and cumulative against metafor's leave1out and cumul (dat.bcg, RR)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from evidence.meta import cumulative, leave_one_out
from tests.meta.reference import assert_close, case_id, effect_sizes, load

L1O = load()["leave1out"]
CUMUL = load()["cumul"]
PAIRS = {
    "estimate": "estimate",
    "se": "se",
    "stat": "zval",
    "pval": "pval",
    "ci_low": "ci_lb",
    "ci_high": "ci_ub",
}
HETEROGENEITY = {"q": "Q", "q_pval": "Qp", "i2": "I2", "h2": "H2"}


@pytest.mark.parametrize("rec", L1O, ids=[case_id(r, "method", "test") for r in L1O])
def test_leave_one_out_matches_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes("bcg", "RR")
    res = leave_one_out(es, method=rec["method"], test=rec["test"])
    assert res.labels == es.studies
    assert len(res.fits) == es.k
    for i, fit in enumerate(res.fits):
        assert fit.k == es.k - 1
        for ours, theirs in {**PAIRS, **HETEROGENEITY}.items():
            assert_close(getattr(fit, ours), rec[theirs][i], f"{ours}[{i}]")
        if rec["tau2"] is not None:
            assert_close(fit.tau2, rec["tau2"][i], f"tau2[{i}]")
    frame = res.to_frame()
    assert len(frame) == es.k and frame["study"].tolist() == list(es.studies)


@pytest.mark.parametrize("rec", CUMUL, ids=[case_id(r, "method", "test") for r in CUMUL])
def test_cumulative_matches_metafor(rec: dict[str, Any]) -> None:
    es = effect_sizes("bcg", "RR")
    order = [i - 1 for i in rec["order"]]  # R's order(year), 1-based
    y, v = np.asarray(es.yi)[order], np.asarray(es.vi)[order]
    labels = [es.studies[i] for i in order]
    res = cumulative(y, v, method=rec["method"], test=rec["test"], studies=labels)
    assert res.labels == tuple(labels)
    for i, fit in enumerate(res.fits):
        assert fit.k == i + 1
        for ours, theirs in PAIRS.items():
            assert_close(getattr(fit, ours), rec[theirs][i], f"{ours}[{i}]")
        # one study (i = 0) included: metafor's conventions Q = 0, I2 = 0, tau2 = 0
        for ours, theirs in HETEROGENEITY.items():
            assert_close(getattr(fit, ours), rec[theirs][i], f"{ours}[{i}]")
        if rec["tau2"] is not None:
            assert_close(fit.tau2, rec["tau2"][i], f"tau2[{i}]")


def test_leave_one_out_needs_two_studies() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        leave_one_out([0.1], [0.1])
