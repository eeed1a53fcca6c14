"""Duval and Tweedie's trim-and-fill method (metafor's trimfill for rma.uni models).

The studies on the side of the funnel with the excess are trimmed one estimate at a time until
the number of "missing" studies k0 stops changing: each round pools the k - k0 least extreme
studies with the model's method, ranks the absolute deviations from that pool, and estimates
k0 from the ranks (L0 from the sum of positive ranks, R0 from the run of largest positive
ranks). The k0 most extreme studies are then mirrored about the last trimmed pool and the
whole, filled set is pooled again.

As in metafor 3.8-1: the side, unless given, is the one opposite the sign of the slope of a
regression of the effects on their standard errors (fitted with the model's method); ranks of
tied deviations follow the studies' order; k0 is rounded half to even and kept >= 0; R0 comes
with metafor's p-value for k0 (0.5^(k0 + 1)); the internal fits use `control`; with no study
missing the result pools the observed studies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.stats import rankdata

from evidence.meta._util import ArrayLike, FloatArray, study_labels
from evidence.meta.bias import MIN_K, NotComputable, _check_data, _effects, check_min_k
from evidence.meta.fit import rma, rma_uni
from evidence.meta.results import EffectSizes, PooledResult
from evidence.meta.tau2 import ConvergenceError, Tau2Control

if TYPE_CHECKING:
    import pandas as pd

TRIMFILL = "trim and fill"
ESTIMATORS = ("L0", "R0")
SIDES = ("left", "right")


@dataclass(frozen=True)
class TrimFillResult:
    """The filled data and their pool.

    `yi`, `vi`, `studies` hold the observed studies (in input order) followed by the k0 filled
    ones ("Filled 1", ...); `filled` flags the latter. `side` is where studies were missing
    (`side_chosen` True when it was chosen from the data). `se_k0` is None where the L0
    variance formula turns negative. `p_k0` is R0's p-value for k0 (None for L0).
    """

    estimator: str
    side: str
    side_chosen: bool
    k: int
    k0: int
    se_k0: float | None
    p_k0: float | None
    iterations: int
    studies: tuple[str, ...]
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    filled: tuple[bool, ...]
    pooled: PooledResult
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "side": self.side,
            "side_chosen": self.side_chosen,
            "k": self.k,
            "k0": self.k0,
            "se_k0": self.se_k0,
            "p_k0": self.p_k0,
            "iterations": self.iterations,
            "studies": list(self.studies),
            "yi": list(self.yi),
            "vi": list(self.vi),
            "filled": list(self.filled),
            "pooled": self.pooled.to_dict(),
            "notes": list(self.notes),
        }

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {"study": self.studies, "yi": self.yi, "vi": self.vi, "filled": self.filled}
        )


def _pool_beta(y: FloatArray, v: FloatArray, method: str, control: Tau2Control | None) -> float:
    if len(y) == 1:
        return float(y[0])
    try:
        return float(rma_uni(y, v, np.ones((len(y), 1)), method=method, control=control).beta[0])
    except ConvergenceError as exc:
        raise NotComputable(f"tau^2 did not converge ({exc})", TRIMFILL) from None


def choose_side(
    y: FloatArray, v: FloatArray, method: str, control: Tau2Control | None = None
) -> str:
    """metafor's automatic side: "right" if the effects fall as the standard error grows."""
    se = np.sqrt(v)
    if float(np.ptp(se)) <= 1e-7 * float(se.max()):
        raise NotComputable(
            "all studies have the same standard error, so the side with missing studies "
            "cannot be chosen from the data; pass side='left' or 'right'",
            TRIMFILL,
        )
    x = np.column_stack([np.ones(len(y)), se])
    try:
        slope = float(rma_uni(y, v, x, method=method, control=control).beta[1])
    except ConvergenceError as exc:
        raise NotComputable(f"tau^2 did not converge ({exc})", TRIMFILL) from None
    return "right" if slope < 0 else "left"


