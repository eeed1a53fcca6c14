"""Pooling per indication × outcome × dose tier, from the tabulated arm-level rows.

Arms are paired within a study at the latest timepoint both roles report. Several drug arms of
one study are combined for the overall pool (events and n summed; means and SDs combined as for
merged groups) and kept apart by tier for the tier subgroups, so no control arm counts twice in
one pool. An SD computed from a printed SE marks the comparison as derived.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evidence.meta.bias import NotComputable, egger_test
from evidence.meta.effect_sizes import escalc
from evidence.meta.fit import rma
from evidence.meta.results import EffectSizes, PooledResult
from evidence.meta.subgroup import subgroup_analysis
from evidence.protocol import OutcomeSpec, Protocol

BINARY = {"RR", "OR", "RD"}
CONTINUOUS = {"MD", "SMD"}
SINGLE = {"PLO", "PR"}
ALL_TIERS = "all"
EGGER_MIN_K = 10  # Egger's test is not run on fewer studies
UNTIERED = {"unknown", "mixed", "not_tiered"}


@dataclass(frozen=True)
class Analysis:
    """One pooled analysis and the comparisons it pooled."""

    indication: str
    outcome: OutcomeSpec
    tier: str
    analysis: str  # 'primary' | 'excluding_derived'
    result: PooledResult
    participants: int
    derived: int
    study_ids: tuple[str, ...]
    tier_test: tuple[float, int, float] | None = None  # Q between tiers, df, p
    egger_p: float | None = None
    control_risk: float | None = None  # pooled control-arm risk, for absolute effects
    years: tuple[int | None, ...] = ()
    egger_note: str = ""  # "not computable: <why>" when Egger's test could not be run
    comparison: str = ""
    comparison_label: str = ""


def egger(es: EffectSizes, method: str) -> tuple[float | None, str]:
    """Egger's p-value, or why it could not be computed: one diagnostic never stops a run."""
    try:
        return egger_test(es, model="rma", method=method).pval, ""
    except NotComputable as exc:
        return None, f"not computable: {exc.reason}"


def _latest(frame: pd.DataFrame) -> pd.DataFrame:
    tp = frame["timepoint_weeks"].astype("Float64").fillna(-1.0)
    return frame[tp == tp.max()]


def _combine_binary(rows: pd.DataFrame) -> tuple[int, int]:
    return int(rows["events"].sum()), int(rows["n"].sum())


def _sd(row: pd.Series) -> tuple[float, bool]:
    if not pd.isna(row["sd"]):
        return float(row["sd"]), False
    return float(row["se"]) * math.sqrt(float(row["n"])), True


def _combine_continuous(rows: pd.DataFrame) -> tuple[float, float, int, bool]:
    """Merge groups: pooled mean and the SD of the union (Cochrane Handbook, table 6.5.a)."""
    n_tot, mean, ss, derived = 0, 0.0, 0.0, False
    for _, r in rows.iterrows():
        n, m = int(r["n"]), float(r["mean"])
        s, d = _sd(r)
        derived |= d
        if n_tot == 0:
            n_tot, mean, ss = n, m, (n - 1) * s * s
            continue
        ss += (n - 1) * s * s + n_tot * n / (n_tot + n) * (mean - m) ** 2
        mean = (n_tot * mean + n * m) / (n_tot + n)
        n_tot += n
    return mean, math.sqrt(ss / (n_tot - 1)), n_tot, derived


