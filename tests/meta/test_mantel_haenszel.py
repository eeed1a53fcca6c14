"""rma_mh: Mantel-Haenszel RR and OR equal to metafor's rma.mh, zero cells included."""

from __future__ import annotations

from typing import Any

import pytest

from evidence.meta import rma, rma_mh
from tests.meta.reference import (
    assert_all_close,
    assert_close,
    case_id,
    dataset,
    effect_sizes,
    load,
)

MH = load()["rma_mh"]


@pytest.mark.parametrize("rec", MH, ids=[case_id(r, "dataset", "measure") for r in MH])
def test_rma_mh_matches_metafor(rec: dict[str, Any]) -> None:
    d = dataset(rec["dataset"])
    res = rma_mh(
        d["events_treat"], d["n_treat"], d["events_ctrl"], d["n_ctrl"], measure=rec["measure"]
    )
    pairs = {
        "estimate": "estimate",
        "se": "se",
        "stat": "zval",
        "pval": "pval",
        "ci_low": "ci_lb",
        "ci_high": "ci_ub",
        "q": "QE",
        "q_pval": "QEp",
        "i2": "I2",
        "h2": "H2",
    }
    for ours, theirs in pairs.items():
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert_all_close(res.weights, rec["weights"], "weights")
    assert res.k == rec["k"]
    assert res.q_df == rec["k_yi"] - 1
    assert res.method == "MH" and res.tau2 is None and res.pi_low is None


@pytest.mark.parametrize("measure", ["RR", "OR"])
def test_rma_with_method_mh_uses_the_raw_tables(measure: str) -> None:
    d = dataset("zero")
    direct = rma_mh(d["events_treat"], d["n_treat"], d["events_ctrl"], d["n_ctrl"], measure=measure)
    via_rma = rma(effect_sizes("zero", measure), method="MH")
    assert via_rma.estimate == pytest.approx(direct.estimate, rel=1e-12)
    assert via_rma.se == pytest.approx(direct.se, rel=1e-12)
    assert via_rma.exp_estimate is not None


def test_mh_refuses_other_measures() -> None:
    with pytest.raises(ValueError, match="RR, OR and RD"):
        rma_mh([1], [10], [2], [10], measure="PLO")
    with pytest.raises(ValueError, match="2x2"):
        rma([0.1, 0.2], [0.1, 0.1], method="MH")
