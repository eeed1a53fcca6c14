"""escalc parity for IRR, IRD, ROM, SMDH, SMCC, SMCR, PFT, COR and ZCOR (and one REML pool of
each), against tests/fixtures/metafor/measures.json (tests/metafor/make_reference_measures.R)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from evidence.meta import RATIO_MEASURES, EffectSizes, Tau2Control, escalc, rma
from evidence.meta.effect_sizes import ExtremeValueError, ipft_hm
from tests.meta.reference import assert_all_close, assert_close, case_id

MEASURES_JSON = Path(__file__).resolve().parents[1] / "fixtures" / "metafor" / "measures.json"
CONVERGED = Tau2Control(reml_threshold=1e-12, reml_maxiter=1000)
METAFOR_DEFAULT = Tau2Control(reml_threshold=1e-5)


@cache
def load_measures() -> dict[str, Any]:
    with MEASURES_JSON.open(encoding="utf-8") as fh:
        return json.load(fh)


def columns(name: str, measure: str) -> dict[str, Any]:
    d = dict(load_measures()["datasets"][name])
    if measure == "SMCR":
        d.pop("sd_post", None)  # SMCR is standardised by sd_pre alone
    return d


def compute(rec: dict[str, Any]) -> EffectSizes:
    d = columns(rec["dataset"], rec["measure"])
    options = {k: rec[k] for k in ("to", "add", "drop00") if k in rec}
    return escalc(rec["measure"], studies=d.pop("study"), **d, **options)


def _finite_case(rec: dict[str, Any]) -> bool:
    return all(y is not None for y in rec["yi"]) or rec.get("drop00", False)


ESCALC = [r for r in load_measures()["escalc"] if _finite_case(r)]
INFINITE = [r for r in load_measures()["escalc"] if not _finite_case(r)]


def _id(rec: dict[str, Any]) -> str:
    extra = "-".join(f"{k}={rec[k]}" for k in ("to", "add", "drop00") if k in rec)
    return case_id(rec, "dataset", "measure") + (f"-{extra}" if extra else "")


@pytest.mark.parametrize("rec", ESCALC, ids=[_id(r) for r in ESCALC])
def test_escalc_matches_metafor(rec: dict[str, Any]) -> None:
    es = compute(rec)
    kept = [i for i, y in enumerate(rec["yi"]) if y is not None]
    assert_all_close(es.yi, [rec["yi"][i] for i in kept], "yi")
    assert_all_close(es.vi, [rec["vi"][i] for i in kept], "vi")
    studies = load_measures()["datasets"][rec["dataset"]]["study"]
    assert es.studies == tuple(studies[i] for i in kept)
    assert es.dropped == tuple(s for i, s in enumerate(studies) if i not in kept)


@pytest.mark.parametrize("rec", INFINITE, ids=[_id(r) for r in INFINITE])
def test_uncorrected_zero_counts_are_refused_where_metafor_gives_no_value(
    rec: dict[str, Any],
) -> None:
    """IRR with to="none" and a zero count: metafor returns -Inf/NaN; we refuse, naming it."""
    with pytest.raises(ExtremeValueError, match=r"yi of study 'r1' \(position 0\)"):
        compute(rec)


def test_zero_rules_mark_the_corrected_studies() -> None:
    rec = next(r for r in ESCALC if r["measure"] == "IRR" and r.get("to") == "only0")
    es = compute(rec)
    assert es.corrected == (True, True, True, False)  # r3 has zeros in both arms
    assert compute({**rec, "to": "all", "add": 0.5}).corrected == (True,) * 4
    assert compute({**rec, "to": "none"} | {"measure": "IRD"}).corrected == (False,) * 4


def test_pft_adds_nothing_by_default_and_add_is_honoured() -> None:
    d = columns("zero_prop", "PFT")
    plain = escalc("PFT", events=d["events"], n=d["n"])
    assert plain.corrected == (False,) * 4
    patched = escalc("PFT", events=d["events"], n=d["n"], add=0.5, to="all")
    assert patched.corrected == (True,) * 4 and patched.yi != plain.yi


POOLS = load_measures()["rma"]


@pytest.mark.parametrize("rec", POOLS, ids=[case_id(r, "dataset", "measure") for r in POOLS])
def test_reml_pool_of_each_measure_matches_metafor(rec: dict[str, Any]) -> None:
    es = compute(rec)
    res = rma(es, method="REML", control=CONVERGED)
    pairs = {
        "estimate": "estimate", "se": "se", "stat": "zval", "pval": "pval", "ci_low": "ci_lb",
        "ci_high": "ci_ub", "q": "QE", "q_pval": "QEp", "tau2": "tau2", "i2": "I2", "h2": "H2",
        "pi_low": "pi_lb", "pi_high": "pi_ub",
    }  # fmt: skip
    for ours, theirs in pairs.items():
        assert_close(getattr(res, ours), rec[theirs], ours)
    assert res.k == rec["k"]
    default = rma(es, method="REML", control=METAFOR_DEFAULT)
    for field in ("tau2", "estimate", "se"):
        assert_close(getattr(default, field), rec["reml_default"][field], f"default {field}")


@pytest.mark.parametrize("measure", ["IRR", "ROM"])
def test_log_scale_measures_are_reported_exponentiated(measure: str) -> None:
    rec = next(r for r in POOLS if r["measure"] == measure)
    res = rma(compute(rec), control=CONVERGED)
    assert measure in RATIO_MEASURES and res.is_ratio
    out = res.to_dict()
    assert_close(out["exp_estimate"], 2.718281828459045 ** rec["estimate"], "exp_estimate")
    assert "exp_estimate" in res.to_frame().columns


def test_difference_measures_are_not_exponentiated() -> None:
    for measure in ("IRD", "SMDH", "SMCC", "SMCR", "PFT", "COR", "ZCOR"):
        assert measure not in RATIO_MEASURES


def test_pft_back_transformation_matches_transf_ipft_hm() -> None:
    ref = load_measures()["ipft_hm"]
    n = load_measures()["datasets"]["pritz1997"]["n"]
    assert_all_close(list(ipft_hm(ref["yi"], n)), ref["back"], "back")
    rec = next(r for r in POOLS if r["measure"] == "PFT")
    res = rma(compute(rec), control=CONVERGED)
    back = ipft_hm([res.estimate, res.ci_low, res.ci_high], n)
    assert_all_close(list(back), [ref["pred"], ref["ci_lb"], ref["ci_ub"]], "pooled back")
    # beyond the transform of 0 and of n events the proportion is clamped to 0 and 1
    assert list(ipft_hm([-1.0, 3.0], n)) == [0.0, 1.0]


@pytest.mark.parametrize(
    ("measure", "change", "fragment"),
    [
        ("IRR", {"time_ctrl": [0.0]}, "time_ctrl must be > 0"),
        ("IRD", {"events_treat": [-1.0]}, "events_treat must be >= 0"),
        ("ROM", {"mean_ctrl": [-2.0]}, "mean_treat / mean_ctrl must be > 0"),
        ("SMCC", {"r_pre_post": [1.5]}, "r_pre_post must be between -1 and 1"),
        ("ZCOR", {"n": [3.0]}, "n must be > 3 for ZCOR"),
        ("COR", {"r": [-1.2]}, "r must be between -1 and 1"),
    ],
)
def test_impossible_inputs_are_refused(measure: str, change: dict, fragment: str) -> None:
    base: dict[str, dict[str, list[float]]] = {
        "IRR": {"events_treat": [3], "time_treat": [10], "events_ctrl": [4], "time_ctrl": [9]},
        "ROM": {
            "mean_treat": [2], "sd_treat": [1], "n_treat": [10],
            "mean_ctrl": [3], "sd_ctrl": [1], "n_ctrl": [10],
        },
        "SMCC": {
            "mean_pre": [1], "sd_pre": [1], "mean_post": [2], "sd_post": [1], "n": [10],
            "r_pre_post": [0.5],
        },
        "ZCOR": {"r": [0.3], "n": [20]},
    }  # fmt: skip
    base["IRD"], base["COR"] = base["IRR"], base["ZCOR"]
    with pytest.raises(ValueError, match=fragment):
        escalc(measure, **(base[measure] | change))


def test_missing_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="measure SMCC needs sd_post"):
        escalc("SMCC", mean_pre=[1], mean_post=[2], sd_pre=[1], n=[10], r_pre_post=[0.5])
    with pytest.raises(ValueError, match="measure IRR needs time_treat"):
        escalc("IRR", events_treat=[1], events_ctrl=[2], time_ctrl=[3])
