"""Access to the metafor reference values written by tests/metafor/make_reference.R."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from evidence.meta import EffectSizes, escalc

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "metafor" / "reference.json"
REL = 1e-6
ABS = 1e-9

BINARY = ("events_treat", "n_treat", "events_ctrl", "n_ctrl")
CONTINUOUS = ("mean_treat", "sd_treat", "n_treat", "mean_ctrl", "sd_ctrl", "n_ctrl")


@cache
def load() -> dict[str, Any]:
    with REFERENCE.open(encoding="utf-8") as fh:
        return json.load(fh)


def dataset(name: str) -> dict[str, list[Any]]:
    return load()["datasets"][name]


def effect_sizes(name: str, measure: str, **kwargs: Any) -> EffectSizes:
    """The data set's effect sizes computed by our escalc from the raw columns in the JSON."""
    d = dataset(name)
    if measure in ("RR", "OR", "RD"):
        cols = BINARY
    elif measure in ("MD", "SMD"):
        cols = CONTINUOUS
    elif measure in ("PLO", "PR"):
        cols = ("events", "n")
    else:
        cols = ("yi", "vi")
    return escalc(measure, studies=d["study"], **{c: d[c] for c in cols}, **kwargs)


def close(actual: float | None, expected: float | None) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    return math.isclose(actual, expected, rel_tol=REL, abs_tol=ABS)


def rel_diff(actual: float, expected: float) -> float:
    return abs(actual - expected) / max(abs(expected), ABS)


def assert_close(actual: float | None, expected: float | None, what: str = "") -> None:
    assert close(actual, expected), f"{what}: ours {actual!r} vs metafor {expected!r}"


def assert_all_close(
    actual: Sequence[float | None], expected: Sequence[float | None], what: str = ""
) -> None:
    assert len(actual) == len(expected), f"{what}: length {len(actual)} vs {len(expected)}"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        assert_close(a, e, f"{what}[{i}]")


def case_id(rec: dict[str, Any], *keys: str) -> str:
    return "-".join(str(rec[k]) for k in keys)
