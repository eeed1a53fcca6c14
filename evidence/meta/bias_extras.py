"""The small-study and publication-bias analyses as `evidence meta --also NAME` extras.

Each returns `{"assessed": true, ...the result...}`, or `{"assessed": false, "reason": ...}`
when the test is not run (fewer than `min_k` studies, 10 unless the options say otherwise) or
cannot be computed from the data. Analyses that need data the effect sizes do not carry (2x2
tables, sample sizes) refuse with a ValueError naming what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from evidence.meta.bias import MIN_K, NotComputable, harbord_test, peters_test, regtest
from evidence.meta.rank_correlation import ranktest
from evidence.meta.results import EffectSizes, PooledResult
from evidence.meta.trim_and_fill import trimfill

_MH_NOTE = "the pool is Mantel-Haenszel; the model here uses the fixed-effect (FE) method"


def _run(fn: Callable[[], Any], notes: tuple[str, ...] = ()) -> dict[str, Any]:
    try:
        result = fn()
    except NotComputable as exc:
        return {"assessed": False, "reason": exc.reason}
    out: dict[str, Any] = {"assessed": True, **result.to_dict()}
    if notes:
        out["notes"] = [*out.get("notes", []), *notes]
    return out


def _method(options: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    method = str(options.get("method", "REML")).upper()
    if method == "MH":
        return "FE", (_MH_NOTE,)
    return method, ()


def _min_k(options: dict[str, Any]) -> int:
    return int(options.get("min_k", MIN_K))


def _total_sizes(es: EffectSizes, analysis: str) -> list[float]:
    if es.tables is None:
        raise ValueError(
            f"--also {analysis} needs each study's total sample size, known here only from "
            f"2x2 tables (measures RR, OR, RD); measure {es.measure} has none"
        )
    return [sum(t) for t in es.tables]


def regtest_extra(es: EffectSizes, pooled: PooledResult, options: dict[str, Any]) -> dict[str, Any]:
    """Egger's test in both of metafor's models: "rma" (its default) and the classical "lm"."""
    method, notes = _method(options)
    level = float(options.get("level", 0.95))
    return {
        "rma": _run(
            lambda: regtest(
                es,
                model="rma",
                method=method,
                test=str(options.get("test", "z")),
                level=level,
                min_k=_min_k(options),
            ),
            notes,
        ),
        "lm": _run(lambda: regtest(es, model="lm", level=level, min_k=_min_k(options))),
    }


def peters_extra(es: EffectSizes, pooled: PooledResult, options: dict[str, Any]) -> dict[str, Any]:
    """Peters' test (regtest "lm" on 1/n) with n = n_treat + n_ctrl of each 2x2 table."""
    ni = _total_sizes(es, "peters")
    level = float(options.get("level", 0.95))
    return _run(lambda: peters_test(es, ni=ni, level=level, min_k=_min_k(options)))


def harbord_extra(es: EffectSizes, pooled: PooledResult, options: dict[str, Any]) -> dict[str, Any]:
    """Harbord's test on the 2x2 tables behind the effect sizes."""
    if es.tables is None:
        raise ValueError(
            f"--also harbord needs 2x2 tables (measures RR, OR, RD); measure {es.measure} has none"
        )
    notes: tuple[str, ...] = ()
    if es.measure != "OR":
        notes = (f"the test works on the log odds ratio's score, whatever the pooled {es.measure}",)
    level = float(options.get("level", 0.95))
    return _run(lambda: harbord_test(es, level=level, min_k=_min_k(options)), notes)


def ranktest_extra(
    es: EffectSizes, pooled: PooledResult, options: dict[str, Any]
) -> dict[str, Any]:
    """Begg and Mazumdar's rank correlation test."""
    return _run(lambda: ranktest(es, min_k=_min_k(options)))


def trimfill_extra(
    es: EffectSizes, pooled: PooledResult, options: dict[str, Any]
) -> dict[str, Any]:
    """Trim and fill (L0, side chosen from the data) with the command's method and test."""
    method, notes = _method(options)
    return _run(
        lambda: trimfill(
            es,
            method=method,
            test=str(options.get("test", "z")),
            level=float(options.get("level", 0.95)),
            min_k=_min_k(options),
        ),
        notes,
    )
