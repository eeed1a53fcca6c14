"""GRADE publication bias: a small-study test where there are enough studies, shown either way.

Below the rule set's `min_k` no test means anything, so the domain is "not judgeable: k = 4 <
10" (shown, never hidden, never "no concern"). At or above it, the test the Cochrane Handbook
prefers for the outcome type runs: for binary outcomes Harbord's score-based test (or Peters'),
which avoid the correlation Egger's test has between a ratio of counts and its standard error;
for continuous outcomes Egger's regression test.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from evidence.rating.domains import DomainJudgement

DOMAIN = "publication bias"
NAMES = {"harbord": "Harbord's test", "peters": "Peters' test", "egger": "Egger's test"}


@dataclass(frozen=True)
class StudyData:
    """What the tests need of a pool's studies (analysis scale)."""

    yi: tuple[float, ...]
    vi: tuple[float, ...]
    tables: tuple[tuple[float, float, float, float], ...] | None = None  # a, b, c, d per study
    sizes: tuple[float, ...] | None = None  # total participants per study


def _run(test: str, data: StudyData, method: str) -> float:
    from evidence.meta.bias import harbord_test, peters_test, regtest

    if test == "harbord":
        if data.tables is None:
            raise ValueError("no 2x2 table for every study (some effects were reported only)")
        return harbord_test(np.asarray(data.tables, dtype=float), min_k=0).pval
    if test == "peters":
        if data.sizes is None:
            raise ValueError("no sample size for every study")
        return peters_test(data.yi, data.vi, ni=data.sizes, min_k=0).pval
    if test == "egger":
        return regtest(data.yi, data.vi, model="rma", method=method, min_k=0).pval
    raise ValueError(f"unknown small-study test {test!r} (expected one of {sorted(NAMES)})")


def judge_publication_bias(
    rules: dict[str, Any], k: int, binary: bool, data: StudyData, method: str = "REML"
) -> DomainJudgement:
    """`rules` is the rule set's grade.publication_bias section."""
    min_k = int(rules["min_k"])
    if k < min_k:
        return DomainJudgement(
            DOMAIN,
            "not judgeable",
            f"k = {k} < {min_k} (too few studies for a small-study test; "
            "publication bias cannot be excluded either)",
        )
    tests = rules.get("tests", {"binary": "egger", "continuous": "egger"})
    test = tests["binary" if binary else "continuous"]
    alternatives: Sequence[str] = (test, "peters") if binary and test == "harbord" else (test,)
    notes = []
    for name in alternatives:
        try:
            p = _run(name, data, method)
        except (ValueError, ArithmeticError, np.linalg.LinAlgError) as exc:
            notes.append(f"{NAMES.get(name, name)} not computable: {exc}")
            continue
        if not np.isfinite(p):
            notes.append(f"{NAMES.get(name, name)} gave no p-value")
            continue
        cut = float(rules.get("p", rules.get("egger_p", 0.10)))
        prefix = "; ".join(notes) + "; " if notes else ""
        if p < cut:
            return DomainJudgement(
                DOMAIN,
                "serious",
                f"{prefix}{NAMES[name]} p = {p:.3f} < {cut:g}: small-study effects (k = {k})",
            )
        return DomainJudgement(
            DOMAIN,
            "no concern",
            f"{prefix}{NAMES[name]} p = {p:.3f} ≥ {cut:g}: no small-study effect detected "
            f"(k = {k})",
        )
    return DomainJudgement(DOMAIN, "not judgeable", "; ".join(notes))
