"""Subgroup analysis: a pool per subgroup and tests for differences between subgroups.

Two tests are reported, both matching metafor:
- Q-between: Cochran's Q over the separately pooled subgroup estimates (each subgroup with its
  own tau^2), i.e. rma(estimates, sei = ses, method = "FE")'s QE with G - 1 df;
- the mixed-effects model with the subgroup as a factor moderator and one common tau^2,
  rma(yi, vi, mods = ~ factor(group)), whose QM tests all level contrasts at once.
"""

from __future__ import annotations

import numpy as np
from scipy.special import chdtrc

from evidence.meta._util import ArrayLike, as_vector, require_finite, same_length, study_labels
from evidence.meta.fit import rma, rma_uni
from evidence.meta.regression import model_result
from evidence.meta.results import EffectSizes, MetaRegressionResult, SubgroupResult
from evidence.meta.tau2 import Tau2Control


def _is_missing(label: object) -> bool:
    """None, NaN and pandas' NA: str() would turn them into a subgroup named "nan"."""
    if label is None:
        return True
    try:
        unequal = label != label  # NaN is not equal to itself
    except (TypeError, ValueError):
        return False
    if isinstance(unequal, bool | np.bool_):
        return bool(unequal)
    return True  # pandas' NA: comparing with it gives NA again


def subgroup_analysis(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    groups: ArrayLike | None = None,
    *,
    moderator: str = "subgroup",
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    measure: str | None = None,
    studies: ArrayLike | None = None,
    control: Tau2Control | None = None,
) -> SubgroupResult:
    """Pool each subgroup separately and test whether the subgroups differ.

    Levels are ordered as sorted strings (R's factor order), so the first level is the
    reference category of the moderator model.
    """
    if isinstance(yi, EffectSizes):
        y = np.asarray(yi.yi, dtype=float)
        v = np.asarray(yi.vi, dtype=float)
        measure = measure or yi.measure
        labels = yi.studies
    else:
        if vi is None:
            raise ValueError("vi is required unless yi is an EffectSizes")
        y = as_vector(yi, "yi")
        v = as_vector(vi, "vi")
        labels = study_labels(studies, len(y))
    if groups is None:
        raise ValueError("groups is required")
    if hasattr(groups, "tolist"):
        groups = groups.tolist()
    missing = [i for i, t in enumerate(groups) if _is_missing(t)]  # type: ignore[union-attr]
    if missing:
        raise ValueError(
            f"groups has missing labels (None or NaN) at positions {missing}; give every "
            "study a subgroup or leave those studies out"
        )
    g = [str(t) for t in groups]  # type: ignore[union-attr]
    k = same_length(yi=y, vi=v, groups=np.zeros(len(g)))
    require_finite("yi", y)
    require_finite("vi", v)
    levels = tuple(sorted(set(g)))
    if len(levels) < 2:
        raise ValueError("subgroup analysis needs at least two subgroups")
    member = np.array(g)
    pooled = tuple(
        rma(
            y[member == lv],
            v[member == lv],
            method=method,
            test=test,
            level=level,
            measure=measure,
            studies=[s for s, gi in zip(labels, g, strict=True) if gi == lv],
            control=control,
        )
        for lv in levels
    )
    est = np.array([p.estimate for p in pooled])
    var = np.array([p.se**2 for p in pooled])
    with np.errstate(divide="ignore", invalid="ignore"):  # a zero SE gives a null, with a note
        w = 1 / var
        mean = np.sum(w * est) / np.sum(w)
        q_between = float(np.sum(w * (est - mean) ** 2))
    q_df = len(levels) - 1

    model: MetaRegressionResult | None = None
    if k > len(levels):
        x = np.column_stack([np.ones(k)] + [(member == lv).astype(float) for lv in levels[1:]])
        fit = rma_uni(y, v, x, method=method, test=test, level=level, control=control)
        names = ("intercept", *(f"{moderator}={lv}" for lv in levels[1:]))
        model = model_result(fit, x, names, y, v, control)
    return SubgroupResult(
        moderator=moderator,
        levels=levels,
        groups=pooled,
        q_between=q_between,
        q_between_df=q_df,
        q_between_pval=float(chdtrc(q_df, q_between)),
        moderator_model=model,
    )
