"""Pools for rare events: Peto's one-step odds ratio (metafor's rma.peto) and the binomial-normal
GLMMs of rma.glmm (measure "OR", models UM.FS and UM.RS).

Both work on the raw 2x2 tables, so neither needs a zero-cell correction for its estimate; the
correction only enters the per-study yi/vi that metafor reports beside the pool and uses for
I^2 in the GLMM.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

from evidence.meta._util import ArrayLike, FloatArray
from evidence.meta.effect_sizes import escalc
from evidence.meta.results import EffectSizes, PooledResult


def _tables(es: EffectSizes) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    cells = np.array(es.tables, dtype=float).reshape(-1, 4)
    return cells[:, 0], cells[:, 1], cells[:, 2], cells[:, 3]


def _check_level(level: float) -> float:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95; got {level}")
    return float(level)


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
    level = _check_level(level)
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
    a, b, c, d = _tables(es_all)
    n1, n2 = a + b, c + d
    nn = n1 + n2
    events, non_events = a + c, b + d
    expected = events * n1 / nn
    var = events * non_events * (n1 / nn) * (n2 / nn) / (nn - 1)
    total = float(var.sum())
    if total == 0:
        raise ValueError(
            "Peto's method is undefined: one of the two outcomes occurs in none of the tables"
        )
    o_e = a - expected
    est = float(o_e.sum() / total)
    se = float(1 / np.sqrt(total))
    z = est / se
    crit = float(stats.norm.ppf(0.5 + level / 2))

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
    return PooledResult(
        measure="PETO",
        method="PETO",
        test="z",
        level=level,
        k=es_all.k,
        estimate=est,
        se=se,
        ci_low=est - crit * se,
        ci_high=est + crit * se,
        stat=z,
        pval=float(2 * stats.norm.sf(abs(z))),
        df=None,
        q=q,
        q_df=q_df,
        q_pval=q_pval,
        tau2=None,
        i2=i2,
        h2=h2,
        pi_low=None,
        pi_high=None,
        studies=es_all.studies,
        yi=es_all.yi,
        vi=es_all.vi,
        weights=tuple(float(t) for t in 100 * var / total),
        notes=notes,
    )


def rma_peto_es(es: EffectSizes, *, level: float = 0.95) -> PooledResult:
    """`rma_peto` on the raw 2x2 tables that an OR (or PETO) EffectSizes keeps."""
    if es.tables is None or es.measure not in ("OR", "PETO"):
        raise ValueError("method='PETO' needs odds-ratio effect sizes built from 2x2 data")
    if es.dropped:
        raise ValueError("method='PETO' needs all tables; build the effect sizes without drop00")
    a, b, c, d = _tables(es)
    return rma_peto(a, a + b, c, c + d, studies=es.studies, level=level)