def _l0(signed: FloatArray, k: int) -> tuple[float, float | None]:
    sr = float(np.sum(signed[signed > 0]))
    k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
    var_sr = (
        k * (k + 1) * (2 * k + 1)
        + 10 * k0**3
        + 27 * k0**2
        + 17 * k0
        - 18 * k * k0**2
        - 18 * k * k0
        + 6 * k**2 * k0
    ) / 24
    se = 4 * math.sqrt(var_sr) / (2 * k - 1) if var_sr >= 0 else None
    return k0, se


def _r0(signed: FloatArray, k: int) -> tuple[float, float | None]:
    negative = signed[signed < 0]
    if negative.size == 0:
        raise NotComputable("R0 is undefined: no study lies below the trimmed pool", TRIMFILL)
    k0 = (k - float(np.max(-negative))) - 1
    return k0, math.sqrt(2 * max(0.0, k0) + 2)


def trimfill(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    estimator: str = "L0",
    side: str | None = None,
    measure: str | None = None,
    studies: ArrayLike | None = None,
    maxiter: int = 100,
    min_k: int = MIN_K,
    control: Tau2Control | None = None,
) -> TrimFillResult:
    """Trim and fill, equal to metafor's trimfill(rma(yi, vi, method=...), ...).

    `test` and `level` apply to the pool of the filled data. Raises `NotAssessed` below `min_k`
    studies and `NotComputable` where the method cannot be carried out (no convergence in
    `maxiter` rounds, R0 undefined, a side that cannot be chosen).
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if side is not None and side not in SIDES:
        raise ValueError(f"side must be 'left', 'right' or None, got {side!r}")
    y_obs, v_obs = _effects(yi, vi)
    k = len(y_obs)
    if isinstance(yi, EffectSizes):
        labels, measure = yi.studies, measure or yi.measure
    else:
        labels = study_labels(studies, k)
    check_min_k(k, min_k, TRIMFILL)
    if k < 2:
        raise NotComputable(f"k = {k}: at least 2 studies are needed", TRIMFILL)
    _check_data(y_obs, v_obs, TRIMFILL)
    method = method.upper()
    side_chosen = side is None
    if side is None:
        side = choose_side(y_obs, v_obs, method, control)
    y = -y_obs if side == "right" else y_obs.copy()
    order = np.argsort(y, kind="stable")
    y, v = y[order], v_obs[order]

    k0, prev, iterations = 0, -1, 0
    beta = 0.0
    se_k0: float | None = None
    centred = y
    while k0 != prev:
        prev = k0
        iterations += 1
        if iterations > maxiter:
            raise NotComputable(f"did not converge in {maxiter} iterations", TRIMFILL)
        beta = _pool_beta(y[: k - k0], v[: k - k0], method, control)
        centred = y - beta
        signed = np.sign(centred) * rankdata(np.abs(centred), method="ordinal")
        raw, se = _l0(signed, k) if estimator == "L0" else _r0(signed, k)
        k0 = max(0, round(raw))
        se_k0 = None if se is None else max(0.0, se)

    notes: tuple[str, ...] = ()
    if se_k0 is None:
        notes = ("the L0 variance formula is negative here: no standard error for k0",)
    if k0 > 0:
        mirrored = -(centred[k - k0 :] - beta)
        fill = -mirrored if side == "right" else mirrored
        y_all = np.concatenate([y_obs, fill])
        v_all = np.concatenate([v_obs, v[k - k0 :]])
        labels_all = (*labels, *(f"Filled {i}" for i in range(1, k0 + 1)))
    else:
        y_all, v_all, labels_all = y_obs, v_obs, tuple(labels)
    pooled = rma(
        y_all,
        v_all,
        method=method,
        test=test,
        level=level,
        measure=measure,
        studies=list(labels_all),
        control=control,
    )
    p_k0 = None
    if estimator == "R0":
        p_k0 = 1 - sum(0.5 ** (m + 2) for m in range(-1, k0))
    return TrimFillResult(
        estimator=estimator,
        side=side,
        side_chosen=side_chosen,
        k=k,
        k0=k0,
        se_k0=se_k0,
        p_k0=p_k0,
        iterations=iterations,
        studies=tuple(labels_all),
        yi=tuple(float(t) for t in y_all),
        vi=tuple(float(t) for t in v_all),
        filled=(False,) * k + (True,) * k0,
        pooled=pooled,
        notes=notes,
    )
