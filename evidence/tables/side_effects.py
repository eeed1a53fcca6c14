"""Table 3: how often each side effect occurs on the drug, against placebo, and by dose.

Incidence is pooled on drug arms as logit proportions (random effects) and labelled by the
frequency bands of the rule set (CIOMS). Dose-dependence is a meta-regression of the logit
incidence on the arm's daily dose when at least three arms print one, else the dose-tier subgroup
test when two tiers have data, else "not assessable". When a row lists several outcomes, an arm
counts once, with the highest of its rates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evidence.meta.effect_sizes import escalc
from evidence.meta.fit import rma
from evidence.meta.regression import meta_regression
from evidence.meta.subgroup import subgroup_analysis
from evidence.protocol import Protocol, SideEffectRow
from evidence.rating.rules import RuleSet
from evidence.tables.common import source_refs

DRUG_ARMS = ("treatment", "single")


@dataclass(frozen=True)
class SideEffect:
    row: str
    outcomes: tuple[str, ...]
    arms: int
    studies: tuple[str, ...]
    participants: int
    incidence_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    band: str
    printed_pct: str
    rr: float | None
    rr_ci: tuple[float, float] | None
    rr_k: int
    dose_dependence: str


def band_of(pct: float, rules: RuleSet) -> str:
    for band in rules.frequency_bands:
        if pct >= float(band["min"]):
            return str(band["label"])
    return str(rules.frequency_bands[-1]["label"])


def _expit(x: float) -> float:
    return 100.0 / (1.0 + math.exp(-x))


def _dose_dependence(arms: pd.DataFrame, protocol: Protocol) -> str:
    fields = {spec.field for spec in protocol.dose_tiers.values()}
    dosed = arms.copy()
    dosed["dose"] = np.nan
    for f in sorted(fields):
        dosed["dose"] = dosed["dose"].fillna(dosed[f].astype("Float64").astype(float))
    dosed = dosed[dosed["dose"].notna()]
    if len(dosed) >= 3 and dosed["dose"].nunique() >= 2:
        es = escalc("PLO", events=dosed["events"].to_numpy(float), n=dosed["n"].to_numpy(float))
        fit = meta_regression(es, moderator=dosed["dose"].to_numpy(float), name="dose")
        slope = fit.coefficients[1]
        verdict = "dose-dependent" if slope.pval < 0.05 and slope.estimate > 0 else "no dose trend"
        return (
            f"{verdict}: logit slope {slope.estimate:.3f} per unit dose "
            f"(p = {slope.pval:.3f}, {len(dosed)} arms)"
        )
    tiers = arms[~arms["dose_tier"].isin(["unknown", "mixed", "not_tiered"])]
    if tiers["dose_tier"].nunique() >= 2 and len(tiers) >= 3:
        es = escalc("PLO", events=tiers["events"].to_numpy(float), n=tiers["n"].to_numpy(float))
        sub = subgroup_analysis(es, groups=tiers["dose_tier"].tolist(), moderator="dose_tier")
        verdict = "differs by dose tier" if sub.q_between_pval < 0.05 else "no difference by tier"
        return f"{verdict}: Q = {sub.q_between:.2f}, p = {sub.q_between_pval:.3f}"
    return f"not assessable: {len(dosed)} arms with a known daily dose"


def side_effect_row(
    spec: SideEffectRow, tiered: pd.DataFrame, protocol: Protocol, rules: RuleSet
) -> SideEffect:
    rows = tiered[tiered["outcome"].isin(spec.outcomes)]
    drug = rows[rows["arm_role"].isin(DRUG_ARMS)]
    counted = drug[drug["events"].notna() & drug["n"].notna()].copy()
    # Several listed outcomes of one arm are the same patients: keep the arm's highest rate.
    counted["rate"] = counted["events"].astype(float) / counted["n"].astype(float)
    counted = counted.sort_values(
        ["study_id", "arm", "rate", "outcome"], ascending=[True, True, False, True]
    ).drop_duplicates(["study_id", "arm"])
    printed = drug[drug["events"].isna() & drug["pct"].notna()]
    printed_txt = ", ".join(
        f"{p:g}% ({s})" for p, s in zip(printed["pct"], printed["study_id"], strict=True)
    )
    studies = tuple(sorted(set(rows["study_id"])))
    inc = lo = hi = None
    band = "not assessable"
    if not counted.empty:
        es = escalc(
            "PLO",
            events=counted["events"].to_numpy(float),
            n=counted["n"].to_numpy(float),
            studies=counted["study_id"].tolist(),
        )
        res = rma(es, method="REML")
        inc, lo, hi = _expit(res.estimate), _expit(res.ci_low), _expit(res.ci_high)
        band = band_of(inc, rules)
    elif not printed.empty:
        band = band_of(float(printed["pct"].median()), rules) + " (printed percentages only)"
    rr = rr_ci = None
    rr_k = 0
    pairs = []
    for sid, grp in rows[rows["comparator"] == "placebo"].groupby("study_id", sort=True):
        t = grp[(grp["arm_role"] == "treatment") & grp["events"].notna() & grp["n"].notna()]
        c = grp[(grp["arm_role"] == "control") & grp["events"].notna() & grp["n"].notna()]
        if not t.empty and not c.empty:
            pairs.append((sid, t["events"].sum(), t["n"].sum(), c["events"].sum(), c["n"].sum()))
    if pairs:
        a = np.array([p[1:] for p in pairs], dtype=float)
        es = escalc(
            "RR",
            events_treat=a[:, 0],
            n_treat=a[:, 1],
            events_ctrl=a[:, 2],
            n_ctrl=a[:, 3],
            studies=[p[0] for p in pairs],
        )
        res = rma(es, method="REML")
        rr, rr_ci, rr_k = (
            math.exp(res.estimate),
            (math.exp(res.ci_low), math.exp(res.ci_high)),
            res.k,
        )
    dose = _dose_dependence(counted, protocol) if not counted.empty else "not assessable: no counts"
    return SideEffect(
        spec.row,
        tuple(spec.outcomes),
        len(counted),
        studies,
        int(counted["n"].sum()) if not counted.empty else 0,
        inc,
        lo,
        hi,
        band,
        printed_txt,
        rr,
        rr_ci,
        rr_k,
        dose,
    )


def side_effects_frame(
    tiered: pd.DataFrame, refs: dict[str, str], protocol: Protocol, rules: RuleSet
) -> tuple[pd.DataFrame, list[SideEffect]]:
    found = [side_effect_row(s, tiered, protocol, rules) for s in protocol.side_effects]
    rows = []
    for s in found:
        rows.append(
            {
                "side_effect": s.row,
                "outcomes": " ".join(s.outcomes),
                "arms_with_counts": s.arms,
                "participants": s.participants,
                "incidence_pct": None if s.incidence_pct is None else round(s.incidence_pct, 2),
                "ci_low_pct": None if s.ci_low_pct is None else round(s.ci_low_pct, 2),
                "ci_high_pct": None if s.ci_high_pct is None else round(s.ci_high_pct, 2),
                "frequency": s.band,
                "printed_percentages": s.printed_pct,
                "rr_vs_placebo": None if s.rr is None else round(s.rr, 3),
                "rr_ci": "" if s.rr_ci is None else f"{s.rr_ci[0]:.2f}–{s.rr_ci[1]:.2f}",
                "rr_k": s.rr_k,
                "dose_dependence": s.dose_dependence,
                "sources": source_refs(refs, s.studies),
            }
        )
    return pd.DataFrame(rows), found
