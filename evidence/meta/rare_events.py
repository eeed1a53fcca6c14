"""Pools for rare events: Peto's one-step odds ratio (metafor's rma.peto) and the binomial-normal
GLMMs of rma.glmm (measure "OR", models UM.FS and UM.RS).

Both work on the raw 2x2 tables, so neither needs a zero-cell correction for its estimate; the
correction only enters the per-study yi/vi that metafor reports beside the pool and uses for
I^2 in the GLMM.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.polynomial.hermite import hermgauss
from scipy import optimize, stats
from scipy.special import expit, gammaln

from evidence.meta._util import ArrayLike, FloatArray, check_level
from evidence.meta.effect_sizes import escalc, peto_parts, table_cells
from evidence.meta.fit import fixed_effect_result
from evidence.meta.results import EffectSizes, PooledResult

_tables = table_cells  # the earlier private name, still used by tests/meta/test_rare_events.py


def rma_peto(
    events_treat: ArrayLike,
    n_treat: ArrayLike,
    events_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    *,
    studies: ArrayLike | None = None,
    level: float = 0.95,
) -> PooledResult:
    """Peto's fixed-effect log odds ratio, equal to metafor's rma.peto.

    Each table adds its observed minus expected events (O - E) and hypergeometric variance V;
    the pool is sum(O - E) / sum(V) with SE 1 / sqrt(sum(V)). Double-zero tables have V = 0 and
    add nothing; they are left out of Q's degrees of freedom, as rma.peto does.
    """
    level = check_level(level)
    cols = {
        "events_treat": events_treat,
        "n_treat": n_treat,
        "events_ctrl": events_ctrl,
        "n_ctrl": n_ctrl,
    }
    es_all = escalc("PETO", studies=studies, **cols)
    es_q = escalc("PETO", studies=studies, drop00=True, **cols)
    if es_all.k == 0:
        raise ValueError("no studies to pool (k = 0)")
    o_e, var = peto_parts(*table_cells(es_all))
    total = float(var.sum())
    if total == 0:
        raise ValueError(
            "Peto's method is undefined: one of the two outcomes occurs in none of the tables"
        )
    est = float(o_e.sum() / total)
    se = float(1 / np.sqrt(total))

    pos = var > 0
    k_yi = es_q.k
    q = q_df = q_pval = i2 = h2 = None
    notes: tuple[str, ...] = ()
    if int(pos.sum()) > 1:
        q = float(max(0.0, np.sum(o_e[pos] ** 2 / var[pos]) - o_e.sum() ** 2 / total))
        q_df = k_yi - 1
        q_pval = float(stats.chi2.sf(q, q_df))
        i2 = max(0.0, 100 * (q - q_df) / q) if q > 0 else 0.0
        h2 = q / q_df
    else:
        notes += ("fewer than two informative tables: no heterogeneity statistics",)
    if k_yi < es_all.k:
        notes += (f"Q uses {k_yi} of {es_all.k} tables (double-zero tables add nothing)",)
    heterogeneity = (q, q_df, q_pval, i2, h2)
    return fixed_effect_result("PETO", "PETO", level, es_all, est, se, heterogeneity, var, notes)


def rma_peto_es(es: EffectSizes, *, level: float = 0.95) -> PooledResult:
    """`rma_peto` on the raw 2x2 tables that an OR (or PETO) EffectSizes keeps."""
    if es.tables is None or es.measure not in ("OR", "PETO"):
        raise ValueError("method='PETO' needs odds-ratio effect sizes built from 2x2 data")
    if es.dropped:
        raise ValueError("method='PETO' needs all tables; build the effect sizes without drop00")
    a, b, c, d = table_cells(es)
    return rma_peto(a, a + b, c, c + d, studies=es.studies, level=level)


# ---------------------------------------------------------------- binomial-normal GLMM


@dataclass(frozen=True)
class GlmmResult(PooledResult):
    """A binomial-normal GLMM pool (metafor's rma.glmm, measure "OR").

    The PooledResult fields hold the log odds ratio, its Wald test and interval, tau^2 and
    metafor's I^2/H^2 (tau^2 against the typical within-study variance of the escalc log odds
    ratios). `q` is the Wald heterogeneity test of the saturated model (None when a zero cell
    makes a study's own odds ratio infinite); `qe_lrt` is the likelihood-ratio test of the
    fixed-effect model against the saturated one, both on k - 1 df. `loglik` is the maximised
    (quadrature-approximated) log-likelihood including the binomial coefficients.
    """

    model: str = "UM.FS"
    n_agq: int = 7
    qe_lrt: float | None = None
    qe_lrt_pval: float | None = None
    loglik: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            model=self.model,
            n_agq=self.n_agq,
            qe_lrt=self.qe_lrt,
            qe_lrt_pval=self.qe_lrt_pval,
            loglik=self.loglik,
        )
        return out


def _log_binom(x: FloatArray, n: FloatArray) -> FloatArray:
    return np.asarray(gammaln(n + 1) - gammaln(x + 1) - gammaln(n - x + 1), dtype=float)


class _FixedStudyModel:
    """Log-likelihood of the UM.FS model, one study per row, by adaptive Gauss-Hermite quadrature.

    Study i has logit(p_treat) = alpha_i + beta + theta*u/2 and logit(p_ctrl) = alpha_i -
    theta*u/2 with u ~ N(0, 1) (lme4's +-1/2 coding of the random treatment effect, so
    tau^2 = theta^2). The quadrature is centred at the mode of u and scaled by the curvature
    there, as glmer's nAGQ > 1 does.
    """

    def __init__(self, x1: FloatArray, n1: FloatArray, x2: FloatArray, n2: FloatArray, n_agq: int):
        self.x1, self.n1, self.x2, self.n2 = x1, n1, x2, n2
        nodes, weights = hermgauss(n_agq)
        self.t = nodes
        self.log_w = np.log(weights) + nodes**2
        self.const = float(np.sum(_log_binom(x1, n1) + _log_binom(x2, n2)))

    def _g(self, u: FloatArray, alpha: FloatArray, beta: float, theta: float) -> FloatArray:
        """Log of the integrand (binomial kernels times the N(0,1) kernel) at u."""
        eta1 = alpha + beta + theta * u / 2
        eta2 = alpha - theta * u / 2
        return np.asarray(
            self.x1 * eta1
            - self.n1 * np.logaddexp(0, eta1)
            + self.x2 * eta2
            - self.n2 * np.logaddexp(0, eta2)
            - u**2 / 2,
            dtype=float,
        )

    def _mode(self, alpha: FloatArray, beta: float, theta: float) -> tuple[FloatArray, FloatArray]:
        """The mode of u per study and the curvature -g'' there (Newton; g is concave)."""
        shape = np.broadcast(alpha, self.x1).shape
        u = np.zeros(shape)
        half = theta / 2
        for _ in range(100):
            p1 = expit(alpha + beta + half * u)
            p2 = expit(alpha - half * u)
            grad = half * (self.x1 - self.n1 * p1) - half * (self.x2 - self.n2 * p2) - u
            curv = half**2 * (self.n1 * p1 * (1 - p1) + self.n2 * p2 * (1 - p2)) + 1
            step = grad / curv
            u = u + step
            if np.max(np.abs(step)) < 1e-11:
                break
        p1 = expit(alpha + beta + half * u)
        p2 = expit(alpha - half * u)
        curv = half**2 * (self.n1 * p1 * (1 - p1) + self.n2 * p2 * (1 - p2)) + 1
        return u, curv

    def study_loglik(self, alpha: FloatArray, beta: float, theta: float) -> FloatArray:
        """Per-study log-likelihoods (without the binomial coefficients)."""
        u_hat, curv = self._mode(alpha, beta, theta)
        scale = np.sqrt(2 / curv)
        terms = [
            lw + self._g(u_hat + scale * t, alpha, beta, theta)
            for t, lw in zip(self.t, self.log_w, strict=True)
        ]
        return np.asarray(
            np.logaddexp.reduce(np.stack(terms), axis=0) + np.log(scale) - 0.5 * np.log(2 * np.pi),
            dtype=float,
        )

    def profile_alpha(self, beta: float, theta: float, start: FloatArray) -> FloatArray:
        """The study intercepts maximising the likelihood for given beta and theta.

        Studies are independent given (beta, theta), so all intercepts take Newton steps at
        once, with central-difference derivatives of each study's own log-likelihood.
        """
        alpha = start.copy()
        h = 1e-4
        for _ in range(100):
            f0 = self.study_loglik(alpha, beta, theta)
            fp = self.study_loglik(alpha + h, beta, theta)
            fm = self.study_loglik(alpha - h, beta, theta)
            d1 = (fp - fm) / (2 * h)
            d2 = (fp - 2 * f0 + fm) / h**2
            step = np.where(d2 < 0, -d1 / np.minimum(d2, -1e-12), np.sign(d1))
            step = np.clip(step, -2.0, 2.0)
            alpha = alpha + step
            if np.max(np.abs(step)) < 1e-9:  # the profile is flat in alpha: errors enter squared
                break
        return alpha

    def profile(self, beta: float, theta: float, start: FloatArray) -> tuple[float, FloatArray]:
        alpha = self.profile_alpha(beta, theta, start)
        return float(np.sum(self.study_loglik(alpha, beta, theta))), alpha


def _maximise(
    model: _FixedStudyModel, start: FloatArray, alpha0: FloatArray, fix_theta: bool
) -> tuple[FloatArray, FloatArray, float]:
    """Maximise the profile log-likelihood over (beta, theta) (or beta alone at theta = 0)."""
    cache = {"alpha": alpha0}

    def negll(par: FloatArray) -> float:
        beta, theta = float(par[0]), 0.0 if fix_theta else float(par[1])
        value, alpha = model.profile(beta, theta, cache["alpha"])
        cache["alpha"] = alpha
        return -value

    x0 = start[:1] if fix_theta else start
    res = optimize.minimize(
        negll,
        x0,
        method="Nelder-Mead",
        options={"xatol": 1e-5, "fatol": 1e-9, "maxiter": 5000, "maxfev": 10000},
    )
    par = np.asarray(res.x, dtype=float)
    # Newton steps on central differences take Nelder-Mead's rough optimum to 1e-10.
    for _ in range(20):
        grad, hess = _derivatives(negll, par, 1e-4)
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not np.all(np.isfinite(step)) or np.max(np.abs(step)) > 0.1:
            break
        par = par + step
        if np.max(np.abs(step)) < 1e-10:
            break
    value = -negll(par)
    return par, cache["alpha"], value


def _derivatives(fn: Any, par: FloatArray, h: float) -> tuple[FloatArray, FloatArray]:
    """Central-difference gradient and Hessian of fn at par."""
    m = len(par)
    f0 = fn(par)
    grad = np.zeros(m)
    hess = np.zeros((m, m))
    eye = np.eye(m) * h
    for i in range(m):
        fp, fm = fn(par + eye[i]), fn(par - eye[i])
        grad[i] = (fp - fm) / (2 * h)
        hess[i, i] = (fp - 2 * f0 + fm) / h**2
        for j in range(i):
            fpp = fn(par + eye[i] + eye[j])
            fpm = fn(par + eye[i] - eye[j])
            fmp = fn(par - eye[i] + eye[j])
            fmm = fn(par - eye[i] - eye[j])
            hess[i, j] = hess[j, i] = (fpp - fpm - fmp + fmm) / (4 * h**2)
    return grad, hess


def _saturated_loglik(x: FloatArray, n: FloatArray) -> float:
    """Binomial log-likelihood at the observed proportions (0 log 0 = 0)."""
    p = x / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = _log_binom(x, n) + np.where(x > 0, x * np.log(p), 0.0)
        ll = ll + np.where(n - x > 0, (n - x) * np.log1p(-p), 0.0)
    return float(ll.sum())


def rma_glmm(
    events_treat: ArrayLike,
    n_treat: ArrayLike,
    events_ctrl: ArrayLike,
    n_ctrl: ArrayLike,
    *,
    studies: ArrayLike | None = None,
    level: float = 0.95,
    n_agq: int = 7,
) -> GlmmResult:
    """Random-effects log odds ratio from the binomial-normal GLMM with fixed study intercepts.

    This is metafor's rma.glmm(measure="OR") default, model "UM.FS": each study has its own
    fixed baseline log odds, the treatment log odds ratio varies between studies as
    N(beta, tau^2), and the likelihood is integrated by adaptive Gauss-Hermite quadrature with
    `n_agq` nodes (7, as metafor asks lme4::glmer for). Fitted by maximum likelihood: the study
    intercepts are profiled out and (beta, tau) maximised. The SE of beta comes from the
    curvature of the likelihood in (beta, tau, intercepts), as lme4's vcov does. Tables with no
    events (or only events) in both arms carry no information on the odds ratio and are left
    out, as rma.glmm does by default.
    """
    level = check_level(level)
    if n_agq < 1:
        raise ValueError(f"n_agq must be >= 1, got {n_agq}")
    cols = {
        "events_treat": events_treat,
        "n_treat": n_treat,
        "events_ctrl": events_ctrl,
        "n_ctrl": n_ctrl,
    }
    es = escalc("OR", studies=studies, drop00=True, **cols)
    if es.k < 2:
        raise ValueError(
            f"the GLMM needs at least 2 tables with events and non-events (k = {es.k})"
        )
    a, b, c, d = table_cells(es)
    n1, n2 = a + b, c + d
    model = _FixedStudyModel(a, n1, c, n2, n_agq)
    yi, vi = np.asarray(es.yi), np.asarray(es.vi)
    w = 1 / vi
    beta0 = float(np.sum(w * yi) / w.sum())
    alpha0 = np.log((c + 0.5) / (d + 0.5))

    fe_par, fe_alpha, ll_fe = _maximise(model, np.array([beta0]), alpha0, fix_theta=True)
    par, alpha, ll = _maximise(model, np.array([float(fe_par[0]), 0.5]), fe_alpha, fix_theta=False)
    beta, theta = float(par[0]), abs(float(par[1]))

    def negll(p: FloatArray) -> float:
        return -model.profile(float(p[0]), float(p[1]), alpha)[0]

    _, hess = _derivatives(negll, np.array([beta, theta]), 1e-4)
    notes: tuple[str, ...] = ()
    try:
        var_beta = float(np.linalg.inv(hess)[0, 0])
    except np.linalg.LinAlgError:
        var_beta = float("nan")
    if not np.isfinite(var_beta) or var_beta <= 0:
        raise ValueError("the GLMM's information matrix is not positive definite at the optimum")
    se = float(np.sqrt(var_beta))
    z = beta / se
    crit = float(stats.norm.ppf(0.5 + level / 2))
    tau2 = theta**2

    k = es.k
    vt = (k - 1) / float(w.sum() - np.sum(w**2) / w.sum())
    ll_sat = _saturated_loglik(np.concatenate([a, c]), np.concatenate([n1, n2]))
    qe_lrt = max(0.0, -2 * (ll_fe + model.const - ll_sat))
    qe_wald: float | None = None
    if np.all(np.stack([a, b, c, d]) > 0):
        raw = escalc("OR", studies=studies, drop00=True, to="none", **cols)
        y_raw, w_raw = np.asarray(raw.yi), 1 / np.asarray(raw.vi)
        qe_wald = float(
            max(0.0, np.sum(w_raw * (y_raw - np.sum(w_raw * y_raw) / w_raw.sum()) ** 2))
        )
    else:
        notes += ("zero cells make some studies' own odds ratios infinite: no Wald Q",)
    w_re = 1 / (vi + tau2)
    notes += ("weights are approximate: 1/(vi + tau^2) of the escalc log odds ratios",)
    if es.dropped:
        notes += (f"{len(es.dropped)} double-zero table(s) left out: {list(es.dropped)}",)
    return GlmmResult(
        measure="OR",
        method="GLMM",
        test="z",
        level=level,
        k=k,
        estimate=beta,
        se=se,
        ci_low=beta - crit * se,
        ci_high=beta + crit * se,
        stat=z,
        pval=float(2 * stats.norm.sf(abs(z))),
        df=None,
        q=qe_wald,
        q_df=k - 1,
        q_pval=None if qe_wald is None else float(stats.chi2.sf(qe_wald, k - 1)),
        tau2=tau2,
        i2=100 * tau2 / (vt + tau2),
        h2=tau2 / vt + 1,
        pi_low=None,
        pi_high=None,
        studies=es.studies,
        yi=es.yi,
        vi=es.vi,
        weights=tuple(float(t) for t in 100 * w_re / w_re.sum()),
        tau2_algorithm="ML",
        notes=notes,
        model="UM.FS",
        n_agq=n_agq,
        qe_lrt=qe_lrt,
        qe_lrt_pval=float(stats.chi2.sf(qe_lrt, k - 1)),
        loglik=ll + model.const,
    )


def glmm_extra(es: EffectSizes, pooled: PooledResult, options: dict[str, Any]) -> dict[str, Any]:
    """`evidence meta --also glmm`: the UM.FS GLMM on the same 2x2 tables as the main pool."""
    if es.tables is None:
        raise ValueError("--also glmm needs binary data (events and n per arm)")
    a, b, c, d = table_cells(es)
    res = rma_glmm(a, a + b, c, c + d, studies=es.studies, level=float(options["level"]))
    return res.to_dict()
