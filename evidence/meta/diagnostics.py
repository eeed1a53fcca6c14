"""Which studies drive the result: metafor's influence() and baujat() for rma.uni models.

Every diagnostic compares the full fit with the fit that leaves study i out (a full refit by
`rma_uni`, its own tau^2 included), as metafor 3.8-1 does:

- rstudent: the study's deviation from the prediction of the fit without it, over its SE
  (its sampling variance, the deleted tau^2 and the deleted prediction's variance; under
  Knapp-Hartung the variances are scaled by the deleted fit's s^2_w);
- DFFITS, DFBETAS: change in the fitted value / coefficients, standardised with the deleted
  tau^2 (and s^2_w);
- Cook's distance: the coefficient change in the metric of the full fit's covariance;
- covariance ratio: det Var(b without i) / det Var(b);
- tau^2(-i), QE(-i), hat values (by formula, without the k x k hat matrix) and weights (%).

A study is flagged influential when |DFFITS| > 3 sqrt(p / (k - p)), the chi-square(p) cdf of
its Cook's distance exceeds 0.5, its hat value exceeds 3 p / k, or any |DFBETAS| > 1 (metafor's
cut-offs; it shows rstudent and the covariance ratio without cut-offs).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from evidence.meta._util import ArrayLike, FloatArray, design_matrix
from evidence.meta.fit import UniFit, _unpack, rma_uni
from evidence.meta.results import EffectSizes
from evidence.meta.tau2 import ConvergenceError, Tau2Control

if TYPE_CHECKING:
    import pandas as pd

_EPS = float(np.finfo(float).eps)
METRICS = ("rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "qe_del", "hat", "weight")


@dataclass(frozen=True)
class InfluenceResult:
    """Per-study influence diagnostics; a value is None where the refit without the study failed.

    `dfbetas[i][j]` is study i's DFBETAS for coefficient `coefficients[j]`. The cut-offs used for
    `influential` are stored with the result.
    """

    method: str
    test: str
    k: int
    p: int
    studies: tuple[str, ...]
    coefficients: tuple[str, ...]
    rstudent: tuple[float | None, ...]
    dffits: tuple[float | None, ...]
    cook_d: tuple[float | None, ...]
    cov_r: tuple[float | None, ...]
    tau2_del: tuple[float | None, ...]
    qe_del: tuple[float | None, ...]
    hat: tuple[float, ...]
    weight: tuple[float, ...]
    dfbetas: tuple[tuple[float | None, ...], ...]
    influential: tuple[bool, ...]
    dffits_cutoff: float
    hat_cutoff: float
    cook_cdf_cutoff: float = 0.5
    dfbetas_cutoff: float = 1.0
    notes: tuple[str, ...] = ()

    def rows(self) -> list[dict[str, Any]]:
        rows = []
        for i, study in enumerate(self.studies):
            row: dict[str, Any] = {"study": study}
            for name in METRICS:
                row[name] = getattr(self, name)[i]
            for name, value in zip(self.coefficients, self.dfbetas[i], strict=True):
                row[f"dfbetas_{name}"] = value
            row["influential"] = self.influential[i]
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "test": self.test,
            "k": self.k,
            "p": self.p,
            "coefficients": list(self.coefficients),
            "cutoffs": {
                "abs_dffits": self.dffits_cutoff,
                "cook_d_chi2_cdf": self.cook_cdf_cutoff,
                "hat": self.hat_cutoff,
                "abs_dfbetas": self.dfbetas_cutoff,
            },
            "rows": self.rows(),
            "notes": list(self.notes),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per study."""
        import pandas as pd

        return pd.DataFrame(self.rows())


