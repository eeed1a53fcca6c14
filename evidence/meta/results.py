"""Typed, immutable results of the meta-analysis functions.

Each result keeps plain floats and tuples (so it is hashable, picklable and JSON-friendly) and
offers `to_dict()` for serialisation and `to_frame()` for a tidy pandas table.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

from evidence.meta._util import json_safe, null_notes

# Measures analysed on the log scale, whose results are also reported exponentiated. The one
# list every module (reports, plots, ratings) asks; add a new log-scale measure here only.
RATIO_MEASURES = frozenset({"RR", "OR", "PETO", "IRR", "ROM"})


def _exp(x: float | None) -> float | None:
    if x is None:
        return None
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf


def safe_dict(out: dict[str, Any]) -> dict[str, Any]:
    """`out` made JSON-safe: non-finite numbers become None, each named in `notes`."""
    safe, replaced = json_safe(out)
    if replaced:
        safe["notes"] = [*(safe.get("notes") or []), *null_notes(replaced)]
    return safe


@dataclass(frozen=True)
class EffectSizes:
    """Per-study effect sizes (metafor's escalc output) on the analysis scale.

    `tables` keeps the uncorrected 2x2 counts (a, b, c, d) of binary data so Mantel-Haenszel
    pooling can work on the raw cells; `dropped` names studies excluded by `drop00`.
    """

    measure: str
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    studies: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    corrected: tuple[bool, ...] = ()
    tables: tuple[tuple[float, float, float, float], ...] | None = None

    @property
    def k(self) -> int:
        return len(self.yi)

    def to_dict(self) -> dict[str, Any]:
        return safe_dict(asdict(self))

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame(
            {
                "study": list(self.studies),
                "yi": list(self.yi),
                "vi": list(self.vi),
                "sei": [math.sqrt(v) for v in self.vi],
                "zero_corrected": list(self.corrected) or [False] * self.k,
            }
        )


@dataclass(frozen=True)
class PooledResult:
    """One pooled estimate: metafor's rma (or rma.mh) summary plus predict()'s interval.

    `stat` is the z or t statistic (`df` is set for t). Heterogeneity fields are None where
    they are undefined: k = 1, tau^2 for Mantel-Haenszel, the prediction interval for fixed-effect
    and Mantel-Haenszel pools. For the fixed-effect model tau^2 is 0 by assumption and I^2/H^2
    come from Q, as metafor reports them.
    """

    measure: str
    method: str
    test: str
    level: float
    k: int
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    stat: float
    pval: float
    df: float | None
    q: float | None
    q_df: int | None
    q_pval: float | None
    tau2: float | None
    i2: float | None
    h2: float | None
    pi_low: float | None
    pi_high: float | None
    studies: tuple[str, ...]
    yi: tuple[float, ...]
    vi: tuple[float, ...]
    weights: tuple[float, ...]
    tau2_algorithm: str | None = None
    tau2_iterations: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def tau(self) -> float | None:
        return None if self.tau2 is None else math.sqrt(self.tau2)

    @property
    def is_ratio(self) -> bool:
        return self.measure in RATIO_MEASURES

    @property
    def exp_estimate(self) -> float | None:
        return _exp(self.estimate) if self.is_ratio else None

    @property
    def exp_ci_low(self) -> float | None:
        return _exp(self.ci_low) if self.is_ratio else None

    @property
    def exp_ci_high(self) -> float | None:
        return _exp(self.ci_high) if self.is_ratio else None

    def to_dict(self) -> dict[str, Any]:
        """The summary on the analysis scale, with the keys the CLI prints."""
        out: dict[str, Any] = {
            "measure": self.measure,
            "method": self.method,
            "test": self.test,
            "level": self.level,
            "k": self.k,
            "estimate": self.estimate,
            "se": self.se,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "zval_or_tval": self.stat,
            "pval": self.pval,
            "df": self.df,
            "q": self.q,
            "q_df": self.q_df,
            "q_pval": self.q_pval,
            "tau2": self.tau2,
            "tau": self.tau,
            "i2": self.i2,
            "h2": self.h2,
            "pi_low": self.pi_low,
            "pi_high": self.pi_high,
            "tau2_algorithm": self.tau2_algorithm,
        }
        if self.is_ratio:
            out["exp_estimate"] = self.exp_estimate
            out["exp_ci_low"] = self.exp_ci_low
            out["exp_ci_high"] = self.exp_ci_high
        if self.notes:
            out["notes"] = list(self.notes)
        return safe_dict(out)

    def to_frame(self) -> pd.DataFrame:
        """One row per study (its own estimate, normal-theory CI and weight) plus the pool."""
        import pandas as pd
        from scipy.stats import norm

        crit = float(norm.ppf(0.5 + self.level / 2))
        rows = [
            {
                "term": s,
                "estimate": y,
                "se": math.sqrt(v),
                "ci_low": y - crit * math.sqrt(v),
                "ci_high": y + crit * math.sqrt(v),
                "weight": w,
            }
            for s, y, v, w in zip(self.studies, self.yi, self.vi, self.weights, strict=True)
        ]
        rows.append(
            {
                "term": "pooled",
                "estimate": self.estimate,
                "se": self.se,
                "ci_low": self.ci_low,
                "ci_high": self.ci_high,
                "weight": 100.0,
            }
        )
        frame = pd.DataFrame(rows)
        if self.is_ratio:
            for col in ("estimate", "ci_low", "ci_high"):
                frame[f"exp_{col}"] = frame[col].map(math.exp)
        return frame


@dataclass(frozen=True)
class Coefficient:
    """One model coefficient with its test and confidence interval."""

    name: str
    estimate: float
    se: float
    stat: float
    pval: float
    ci_low: float
    ci_high: float


@dataclass(frozen=True)
class MetaRegressionResult:
    """A mixed-effects meta-regression (metafor's rma with mods).

    `qm` is the omnibus test of the moderators: chi-square with `qm_df` under the z test, or
    F with (`qm_df`, `df`) under Knapp-Hartung. `qe` tests residual heterogeneity. `r2` is
    metafor's pseudo R^2 in percent: the proportional reduction of tau^2 against the
    intercept-only model, or for a fixed-effect model the weighted regression's adjusted R^2.
    """

    method: str
    test: str
    level: float
    k: int
    p: int
    coefficients: tuple[Coefficient, ...]
    df: float | None
    qm: float
    qm_df: int
    qm_pval: float
    qm_dist: str
    qe: float
    qe_df: int
    qe_pval: float
    tau2: float | None
    i2: float | None
    h2: float | None
    r2: float | None
    tau2_algorithm: str | None = None

    @property
    def tau(self) -> float | None:
        return None if self.tau2 is None else math.sqrt(self.tau2)

    def coefficient(self, name: str) -> Coefficient:
        for c in self.coefficients:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["tau"] = self.tau
        return safe_dict(out)

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([asdict(c) for c in self.coefficients])


@dataclass(frozen=True)
class SubgroupResult:
    """Pools per subgroup and two tests for subgroup differences.

    `q_between` is Cochran's Q across the separately pooled subgroup estimates (each subgroup
    with its own tau^2), i.e. metafor's rma(estimates, sei=ses, method="FE") QE.
    `moderator_model` is the mixed-effects model with the subgroup as a factor moderator and a
    common tau^2, whose `qm` is metafor's QM test.
    """

    moderator: str
    levels: tuple[str, ...]
    groups: tuple[PooledResult, ...]
    q_between: float
    q_between_df: int
    q_between_pval: float
    moderator_model: MetaRegressionResult | None

    def group(self, level: str) -> PooledResult:
        return self.groups[self.levels.index(level)]

    def to_dict(self) -> dict[str, Any]:
        return safe_dict(
            {
                "moderator": self.moderator,
                "levels": list(self.levels),
                "groups": {lv: g.to_dict() for lv, g in zip(self.levels, self.groups, strict=True)},
                "q_between": self.q_between,
                "q_between_df": self.q_between_df,
                "q_between_pval": self.q_between_pval,
                "moderator_model": (
                    None if self.moderator_model is None else self.moderator_model.to_dict()
                ),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        rows = []
        for lv, g in zip(self.levels, self.groups, strict=True):
            rows.append(
                {
                    self.moderator: lv,
                    "k": g.k,
                    "estimate": g.estimate,
                    "se": g.se,
                    "ci_low": g.ci_low,
                    "ci_high": g.ci_high,
                    "pval": g.pval,
                    "tau2": g.tau2,
                    "i2": g.i2,
                    "q": g.q,
                }
            )
        return pd.DataFrame(rows)


@dataclass(frozen=True)
class EggerResult:
    """Egger's regression test for funnel-plot asymmetry (metafor's regtest, predictor sei).

    `model="lm"` is the classical weighted regression (t with k-2 df); `model="rma"` is
    metafor's default mixed-effects meta-regression on the standard error. `limit_estimate` is
    the intercept: the effect expected for a study with SE -> 0.
    """

    model: str
    predictor: str
    method: str | None
    test: str
    k: int
    stat: float
    pval: float
    df: float | None
    limit_estimate: float
    limit_ci_low: float
    limit_ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return safe_dict(asdict(self))

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame([asdict(self)])


@dataclass(frozen=True)
class SequentialResult:
    """Repeated pools over changing study sets: leave-one-out or cumulative.

    `labels[i]` names the study left out (leave-one-out) or added last (cumulative) for
    `fits[i]`.
    """

    kind: str
    labels: tuple[str, ...]
    fits: tuple[PooledResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return safe_dict(
            {
                "kind": self.kind,
                "rows": [
                    {"study": lab, **fit.to_dict()}
                    for lab, fit in zip(self.labels, self.fits, strict=True)
                ],
            }
        )

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        cols = (
            "k", "estimate", "se", "zval_or_tval", "pval", "ci_low", "ci_high",
            "q", "q_pval", "tau2", "i2", "h2",
        )  # fmt: skip
        rows = []
        for lab, fit in zip(self.labels, self.fits, strict=True):
            d = fit.to_dict()
            rows.append({"study": lab, **{c: d[c] for c in cols}})
        return pd.DataFrame(rows)
