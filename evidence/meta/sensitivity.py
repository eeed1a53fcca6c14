"""Leave-one-out and cumulative meta-analysis (metafor's leave1out and cumul).

Each step is a full refit with the same method and test, including its own tau^2.
"""

from __future__ import annotations

import numpy as np

from evidence.meta._util import ArrayLike
from evidence.meta.fit import _unpack, rma
from evidence.meta.results import EffectSizes, SequentialResult
from evidence.meta.tau2 import Tau2Control


def leave_one_out(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    measure: str | None = None,
    studies: ArrayLike | None = None,
    control: Tau2Control | None = None,
) -> SequentialResult:
    """The pool without each study in turn; `labels[i]` is the study left out."""
    y, v, measure, labels = _unpack(yi, vi, measure, studies)
    k = len(y)
    if k < 2:
        raise ValueError(f"leave-one-out needs at least 2 studies, got {k}")
    fits = []
    for i in range(k):
        keep = np.arange(k) != i
        fits.append(
            rma(
                y[keep],
                v[keep],
                method=method,
                test=test,
                level=level,
                measure=measure,
                studies=[s for s, kp in zip(labels, keep, strict=True) if kp],
                control=control,
            )
        )
    return SequentialResult(kind="leave1out", labels=labels, fits=tuple(fits))


def cumulative(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    measure: str | None = None,
    studies: ArrayLike | None = None,
    control: Tau2Control | None = None,
) -> SequentialResult:
    """Pools of the first 1, 2, ..., k studies in the order given (sort by year first).

    The first step has k = 1 and therefore no heterogeneity statistics.
    """
    y, v, measure, labels = _unpack(yi, vi, measure, studies)
    k = len(y)
    if k == 0:
        raise ValueError("no studies (k = 0)")
    fits = tuple(
        rma(
            y[: i + 1],
            v[: i + 1],
            method=method,
            test=test,
            level=level,
            measure=measure,
            studies=labels[: i + 1],
            control=control,
        )
        for i in range(k)
    )
    return SequentialResult(kind="cumulative", labels=labels, fits=fits)
