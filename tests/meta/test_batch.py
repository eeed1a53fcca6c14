"""`pool_many` equals `rma` group by group, and its result is JSON-safe and tabular."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest

from evidence.meta import ConvergenceError, Tau2Control, pool_many, rma
from evidence.meta.batch import SINGLE_STUDY
from evidence.meta.tau2 import FALLBACK, FISHER
from tests.meta.reference import REFERENCE, assert_close, dataset

FIELDS = (
    "estimate", "se", "ci_low", "ci_high", "stat", "pval", "df", "q", "q_pval", "tau2", "i2",
    "h2", "pi_low", "pi_high",
)  # fmt: skip
REL = 1e-10
ABS = 1e-13


def random_groups(seed: int, n_groups: int = 60) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of 1 to 20 studies: homogeneous ones (tau^2 = 0 often), mild and strong
    heterogeneity, variances over three orders of magnitude; labels not in sorted order."""
    rng = np.random.default_rng(seed)
    ys: list[float] = []
    vs: list[float] = []
    gs: list[str] = []
    for j in range(n_groups):
        k = 1 if j % 11 == 0 else 2 if j % 7 == 0 else int(rng.integers(3, 21))
        v = rng.uniform(0.01, 1.0, k) * 10 ** rng.uniform(-2, 1)
        tau2 = (0.0, 0.05, 1.0)[j % 3]
        ys.extend(rng.normal(0.3, np.sqrt(v + tau2)))
        vs.extend(v)
        gs.extend([f"g{(j * 37) % n_groups:03d}"] * k)
    return np.array(ys), np.array(vs), np.array(gs)


def assert_matches_rma(
    y: np.ndarray, v: np.ndarray, g: np.ndarray, method: str, test: str, **kw: Any
) -> list[str]:
    batch = pool_many(y, v, g, method=method, test=test, **kw)
    assert batch.groups == tuple(sorted(set(g.tolist())))
    for i, label in enumerate(batch.groups):
        rows = g == label
        one = rma(y[rows], v[rows], method=method, test=test, **kw)
        assert batch.k[i] == one.k
        for name in FIELDS:
            expected = getattr(one, name)
            got = float(getattr(batch, name)[i])
            if expected is None:
                assert math.isnan(got), f"{label} {name}: {got} where rma has None"
            else:
                assert math.isclose(got, expected, rel_tol=REL, abs_tol=ABS), (
                    f"{label} {method} {test} {name}: batch {got!r} vs rma {expected!r}"
                )
        assert batch.tau2_algorithm[i] == (one.tau2_algorithm or SINGLE_STUDY) or method == "PM"
    return list(batch.tau2_algorithm)


@pytest.mark.parametrize("method", ["FE", "DL", "PM", "REML"])
@pytest.mark.parametrize("test", ["z", "knha", "adhoc"])
def test_pool_many_equals_rma_per_group(method: str, test: str) -> None:
    y, v, g = random_groups(seed=11)
    sizes = set(np.unique(g, return_counts=True)[1].tolist())
    assert {1, 2} <= sizes  # groups of one and of two studies are part of it
    algorithms = assert_matches_rma(y, v, g, method, test)
    assert SINGLE_STUDY in algorithms


def test_reml_groups_at_zero_and_groups_needing_the_fallback() -> None:
    y, v, g = random_groups(seed=5, n_groups=120)
    batch = pool_many(y, v, g)
    assert (batch.tau2[batch.k > 1] == 0).any(), "no group with tau^2 = 0"
    assert FALLBACK in batch.tau2_algorithm, "no group needed the fallback"
    assert FISHER in batch.tau2_algorithm
    assert_matches_rma(y, v, g, "REML", "knha")
    # A tiny iteration limit sends every group not done in one step to the fallback.
    algorithms = assert_matches_rma(y, v, g, "REML", "z", control=Tau2Control(reml_maxiter=1))
    assert algorithms.count(FALLBACK) > batch.tau2_algorithm.count(FALLBACK)


def test_metafor_default_stopping_rule_is_kept() -> None:
    y, v, g = random_groups(seed=3)
    assert_matches_rma(y, v, g, "REML", "z", control=Tau2Control(reml_threshold=1e-5))