def comparisons(tiered: pd.DataFrame, indication: str, outcome: str, measure: str) -> pd.DataFrame:
    """One row per study (overall, tier `all`) and per study × tier of its drug arms."""
    rows = tiered[(tiered["indication"] == indication) & (tiered["outcome"] == outcome)]
    if measure in BINARY:
        rows = rows[rows["events"].notna() & rows["n"].notna()]
    elif measure in CONTINUOUS:
        rows = rows[
            rows["mean"].notna() & rows["n"].notna() & (rows["sd"].notna() | rows["se"].notna())
        ]
        rows = rows[rows["n"] > 1]
    else:
        rows = rows[rows["events"].notna() & rows["n"].notna()]
    out: list[dict[str, object]] = []
    for study_id, grp in rows.groupby("study_id", sort=True):
        year = grp["year"].iloc[0]
        if measure in SINGLE:
            arms = _latest(grp[grp["arm_role"].isin(["treatment", "single"])])
            if arms.empty:
                continue
            for tier, sub in [(ALL_TIERS, arms), *arms.groupby("dose_tier", sort=True)]:
                ev, n = _combine_binary(sub)
                out.append(
                    {
                        "study_id": study_id,
                        "year": year,
                        "tier": tier,
                        "events": ev,
                        "n": n,
                        "derived": bool(sub["derived"].fillna(False).any()),
                    }
                )
            continue
        paired = grp[grp["arm_role"].isin(["treatment", "control"])]
        tps = paired.groupby(paired["timepoint_weeks"].astype("Float64").fillna(-1.0))[
            "arm_role"
        ].nunique()
        both = tps[tps == 2]
        if both.empty:
            continue
        tp = both.index.max()
        at = paired[paired["timepoint_weeks"].astype("Float64").fillna(-1.0) == tp]
        treat, ctrl = at[at["arm_role"] == "treatment"], at[at["arm_role"] == "control"]
        for tier, sub in [(ALL_TIERS, treat), *treat.groupby("dose_tier", sort=True)]:
            rec: dict[str, object] = {"study_id": study_id, "year": year, "tier": tier}
            derived = bool(
                sub["derived"].fillna(False).any() or ctrl["derived"].fillna(False).any()
            )
            if measure in BINARY:
                rec["events_treat"], rec["n_treat"] = _combine_binary(sub)
                rec["events_ctrl"], rec["n_ctrl"] = _combine_binary(ctrl)
            else:
                mt, st, nt, d1 = _combine_continuous(sub)
                mc, sc, nc, d2 = _combine_continuous(ctrl)
                rec |= {
                    "mean_treat": mt,
                    "sd_treat": st,
                    "n_treat": nt,
                    "mean_ctrl": mc,
                    "sd_ctrl": sc,
                    "n_ctrl": nc,
                }
                derived |= d1 or d2
            rec["derived"] = derived
            out.append(rec)
    return pd.DataFrame(out)


def effect_sizes(comp: pd.DataFrame, measure: str):
    ids = comp["study_id"].tolist()
    if measure in BINARY:
        return escalc(
            measure,
            events_treat=comp["events_treat"].to_numpy(float),
            n_treat=comp["n_treat"].to_numpy(float),
            events_ctrl=comp["events_ctrl"].to_numpy(float),
            n_ctrl=comp["n_ctrl"].to_numpy(float),
            studies=ids,
        )
    if measure in CONTINUOUS:
        return escalc(
            measure,
            mean_treat=comp["mean_treat"].to_numpy(float),
            sd_treat=comp["sd_treat"].to_numpy(float),
            n_treat=comp["n_treat"].to_numpy(float),
            mean_ctrl=comp["mean_ctrl"].to_numpy(float),
            sd_ctrl=comp["sd_ctrl"].to_numpy(float),
            n_ctrl=comp["n_ctrl"].to_numpy(float),
            studies=ids,
        )
    return escalc(
        measure, events=comp["events"].to_numpy(float), n=comp["n"].to_numpy(float), studies=ids
    )


def _participants(comp: pd.DataFrame, measure: str) -> int:
    if measure in SINGLE:
        return int(comp["n"].sum())
    return int(comp["n_treat"].sum() + comp["n_ctrl"].sum())


