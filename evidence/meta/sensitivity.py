"""Leave-one-out and cumulative meta-analysis (metafor's leave1out and cumul).

Each step is a full refit with the same method and test, including its own tau^2. A refit costs
O(k) time and memory (no k x k matrix anywhere), so a whole analysis is O(k^2) time, O(k) memory
beyond the k results it returns. By default each REML step starts, as metafor's cumul does,
from Hedges' estimator; `warm_start=True` starts it from the previous step's tau^2 instead
(fewer iterations, but where tau^2 sits on its boundary at 0 the warm iterates stop up to the
stopping threshold above 0 instead of at 0 exactly, so the default keeps metafor's start).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from evidence.meta._util import ArrayLike
from evidence.meta.fit import _unpack, rma
from evidence.meta.results import EffectSizes, SequentialResult
from evidence.meta.tau2 import Tau2Control


def _warm(control: Tau2Control | None, method: str, tau2: float | None) -> Tau2Control | None:
    """The control for the next cumulative step: start REML at the last step's tau^2."""
    base = control or Tau2Control()
    if method.upper() != "REML" or tau2 is None or base.reml_start is not None:
        return control
    return replace(base, reml_start=tau2)


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
    warm_start: bool = False,
) -> SequentialResult:
    """Pools of the first 1, 2, ..., k studies in the order given (sort by year first).

    The first step has k = 1 and therefore no heterogeneity statistics. `warm_start`: see the
    module docstring.
    """
    y, v, measure, labels = _unpack(yi, vi, measure, studies)
    k = len(y)
    if k == 0:
        raise ValueError("no studies (k = 0)")
    fits = []
    tau2: float | None = None
    for i in range(k):
        fit = rma(
            y[: i + 1],
            v[: i + 1],
            method=method,
            test=test,
            level=level,
            measure=measure,
            studies=labels[: i + 1],
            control=_warm(control, method, tau2) if warm_start else control,
        )
        tau2 = fit.tau2
        fits.append(fit)
    return SequentialResult(kind="cumulative", labels=labels, fits=tuple(fits))