def test_reference_data_sets_pooled_together_equal_their_own_pools() -> None:
    ys: list[float] = []
    vs: list[float] = []
    gs: list[str] = []
    d = dataset("hackshaw1998")
    for copy in range(3):  # the same data three times, shifted, as three groups
        ys.extend(np.array(d["yi"], dtype=float) + copy)
        vs.extend(d["vi"])
        gs.extend([f"copy{copy}"] * len(d["yi"]))
    assert_matches_rma(np.array(ys), np.array(vs), np.array(gs), "REML", "knha")


def test_fallback_disabled_raises_naming_the_group() -> None:
    y, v, g = random_groups(seed=5, n_groups=40)
    with pytest.raises(ConvergenceError, match="in group "):
        pool_many(y, v, g, control=Tau2Control(reml_maxiter=1, reml_fallback=False))


def test_frame_and_dict() -> None:
    y, v, g = random_groups(seed=2, n_groups=12)
    batch = pool_many(y, v, g, method="REML", test="knha")
    frame = batch.to_frame()
    assert len(frame) == len(batch) == 12
    assert list(frame["group"]) == list(batch.groups)
    for col in ("k", "estimate", "se", "ci_low", "ci_high", "pval", "tau2", "q", "i2"):
        assert col in frame.columns
    single = frame["k"] == 1
    assert (frame.loc[single, "test"] == "z").all()
    # metafor's conventions for one study, as rma gives them
    assert (frame.loc[single, "tau2"] == 0).all() and (frame.loc[single, "h2"] == 1).all()
    assert (frame.loc[single, "pi_low"] == frame.loc[single, "ci_low"]).all()
    out = batch.to_dict()
    text = json.dumps(out, allow_nan=False)  # raises on NaN or inf
    assert json.loads(text)["tau2"][int(np.flatnonzero(single.to_numpy())[0])] == 0.0
    with pytest.raises(ValueError):
        batch.estimate[0] = 1.0  # read-only


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"vi": [0.1, 0.0]}, "sampling variances must be positive"),
        ({"yi": [0.1, float("nan")]}, "yi has non-finite values"),
        ({"group": ["a"]}, "one label per study"),
        ({"group": np.array([1, "a"], dtype=object)}, "all numbers or all strings"),
        ({"method": "XX"}, "unknown method"),
        ({"test": "t"}, "unknown test"),
    ],
)
def test_bad_input_is_refused(kwargs: dict[str, Any], message: str) -> None:
    args: dict[str, Any] = {"yi": [0.1, 0.2], "vi": [0.1, 0.2], "group": ["a", "a"]}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pool_many(**args)


BATCH_REFERENCE = REFERENCE.parent / "batch.json"
METAFOR_FIELDS = {
    "estimate": "estimate", "se": "se", "ci_low": "ci_lb", "ci_high": "ci_ub", "pval": "pval",
    "tau2": "tau2", "q": "QE", "q_pval": "QEp", "i2": "I2", "h2": "H2", "pi_low": "pi_lb",
    "pi_high": "pi_ub",
}  # fmt: skip


def batch_reference() -> dict[str, Any]:
    with BATCH_REFERENCE.open(encoding="utf-8") as fh:
        return dict(json.load(fh))


def check_against_metafor(records: list[dict[str, Any]], control: Tau2Control | None) -> None:
    ref = batch_reference()
    name, method, test = records[0]["dataset"], records[0]["method"], records[0]["test"]
    d = ref["datasets"][name]
    batch = pool_many(d["yi"], d["vi"], d["group"], method=method, test=test, control=control)
    row = {label: i for i, label in enumerate(batch.groups)}
    assert set(row) == {r["group"] for r in records}
    for rec in records:
        i = row[rec["group"]]
        assert batch.k[i] == rec["k"]
        for ours, theirs in METAFOR_FIELDS.items():
            got = float(getattr(batch, ours)[i])
            assert_close(
                None if math.isnan(got) else got, rec[theirs], f"{name} {rec['group']} {ours}"
            )


def grouped(records: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        out.setdefault(f"{rec['dataset']}-{rec['method']}-{rec['test']}", []).append(rec)
    return out


POOLS = grouped(batch_reference()["pools"])


@pytest.mark.parametrize("case", sorted(POOLS))
def test_pool_many_equals_metafor_per_group(case: str) -> None:
    check_against_metafor(POOLS[case], None)


@pytest.mark.parametrize("case", sorted(grouped(batch_reference()["reml_default"])))
def test_pool_many_reproduces_metafor_default_reml_stopping_point(case: str) -> None:
    records = grouped(batch_reference()["reml_default"])[case]
    check_against_metafor(records, Tau2Control(reml_threshold=1e-5))