@dataclass(frozen=True)
class BaujatPoints:
    """Baujat plot coordinates: x = the study's contribution to (residual) heterogeneity, its
    squared Pearson residual; y = its influence on the fitted value, the squared change of the
    prediction when it is left out over the deleted prediction's variance."""

    studies: tuple[str, ...]
    x: tuple[float, ...]
    y: tuple[float | None, ...]
    xlabel: str
    ylabel: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "xlabel": self.xlabel,
            "ylabel": self.ylabel,
            "points": [
                {"study": s, "x": x, "y": y}
                for s, x, y in zip(self.studies, self.x, self.y, strict=True)
            ],
        }

    def to_frame(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({"study": self.studies, "x": self.x, "y": self.y})


@dataclass(frozen=True)
class _Model:
    y: FloatArray
    v: FloatArray
    x: FloatArray
    names: tuple[str, ...]
    labels: tuple[str, ...]
    fit: UniFit
    deleted: tuple[UniFit | None, ...]
    notes: tuple[str, ...]


def _s2w(fit: UniFit, y: FloatArray, v: FloatArray, x: FloatArray) -> float:
    """The Knapp-Hartung scale of a fit (1 under the z test), as rma_uni applies it to vb."""
    if fit.test == "z":
        return 1.0
    resid = y - x @ fit.beta
    rss = float(np.sum(resid * resid / (v + fit.tau2)))
    s2w = 0.0 if rss <= _EPS else rss / (fit.k - fit.p)
    return max(1.0, s2w) if fit.test == "adhoc" else s2w


def hat_values(v: FloatArray, x: FloatArray, tau2: float) -> FloatArray:
    """diag of X (X'WX)^-1 X'W with W = diag(1/(v + tau^2)), row by row: w_i x_i'(X'WX)^-1 x_i.

    For the intercept-only model this is w_i / sum(w). Values within 10 eps of 1 become 1.
    """
    w = 1.0 / (v + tau2)
    inv = np.linalg.inv(x.T @ (x * w[:, None]))
    hat = w * np.einsum("ij,jk,ik->i", x, inv, x)
    hat[hat > 1 - 10 * _EPS] = 1.0
    return hat


def _model(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None,
    mods: ArrayLike | None,
    mod_names: Sequence[str] | None,
    studies: ArrayLike | None,
    method: str,
    test: str,
    level: float,
    control: Tau2Control | None,
) -> _Model:
    y, v, _, labels = _unpack(yi, vi, None, studies)
    k = len(y)
    if k < 2:
        raise ValueError(f"influence diagnostics need at least 2 studies, got {k}")
    x, names = design_matrix(k, mods, mod_names)
    fit = rma_uni(y, v, x, method=method, test=test, level=level, control=control)
    deleted: list[UniFit | None] = []
    notes: list[str] = []
    for i in range(k):
        keep = np.arange(k) != i
        try:
            refit = rma_uni(
                y[keep], v[keep], x[keep], method=method, test=test, level=level, control=control
            )
            deleted.append(refit)
        except (ValueError, ConvergenceError, np.linalg.LinAlgError) as exc:
            deleted.append(None)
            notes.append(f"{labels[i]}: the fit without this study failed ({exc})")
    return _Model(y, v, x, names, labels, fit, tuple(deleted), tuple(notes))


def influence(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    mods: ArrayLike | None = None,
    mod_names: Sequence[str] | None = None,
    studies: ArrayLike | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: Tau2Control | None = None,
) -> InfluenceResult:
    """Case-deletion diagnostics of rma(yi, vi, mods, method, test), as metafor's influence()."""
    m = _model(yi, vi, mods, mod_names, studies, method, test, level, control)
    y, v, x, fit = m.y, m.v, m.x, m.fit
    k, p = x.shape
    pred_full = x @ fit.beta
    vb_inv = np.linalg.inv(fit.vb)
    det_vb = float(np.linalg.det(fit.vb))
    hat = hat_values(v, x, fit.tau2)
    rstudent: list[float | None] = []
    dffits: list[float | None] = []
    cook: list[float | None] = []
    covr: list[float | None] = []
    tau2_del: list[float | None] = []
    qe_del: list[float | None] = []
    dfbetas: list[tuple[float | None, ...]] = []
    for i, res in enumerate(m.deleted):
        if res is None:
            for col in (rstudent, dffits, cook, covr, tau2_del, qe_del):
                col.append(None)
            dfbetas.append((None,) * p)
            continue
        keep = np.arange(k) != i
        s2w = _s2w(res, y[keep], v[keep], x[keep])
        xi = x[i]
        delpred = float(xi @ res.beta)
        vdelpred = float(xi @ res.vb @ xi)
        t2 = res.tau2
        tau2_del.append(t2)
        qe_del.append(res.qe)
        dffits.append((pred_full[i] - delpred) / math.sqrt(s2w * hat[i] * (t2 + v[i])))
        w_del = 1.0 / (v + t2)
        vb_del = np.linalg.inv(x.T @ (x * w_del[:, None]))
        dfb = fit.beta - res.beta
        dfbetas.append(tuple(float(d) for d in dfb / np.sqrt(s2w * np.diag(vb_del))))
        cook.append(float(dfb @ vb_inv @ dfb))
        covr.append(float(np.linalg.det(res.vb)) / det_vb)
        resid = y[i] - delpred
        if abs(resid) < 100 * _EPS:
            resid = 0.0
        rstudent.append(resid / math.sqrt(v[i] * s2w + vdelpred + t2 * s2w))

    dffits_cut = 3 * math.sqrt(p / (k - p))
    hat_cut = 3 * p / k
    flags = []
    for i in range(k):
        d, c = dffits[i], cook[i]
        flags.append(
            bool(
                (d is not None and abs(d) > dffits_cut)
                or (c is not None and stats.chi2.cdf(c, p) > 0.5)
                or hat[i] > hat_cut
                or any(b is not None and abs(b) > 1 for b in dfbetas[i])
            )
        )
    return InfluenceResult(
        method=fit.method,
        test=fit.test,
        k=k,
        p=p,
        studies=m.labels,
        coefficients=m.names,
        rstudent=_floats(rstudent),
        dffits=_floats(dffits),
        cook_d=tuple(cook),
        cov_r=tuple(covr),
        tau2_del=tuple(tau2_del),
        qe_del=tuple(qe_del),
        hat=tuple(float(h) for h in hat),
        weight=tuple(float(w) for w in fit.weights),
        dfbetas=tuple(dfbetas),
        influential=tuple(flags),
        dffits_cutoff=dffits_cut,
        hat_cutoff=hat_cut,
        notes=m.notes,
    )


def baujat(
    yi: ArrayLike | EffectSizes,
    vi: ArrayLike | None = None,
    *,
    mods: ArrayLike | None = None,
    mod_names: Sequence[str] | None = None,
    studies: ArrayLike | None = None,
    method: str = "REML",
    test: str = "z",
    level: float = 0.95,
    control: Tau2Control | None = None,
) -> BaujatPoints:
    """The points of metafor's baujat(): heterogeneity contribution against influence."""
    m = _model(yi, vi, mods, mod_names, studies, method, test, level, control)
    y, v, x, fit = m.y, m.v, m.x, m.fit
    pred_full = x @ fit.beta
    xs = (y - pred_full) ** 2 / (fit.tau2 + v)
    ys: list[float | None] = []
    for i, res in enumerate(m.deleted):
        if res is None:
            ys.append(None)
            continue
        xi = x[i]
        ys.append(float((xi @ res.beta - pred_full[i]) ** 2 / (xi @ res.vb @ xi)))
    int_only = x.shape[1] == 1
    if fit.method == "FE":
        xlabel = f"Contribution to {'overall' if int_only else 'residual'} heterogeneity"
    else:
        xlabel = "Squared Pearson residual"
    ylabel = "Influence on overall result" if int_only else "Influence on fitted value"
    return BaujatPoints(m.labels, tuple(float(t) for t in xs), tuple(ys), xlabel, ylabel)


def _floats(values: list[float | None]) -> tuple[float | None, ...]:
    return tuple(None if t is None else float(t) for t in values)


def cli_influence(es: EffectSizes, pooled: Any, options: dict[str, Any]) -> dict[str, Any]:
    """`evidence meta --also influence`: diagnostics of the pooled model, one row per study."""
    method = str(options["method"]).upper()
    if method == "MH":
        return {"notes": ["influence diagnostics are available for FE, DL, PM and REML fits"]}
    if es.k < 2:
        return {"notes": [f"k = {es.k}: no influence diagnostics"]}
    result = influence(es, method=method, test=str(options["test"]), level=float(options["level"]))
    return result.to_dict()