def pool_outcome(
    tiered: pd.DataFrame, protocol: Protocol, indication: str, spec: OutcomeSpec
) -> list[Analysis]:
    """Overall and per-tier pools of one outcome, plus the pool without derived values."""
    comp = comparisons(tiered, indication, spec.id, spec.measure)
    if comp.empty:
        return []
    method = protocol.rating.model.get("method", "REML")
    test = protocol.rating.model.get("test", "knha")
    out: list[Analysis] = []
    subsets: list[tuple[str, str, pd.DataFrame]] = []
    overall = comp[comp["tier"] == ALL_TIERS].sort_values(["year", "study_id"], na_position="last")
    subsets.append((ALL_TIERS, "primary", overall))
    for tier in sorted(set(comp["tier"]) - {ALL_TIERS}):
        subsets.append((tier, "primary", comp[comp["tier"] == tier].sort_values("study_id")))
    if overall["derived"].any():
        subsets.append((ALL_TIERS, "excluding_derived", overall[~overall["derived"]]))
    tiered_rows = comp[~comp["tier"].isin(UNTIERED | {ALL_TIERS})]
    tier_test = None
    if tiered_rows["tier"].nunique() >= 2 and len(tiered_rows) >= 3:
        es = effect_sizes(tiered_rows, spec.measure)
        sub_res = subgroup_analysis(
            es, groups=tiered_rows["tier"].tolist(), moderator="dose_tier", method=method
        )
        tier_test = (sub_res.q_between, sub_res.q_between_df, sub_res.q_between_pval)
    for tier, analysis, sub in subsets:
        if sub.empty:
            continue
        es = effect_sizes(sub, spec.measure)
        res = rma(es, method=method, test=test if len(sub) > 1 else "z")
        egger_p, egger_note = egger(es, method) if len(sub) >= EGGER_MIN_K else (None, "")
        first = tier == ALL_TIERS and analysis == "primary"
        risk = None
        if spec.measure in BINARY and sub["n_ctrl"].sum() > 0:
            risk = float(sub["events_ctrl"].sum() / sub["n_ctrl"].sum())
        years = tuple(None if pd.isna(y) else int(y) for y in sub["year"])
        out.append(
            Analysis(
                indication,
                spec,
                tier,
                analysis,
                res,
                _participants(sub, spec.measure),
                int(sub["derived"].sum()),
                tuple(sub["study_id"]),
                tier_test if first else None,
                egger_p,
                risk,
                years,
                egger_note,
            )
        )
    return out


def pool_protocol(tiered: pd.DataFrame, protocol: Protocol) -> list[Analysis]:
    out: list[Analysis] = []
    for ind in protocol.indications:
        for spec in ind.outcomes:
            out.extend(pool_outcome(tiered, protocol, ind.id, spec))
    return out


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else round(x, nd)


def analyses_frame(
    analyses: list[Analysis],
    certainty: dict[tuple, str] | None = None,
    refs: dict[str, str] | None = None,
) -> pd.DataFrame:
    """pooled.csv: one row per analysis; `refs` maps study ids to PMID/DOI references."""
    rows = []
    for a in analyses:
        r = a.result
        key = (a.indication, a.outcome.id, a.tier, a.analysis)
        rows.append(
            {
                "indication": a.indication,
                "outcome": a.outcome.id,
                "tier": a.tier,
                "analysis": a.analysis,
                "measure": r.measure,
                "method": r.method,
                "test": r.test,
                "k": r.k,
                "participants": a.participants,
                "derived_comparisons": a.derived,
                "estimate": _r(r.estimate),
                "ci_low": _r(r.ci_low),
                "ci_high": _r(r.ci_high),
                "pi_low": _r(r.pi_low),
                "pi_high": _r(r.pi_high),
                "exp_estimate": _r(r.exp_estimate),
                "exp_ci_low": _r(r.exp_ci_low),
                "exp_ci_high": _r(r.exp_ci_high),
                "pval": _r(r.pval, 8),
                "tau2": _r(r.tau2),
                "i2": _r(r.i2, 4),
                "q": _r(r.q),
                "q_pval": _r(r.q_pval, 8),
                "tier_test_q": _r(a.tier_test[0]) if a.tier_test else None,
                "tier_test_df": a.tier_test[1] if a.tier_test else None,
                "tier_test_p": _r(a.tier_test[2], 8) if a.tier_test else None,
                "egger_p": a.egger_note or _r(a.egger_p, 8),
                "certainty": (certainty or {}).get(key, ""),
                "studies": " ".join(a.study_ids),
                "sources": " ".join((refs or {}).get(s, s) for s in a.study_ids),
            }
        )
    cols = ["indication", "outcome", "tier", "analysis"]
    frame = pd.DataFrame(rows)
    return frame.sort_values(cols, kind="stable").reset_index(drop=True) if rows else frame
