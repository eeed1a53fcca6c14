"""Pooling per indication × comparison × outcome × dose tier, from the tabulated arm rows.

Pools never cross comparisons (see `evidence.synthesis.comparisons`). Arms are paired within a
study at the latest timepoint both roles report. Several drug arms of one study are combined for the
overall pool (events and n summed; means and SDs combined as for merged groups) and kept apart
by tier for the tier subgroups, where a shared control group is split evenly between the tiers
(Cochrane Handbook 23.3.4), so no control participant counts twice in any pool or in the tier
test. Crossover trials count their participants once: without within-patient data their
marginal arms are analysed as paired with the protocol's assumed correlation (Handbook 23.2.7),
and a sensitivity analysis analyses them as parallel groups instead. An SD computed from a
printed SE marks the comparison as derived.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from evidence.inputs.protocol import CROSSOVER_DESIGNS, ComparisonSpec, OutcomeSpec, Protocol
from evidence.meta.bias import NotComputable, egger_test
from evidence.meta.effect_sizes import escalc
from evidence.meta.fit import rma, rma_mh
from evidence.meta.results import RATIO_MEASURES, EffectSizes, PooledResult, SequentialResult
from evidence.meta.subgroup import subgroup_analysis
from evidence.meta.tau2 import ConvergenceError
from evidence.synthesis.absolute_effects import ControlArm
from evidence.synthesis.comparisons import comparator_of

BINARY = {"RR", "OR", "RD"}
CONTINUOUS = {"MD", "SMD"}
SINGLE = {"PLO", "PR"}
ALL_TIERS = "all"
EGGER_MIN_K = 10  # Egger's test is not run on fewer studies
UNTIERED = {"unknown", "mixed", "not_tiered"}
# Sensitivity analyses, each named for what it tests.
PRIMARY = "primary"
EXCLUDING_DERIVED = "excluding_derived"
CROSSOVER_AS_PARALLEL = "crossover_as_parallel"
FIXED_EFFECT = "fixed_effect"  # Mantel-Haenszel for RR/OR from arm counts, else inverse variance
# Trials judged at high risk of bias overall left out (those with some concerns or no
# information stay): run for every pool holding such a trial.
EXCLUDING_HIGH_RISK = "excluding_high_risk"


@dataclass(frozen=True)
class ArmNumbers:
    """One arm of a study as pooled (a shared control already split between tiers): the forest
    plot's arm columns show these."""

    n: float
    events: float | None = None
    mean: float | None = None
    sd: float | None = None


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
    # Each study's comparator arm(s) with its comparator class: control risks for absolute
    # effects come only from the classes the rule set accepts (placebo, usual care).
    control_arms: tuple[ControlArm, ...] = ()
    # 2x2 tables (a, b, c, d) per study for the small-study tests of binary outcomes; None when
    # a study entered by its reported effect only. `sizes`: total participants per study.
    tables: tuple[tuple[float, float, float, float], ...] | None = None
    sizes: tuple[float, ...] | None = None
    # Per study: (drug arm, comparator arm), (the single arm,), or () for a reported effect.
    arm_numbers: tuple[tuple[ArmNumbers, ...], ...] = ()

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        """Identifies the analysis in a run: pools of two comparisons never share a key."""
        return (self.indication, self.comparison, self.outcome.id, self.tier, self.analysis)


@dataclass(frozen=True)
class NotEstimable:
    """A sensitivity analysis that leaves no study to pool, and why (a row of pooled.csv)."""

    indication: str
    outcome: OutcomeSpec
    tier: str
    analysis: str
    measure: str
    why: str
    comparison: str = ""
    comparison_label: str = ""

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.indication, self.comparison, self.outcome.id, self.tier, self.analysis)


def not_estimable(analyses: list[Analysis], high_risk: frozenset[str]) -> list[NotEstimable]:
    """The high-risk exclusion of every overall pool whose studies are all at high risk."""
    out = []
    for a in analyses:
        if (a.tier, a.analysis) != (ALL_TIERS, PRIMARY) or not high_risk:
            continue
        if a.study_ids and set(a.study_ids) <= high_risk:
            n = len(a.study_ids)
            out.append(
                NotEstimable(
                    a.indication,
                    a.outcome,
                    ALL_TIERS,
                    EXCLUDING_HIGH_RISK,
                    a.result.measure,
                    f"not estimable: {'the only study' if n == 1 else f'all {n} studies'} of the "
                    f"pool ({', '.join(a.study_ids)}) at high risk of bias; none left to pool",
                    a.comparison,
                    a.comparison_label,
                )
            )
    return out


def egger(es: EffectSizes, method: str) -> tuple[float | None, str]:
    """Egger's p-value, or why it could not be computed: one diagnostic never stops a run."""
    try:
        return egger_test(es, model="rma", method=method).pval, ""
    except NotComputable as exc:
        return None, f"not computable: {exc.reason}"
    except (ArithmeticError, ValueError, np.linalg.LinAlgError, ConvergenceError) as exc:
        return None, f"not computable: {exc}"


# A count derived from a printed percentage must give that percentage back to within this many
# percentage points (printed percentages are rounded; a wider gap means another denominator).
PCT_TOLERANCE = 0.5


def counts_from_percentages(rows: pd.DataFrame) -> pd.DataFrame:
    """Arm rows whose events are missing but whose percentage and n are printed get
    events = round(pct × n / 100), flagged derived with how; a count that does not give the
    printed percentage back (another denominator) is left missing."""
    if "pct" not in rows.columns or rows.empty:
        return rows
    pct = rows["pct"].astype("Float64")
    n = rows["n"].astype("Float64")
    todo = rows["events"].isna() & pct.notna() & n.notna() & (n > 0)
    if not todo.any():
        return rows
    out = rows.copy()
    events = (pct * n / 100).round()
    ok = todo & ((events / n * 100 - pct).abs() <= PCT_TOLERANCE)
    if "derived_how" not in out.columns:
        out["derived_how"] = pd.Series(pd.NA, index=out.index, dtype="object")
    out["derived_how"] = out["derived_how"].astype("object")
    for i in out.index[ok.fillna(False)]:
        ev = int(events[i])
        out.loc[i, "events"] = ev
        out.loc[i, "derived"] = True
        how = f"events = {float(pct[i]):g}% x {int(n[i])} = {ev} (not printed)"
        prior = out.loc[i, "derived_how"]
        out.loc[i, "derived_how"] = f"{prior}; {how}" if isinstance(prior, str) else how
    return out


Z95 = 1.959963984540054
RATIO = RATIO_MEASURES
GENERIC = {"RR", "OR", "MD", "SMD"}  # outcome measures a reported effect with a 95% CI can feed


def reported_effect_rows(
    effects: pd.DataFrame, indication: str, outcome: str, measure: str
) -> list[Row]:
    """Reported effects usable for generic inverse-variance pooling of one outcome.

    Only the outcome's own measure is taken (a hazard ratio never enters a risk-ratio pool; an
    effect printed as "RR vs non-users" compares something else): the measure text is exactly
    the measure, or the measure and a parenthesis. The 95% CI gives the SE (log scale for
    ratios), so the row is derived. A CI that does not contain its estimate, or a study with
    more than one such row for the outcome (which one?), is not used. Rows as dicts with
    `study_id`, `year`, `yi`, `vi`, `n_total`, `comparison`, `design` (those `effects` has).
    """
    if measure not in GENERIC or effects.empty:
        return []
    return reported_effects(effect_records(effects), indication, outcome, measure)


def effect_records(effects: pd.DataFrame) -> list[Row]:
    """The reported effects as dicts: what `reported_effects` reads, numbers coerced."""
    cols = [c for c in (*REPORTED_COLUMNS, "indication", "outcome", "measure") if c in effects]
    data = [effects[c].tolist() for c in cols]
    data += [pd.to_numeric(effects[c], errors="coerce").tolist() for c in REPORTED_NUMBERS]
    names = (*cols, *REPORTED_NUMBERS)
    return [dict(zip(names, values, strict=True)) for values in zip(*data, strict=True)]


def reported_effects(rows: list[Row], indication: str, outcome: str, measure: str) -> list[Row]:
    """`reported_effect_rows` from `effect_records`."""
    if measure not in GENERIC:
        return []
    ratio = measure in RATIO
    usable: list[Row] = []
    for r in rows:
        if r["indication"] != indication or r["outcome"] != outcome:
            continue
        text = "" if _na(r["measure"]) else str(r["measure"])
        if text != measure and not text.startswith(f"{measure} ("):
            continue
        est, lo, hi = r["estimate"], r["ci_low"], r["ci_high"]
        if _na(est) or _na(lo) or _na(hi) or not (lo < est < hi) or (ratio and not lo > 0):
            continue
        usable.append(r)
    per_study = Counter(r["study_id"] for r in usable if not _na(r["study_id"]))
    out: list[Row] = []
    for r in usable:
        if _na(r["study_id"]) or per_study[r["study_id"]] != 1:
            continue  # several usable rows: which one?
        est, lo, hi = r["estimate"], r["ci_low"], r["ci_high"]
        if ratio:
            yi, se = math.log(est), (math.log(hi) - math.log(lo)) / (2 * Z95)
        else:
            yi, se = est, (hi - lo) / (2 * Z95)
        kept = {c: r[c] for c in REPORTED_COLUMNS if c in r}
        out.append({**kept, "yi": float(yi), "vi": float(se * se)})
    return out


REPORTED_COLUMNS = ("study_id", "year", "n_total", "comparison", "design")
REPORTED_NUMBERS = ("estimate", "ci_low", "ci_high")


Row = dict[str, Any]
# The arm-row columns the comparisons read: rows become plain dicts of these once, so the
# per-study work below runs on Python values instead of many small DataFrame selections.
ARM_COLUMNS = (
    "study_id", "year", "design", "arm_role", "timepoint_weeks", "dose_tier", "derived",
    "events", "n", "mean", "sd", "se", "comparator",
)  # fmt: skip


def _na(x: object) -> bool:
    return x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x))


def _yes(x: object) -> bool:
    """A flag as `fillna(False)` reads it: missing is no."""
    return not _na(x) and bool(x)


def records(rows: pd.DataFrame, columns: tuple[str, ...] = ARM_COLUMNS) -> list[Row]:
    """The rows as dicts of Python values (pandas' missing values kept), in the frame's order."""
    cols = [c for c in columns if c in rows.columns]
    data = [rows[c].tolist() for c in cols]
    return [dict(zip(cols, vals, strict=True)) for vals in zip(*data, strict=True)]


def _timepoint(r: Row) -> float:
    tp = r.get("timepoint_weeks")
    return -1.0 if _na(tp) else float(tp)  # type: ignore[arg-type]


def _latest(rows: list[Row]) -> list[Row]:
    if not rows:
        return rows
    last = max(_timepoint(r) for r in rows)
    return [r for r in rows if _timepoint(r) == last]


def _by_tier(rows: list[Row]) -> list[tuple[str, list[Row]]]:
    """The rows per dose tier, tiers sorted, rows without a tier in none (as groupby does)."""
    out: dict[str, list[Row]] = {}
    for r in rows:
        t = r.get("dose_tier")
        if isinstance(t, str):
            out.setdefault(t, []).append(r)
    return sorted(out.items())


def _combine_binary(rows: list[Row]) -> tuple[int, int]:
    return int(sum(r["events"] for r in rows)), int(sum(r["n"] for r in rows))


def _sd(row: Row) -> tuple[float, bool]:
    if not _na(row["sd"]):
        return float(row["sd"]), False
    return float(row["se"]) * math.sqrt(float(row["n"])), True


def _merge_groups(rows: list[Row]) -> tuple[float, float, int, bool]:
    """Merge groups: pooled mean and the SD of the union (Cochrane Handbook, table 6.5.a)."""
    n_tot, mean, ss, derived = 0, 0.0, 0.0, False
    for r in rows:
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


def _combine_continuous(rows: pd.DataFrame) -> tuple[float, float, int, bool]:
    """`_merge_groups` of a frame's rows."""
    return _merge_groups(records(rows, ("n", "mean", "sd", "se")))


def _usable(r: Row, measure: str) -> bool:
    if measure in CONTINUOUS:
        if _na(r["mean"]) or _na(r["n"]) or (_na(r["sd"]) and _na(r["se"])):
            return False
        return bool(r["n"] > 1)
    return not _na(r["events"]) and not _na(r["n"])


def _with_counts(rows: pd.DataFrame, measure: str) -> pd.DataFrame:
    """The arm rows a measure reads: counts derived from percentages for counted measures."""
    return counts_from_percentages(rows) if measure in BINARY or measure in SINGLE else rows


def comparisons(
    tiered: pd.DataFrame,
    indication: str,
    outcome: str,
    measure: str,
    effects: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per study (overall, tier `all`) and per study × tier of its drug arms.

    In the tier rows a control group shared by drug arms of m tiers is split into m equal parts
    (events and n divided by m; means and SDs kept), so the tier subgroups together hold each
    control participant once. `crossover` marks trials whose arms are the same participants.
    """
    rows = tiered[(tiered["indication"] == indication) & (tiered["outcome"] == outcome)]
    reported = None
    if effects is not None and measure not in SINGLE:
        reported = reported_effect_rows(effects, indication, outcome, measure)
    return comparison_rows(records(_with_counts(rows, measure)), measure, reported)


def comparison_rows(
    arm_rows: list[Row], measure: str, reported: list[Row] | None = None
) -> pd.DataFrame:
    """`comparisons` from one outcome's arm rows (`records` of `_with_counts`) and its
    reported effects (`reported_effect_rows`)."""
    by_study: dict[str, list[Row]] = {}
    for r in arm_rows:
        if _usable(r, measure) and not _na(r["study_id"]):
            by_study.setdefault(r["study_id"], []).append(r)
    out: list[dict[str, object]] = []
    for study_id in sorted(by_study):
        grp = by_study[study_id]
        year = grp[0]["year"]
        crossover = any(r.get("design") in CROSSOVER_DESIGNS for r in grp)
        if measure in SINGLE:
            arms = _latest([r for r in grp if r["arm_role"] in ("treatment", "single")])
            if not arms:
                continue
            for tier, sub in [(ALL_TIERS, arms), *_by_tier(arms)]:
                ev, n = _combine_binary(sub)
                out.append(
                    {
                        "study_id": study_id,
                        "year": year,
                        "tier": tier,
                        "events": ev,
                        "n": n,
                        "derived": any(_yes(r["derived"]) for r in sub),
                        "crossover": crossover,
                    }
                )
            continue
        paired = [r for r in grp if r["arm_role"] in ("treatment", "control")]
        roles: dict[float, set[str]] = {}
        for r in paired:
            roles.setdefault(_timepoint(r), set()).add(r["arm_role"])
        both = [tp for tp, seen in roles.items() if len(seen) == 2]
        if not both:
            continue
        tp = max(both)
        at = [r for r in paired if _timepoint(r) == tp]
        treat = [r for r in at if r["arm_role"] == "treatment"]
        ctrl = [r for r in at if r["arm_role"] == "control"]
        by_tier = _by_tier(treat)
        ctrl_derived = any(_yes(r["derived"]) for r in ctrl)
        for tier, sub in [(ALL_TIERS, treat), *by_tier]:
            share = 1 if tier == ALL_TIERS else len(by_tier)
            rec: dict[str, object] = {
                "study_id": study_id,
                "year": year,
                "tier": tier,
                "crossover": crossover,
                "comparator": grp[0]["comparator"] if "comparator" in grp[0] else None,
            }
            derived = any(_yes(r["derived"]) for r in sub) or ctrl_derived
            if measure in BINARY:
                rec["events_treat"], rec["n_treat"] = _combine_binary(sub)
                ev, n = _combine_binary(ctrl)
                rec["events_ctrl"], rec["n_ctrl"] = ev / share, n / share
            else:
                mt, st, nt, d1 = _merge_groups(sub)
                mc, sc, nc, d2 = _merge_groups(ctrl)
                rec |= {
                    "mean_treat": mt,
                    "sd_treat": st,
                    "n_treat": nt,
                    "mean_ctrl": mc,
                    "sd_ctrl": sc,
                    "n_ctrl": nc / share,
                }
                derived |= d1 or d2
            rec["derived"] = derived
            out.append(rec)
    with_arms = {str(r["study_id"]) for r in out}
    if reported:
        for r in reported:
            if r["study_id"] in with_arms:
                continue  # arm data first: a study is counted once
            n = r.get("n_total")
            for tier in (ALL_TIERS, "unknown"):
                out.append(
                    {
                        "study_id": r["study_id"],
                        "year": r.get("year"),
                        "tier": tier,
                        "crossover": r.get("design") in CROSSOVER_DESIGNS,
                        "yi": r["yi"],
                        "vi": r["vi"],
                        "n_total": None if n is None or pd.isna(n) else float(n),
                        "derived": True,
                    }
                )
    return pd.DataFrame(out)


def effect_sizes(comp: pd.DataFrame, measure: str, correlation: float = 0.0) -> EffectSizes:
    """escalc on the comparisons; crossover trials' variances paired with `correlation`.

    For marginal arm data of the same participants, the paired variance is approximated by the
    parallel-group variance × (1 − r): exact for a mean difference with equal arm SEs
    (Handbook 23.2.7.2, SE² = SE_E² + SE_C² − 2r·SE_E·SE_C), and the same correlation-based
    adjustment for ratio measures (Elbourne et al. 2002). r = 0 is the parallel-group analysis.
    """
    es = _escalc_mixed(comp, measure)
    if correlation == 0.0 or "crossover" not in comp.columns or not comp["crossover"].any():
        return es
    factor = [(1.0 - correlation) if c else 1.0 for c in comp["crossover"].astype(bool)]
    return replace(es, vi=tuple(v * f for v, f in zip(es.vi, factor, strict=True)), tables=None)


def _escalc_mixed(comp: pd.DataFrame, measure: str) -> EffectSizes:
    """escalc on the arm rows, the reported effects' own yi and vi, in the rows' order."""
    if "yi" not in comp.columns or comp["yi"].isna().all():
        return _escalc(comp, measure)
    given = comp["yi"].notna().to_numpy()
    yi, vi = comp["yi"].to_numpy(float).copy(), comp["vi"].to_numpy(float).copy()
    if not given.all():
        arms = _escalc(comp[~given], measure)
        yi[~given], vi[~given] = arms.yi, arms.vi
    return EffectSizes(
        measure=measure,
        yi=tuple(float(y) for y in yi),
        vi=tuple(float(v) for v in vi),
        studies=tuple(str(s) for s in comp["study_id"]),
    )


def _escalc(comp: pd.DataFrame, measure: str) -> EffectSizes:
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


def participants(comp: pd.DataFrame, measure: str) -> int:
    """People in the pool, each once: a crossover trial's arms are the same participants."""
    if measure in SINGLE:
        return int(comp["n"].sum())
    k = len(comp)
    nan = [math.nan] * k
    nt = comp["n_treat"].tolist() if "n_treat" in comp.columns else nan
    nc = comp["n_ctrl"].tolist() if "n_ctrl" in comp.columns else nan
    cross = comp["crossover"].tolist() if "crossover" in comp.columns else [False] * k
    total = comp["n_total"].tolist() if "n_total" in comp.columns else nan
    per_study = []
    for t, c, x, n in zip(nt, nc, cross, total, strict=True):
        if x:  # the larger arm (either, when one is missing)
            v = max(t, c) if not (_na(t) or _na(c)) else (c if _na(t) else t)
        else:
            v = t + c
        if _na(v):  # reported effects: the study's own total
            v = n
        per_study.append(0.0 if _na(v) else float(v))
    # summed as pandas sums a float column (numpy's pairwise sum), so the count is unchanged
    return round(float(np.asarray(per_study, dtype=float).sum()))


def relevant_controls(rows: pd.DataFrame, comparison: ComparisonSpec) -> pd.DataFrame:
    """Only the control arms that belong to the comparison (Cochrane Handbook 23.3.4: omit
    groups not relevant to it): where a study names some control arm with one of the
    comparison's `control_arm_terms`, its other control arms are left out."""
    terms = tuple(comparison.control_arm_terms or ())
    if not terms or rows.empty or "arm" not in rows.columns:
        return rows
    drop = _irrelevant_controls(records(rows, ("study_id", "arm_role", "arm")), terms)
    return rows[[not d for d in drop]]


def _irrelevant_controls(rows: list[Row], terms: tuple[str, ...]) -> list[bool]:
    """Per row, whether `relevant_controls` leaves it out."""
    if not terms or not rows or "arm" not in rows[0]:
        return [False] * len(rows)
    folded = [t.casefold() for t in terms]
    control = [r["arm_role"] == "control" for r in rows]
    match = [
        any(t in ("" if _na(r["arm"]) else str(r["arm"])).casefold() for t in folded) for r in rows
    ]
    naming = {r["study_id"] for r, c, m in zip(rows, control, match, strict=True) if c and m}
    return [
        c and not m and r["study_id"] in naming
        for r, c, m in zip(rows, control, match, strict=True)
    ]


def small_k_test(protocol: Protocol, k: int) -> str:
    """The interval's test for a pool of k studies: the protocol's one rule for every output."""
    if k < 2:
        return "z"
    if protocol.small_k is None:
        return protocol.rating.model.get("test", "knha")
    return protocol.small_k.test_for(k)


def cumulative_pools(a: Analysis, protocol: Protocol) -> SequentialResult:
    """The pool as its studies accrue (in the analysis' order, by year), each step's interval
    from the same small-k rule as the pool itself, so the last step is the pool."""
    r = a.result
    fits = tuple(
        rma(
            np.asarray(r.yi[: i + 1], dtype=float),
            np.asarray(r.vi[: i + 1], dtype=float),
            method=r.method,
            test=small_k_test(protocol, i + 1),
            measure=r.measure,
            studies=list(r.studies[: i + 1]),
        )
        for i in range(r.k)
    )
    return SequentialResult(kind="cumulative", labels=tuple(r.studies), fits=fits)


def pool_outcome(
    tiered: pd.DataFrame,
    protocol: Protocol,
    indication: str,
    spec: OutcomeSpec,
    comparison: ComparisonSpec | None = None,
    effects: pd.DataFrame | None = None,
    high_risk: frozenset[str] = frozenset(),
    split: OutcomeRows | None = None,
) -> list[Analysis]:
    """Overall and per-tier pools of one outcome within one comparison, plus sensitivity pools
    (without derived values; crossover trials as parallel groups; fixed effect; without the
    trials in `high_risk`, those judged at high risk of bias overall). `split`: the same
    `tiered` and `effects` already split by outcome (`OutcomeRows`), for many calls."""
    if split is not None:
        comp = split.comparisons(indication, spec, comparison)
    else:
        if comparison is not None and "comparison" in tiered.columns:
            tiered = tiered[tiered["comparison"] == comparison.id]
            tiered = relevant_controls(tiered, comparison)
            if effects is not None and "comparison" in effects.columns:
                effects = effects[effects["comparison"] == comparison.id]
        comp = comparisons(tiered, indication, spec.id, spec.measure, effects)
    if comp.empty:
        return []
    method = protocol.rating.model.get("method", "REML")
    r = protocol.crossover.correlation if spec.measure not in SINGLE else 0.0
    out: list[Analysis] = []
    subsets: list[tuple[str, str, pd.DataFrame, float]] = []
    overall = comp[comp["tier"] == ALL_TIERS].sort_values(["year", "study_id"], na_position="last")
    subsets.append((ALL_TIERS, PRIMARY, overall, r))
    for tier in sorted(set(comp["tier"]) - {ALL_TIERS}):
        subsets.append((tier, PRIMARY, comp[comp["tier"] == tier].sort_values("study_id"), r))
    if overall["derived"].any():
        subsets.append((ALL_TIERS, EXCLUDING_DERIVED, overall[~overall["derived"]], r))
    if r > 0 and overall["crossover"].any():
        subsets.append((ALL_TIERS, CROSSOVER_AS_PARALLEL, overall, 0.0))
    if len(overall) >= 2:
        subsets.append((ALL_TIERS, FIXED_EFFECT, overall, r))
    at_high_risk = overall["study_id"].isin(high_risk)
    if at_high_risk.any():  # all at high risk: nothing to pool (see `not_estimable`)
        subsets.append((ALL_TIERS, EXCLUDING_HIGH_RISK, overall[~at_high_risk], r))
    tiered_rows = comp[~comp["tier"].isin(UNTIERED | {ALL_TIERS})]
    tier_test = None
    if tiered_rows["tier"].nunique() >= 2 and len(tiered_rows) >= 3:
        es = effect_sizes(tiered_rows, spec.measure, r)
        sub_res = subgroup_analysis(
            es, groups=tiered_rows["tier"].tolist(), moderator="dose_tier", method=method
        )
        tier_test = (sub_res.q_between, sub_res.q_between_df, sub_res.q_between_pval)
    for tier, analysis, sub, corr in subsets:
        if sub.empty:
            continue
        es = effect_sizes(sub, spec.measure, corr)
        if analysis == FIXED_EFFECT:
            res = _fixed_effect(sub, es, spec.measure)
        else:
            res = rma(es, method=method, test=small_k_test(protocol, len(sub)))
        egger_p, egger_note = egger(es, method) if len(sub) >= EGGER_MIN_K else (None, "")
        first = tier == ALL_TIERS and analysis == PRIMARY
        risk = None
        if spec.measure in BINARY and "n_ctrl" in sub.columns and sub["n_ctrl"].sum() > 0:
            risk = float(sub["events_ctrl"].sum() / sub["n_ctrl"].sum())
        years = tuple(None if pd.isna(y) else int(y) for y in sub["year"])
        arms, tables, sizes = _study_counts(sub, spec.measure, protocol)
        out.append(
            Analysis(
                indication,
                spec,
                tier,
                analysis,
                res,
                participants(sub, spec.measure),
                int(sub["derived"].sum()),
                tuple(sub["study_id"]),
                tier_test if first else None,
                egger_p,
                risk,
                years,
                egger_note,
                comparison.id if comparison else "",
                comparison.label if comparison else "",
                arms,
                tables,
                sizes,
                arm_numbers(sub, spec.measure),
            )
        )
    return out


def _num(x: object) -> float | None:
    return None if x is None or pd.isna(x) else float(x)  # type: ignore[arg-type]


ARM_NUMBER_COLUMNS = (
    "n", "events", "n_treat", "n_ctrl", "events_treat", "events_ctrl",
    "mean_treat", "sd_treat", "mean_ctrl", "sd_ctrl",
)  # fmt: skip


def arm_numbers(sub: pd.DataFrame, measure: str) -> tuple[tuple[ArmNumbers, ...], ...]:
    """Each study's arms as pooled, in the pool's order; () where only an effect was reported."""
    out: list[tuple[ArmNumbers, ...]] = []
    for r in records(sub, ARM_NUMBER_COLUMNS):
        if measure in SINGLE:
            n = _num(r.get("n"))
            out.append(() if n is None else (ArmNumbers(n, events=_num(r.get("events"))),))
            continue
        nt, nc = _num(r.get("n_treat")), _num(r.get("n_ctrl"))
        if nt is None or nc is None:
            out.append(())
        elif measure in BINARY:
            out.append(
                (
                    ArmNumbers(nt, events=_num(r.get("events_treat"))),
                    ArmNumbers(nc, events=_num(r.get("events_ctrl"))),
                )
            )
        else:
            out.append(
                (
                    ArmNumbers(nt, mean=_num(r.get("mean_treat")), sd=_num(r.get("sd_treat"))),
                    ArmNumbers(nc, mean=_num(r.get("mean_ctrl")), sd=_num(r.get("sd_ctrl"))),
                )
            )
    return tuple(out)


STUDY_COUNT_COLUMNS = ("study_id", "events_treat", "n_treat", "events_ctrl", "n_ctrl")


def _study_counts(
    sub: pd.DataFrame, measure: str, protocol: Protocol
) -> tuple[
    tuple[ControlArm, ...],
    tuple[tuple[float, float, float, float], ...] | None,
    tuple[float, ...] | None,
]:
    """Per study: the comparator arm's counts and class, the 2x2 table, the total size."""
    if measure not in BINARY or "n_ctrl" not in sub.columns:
        sizes = None
        if "n_treat" in sub.columns and "n_ctrl" in sub.columns:
            tot = sub["n_treat"] + sub["n_ctrl"]
            if "n_total" in sub.columns:
                tot = tot.fillna(sub["n_total"])
            sizes = None if tot.isna().any() else tuple(float(x) for x in tot)
        return (), None, sizes
    rows = records(sub, (*STUDY_COUNT_COLUMNS, "comparator", "n_total"))
    arms = []
    for r in rows:
        if _na(r["n_ctrl"]) or _na(r["events_ctrl"]):
            continue
        kind = comparator_of(
            r.get("comparator"), protocol.usual_care_terms, protocol.drug.name
        ).kind
        arms.append(
            ControlArm(str(r["study_id"]), kind, float(r["events_ctrl"]), float(r["n_ctrl"]))
        )
    tables = None
    if not any(_na(r[c]) for r in rows for c in STUDY_COUNT_COLUMNS[1:]):
        tables = tuple(
            (float(a), float(n1 - a), float(c), float(n2 - c))
            for a, n1, c, n2 in (
                (r["events_treat"], r["n_treat"], r["events_ctrl"], r["n_ctrl"]) for r in rows
            )
        )
    totals = [
        r["n_treat"] + r["n_ctrl"]
        if not (_na(r["n_treat"]) or _na(r["n_ctrl"]))
        else r.get("n_total", math.nan)
        for r in rows
    ]
    sizes = None if any(_na(t) for t in totals) else tuple(float(t) for t in totals)
    return tuple(arms), tables, sizes


def _fixed_effect(comp: pd.DataFrame, es: EffectSizes, measure: str) -> PooledResult:
    """Mantel-Haenszel on the raw counts for RR/OR when no crossover trial needs its paired
    variance; otherwise the inverse-variance fixed-effect pool."""
    arms_only = "yi" not in comp.columns or comp["yi"].isna().all()
    if measure in ("RR", "OR") and arms_only and not comp["crossover"].astype(bool).any():
        return rma_mh(
            comp["events_treat"].to_numpy(float),
            comp["n_treat"].to_numpy(float),
            comp["events_ctrl"].to_numpy(float),
            comp["n_ctrl"].to_numpy(float),
            measure=measure,
            studies=comp["study_id"].tolist(),
        )
    return rma(es, method="FE")


def pool_protocol(
    tiered: pd.DataFrame,
    protocol: Protocol,
    effects: pd.DataFrame | None = None,
    high_risk: frozenset[str] = frozenset(),
) -> list[Analysis]:
    """Every indication × comparison × outcome; `tiered` carries each row's `comparison`
    (`evidence.synthesis.comparisons.with_comparisons`), and rows of no comparison pool nowhere.
    `high_risk`: trials judged at high risk of bias, left out by a sensitivity analysis."""
    declared = any(ind.comparisons for ind in protocol.indications)
    if declared and "comparison" not in tiered.columns:
        raise ValueError("the protocol declares comparisons: assign the studies to them first")
    split = OutcomeRows(tiered, effects)
    out: list[Analysis] = []
    for ind in protocol.indications:
        for comparison in ind.comparison_specs:
            for spec in ind.outcomes:
                out.extend(
                    pool_outcome(
                        tiered, protocol, ind.id, spec, comparison, effects, high_risk, split
                    )
                )
    return out


class OutcomeRows:
    """`tiered` and `effects` read once into plain records, then split per comparison and
    outcome: `comparisons` for every outcome without selecting from the whole frames again."""

    def __init__(self, tiered: pd.DataFrame, effects: pd.DataFrame | None) -> None:
        self.by_comparison = "comparison" in tiered.columns
        cols = (*ARM_COLUMNS, "indication", "outcome", "comparison", "arm")
        self._tiered = tiered
        self._rows = {False: records(tiered, cols)}
        self._cols = cols
        self._effects = None if effects is None else effect_records(effects)
        self._effects_by_comparison = effects is not None and "comparison" in effects.columns
        self._arms: dict[tuple, dict[tuple[str, str], list[Row]]] = {}
        self._reported: dict[str | None, dict[tuple[str, str], list[Row]]] = {}

    def comparisons(
        self, indication: str, spec: OutcomeSpec, comparison: ComparisonSpec | None
    ) -> pd.DataFrame:
        """`comparisons` of the outcome in the comparison, as `pool_outcome` selects them."""
        cid = comparison.id if comparison is not None and self.by_comparison else None
        counted = spec.measure in BINARY or spec.measure in SINGLE
        terms = tuple(comparison.control_arm_terms or ()) if cid is not None and comparison else ()
        key = (cid, terms, counted)
        if key not in self._arms:
            if counted not in self._rows:  # counts from percentages: row by row, so once
                counts = counts_from_percentages(self._tiered.reset_index(drop=True))
                self._rows[counted] = records(counts, self._cols)
            rows = self._rows[counted]
            if cid is not None:
                rows = [r for r in rows if r["comparison"] == cid]
                drop = _irrelevant_controls(rows, terms)
                rows = [r for r, d in zip(rows, drop, strict=True) if not d]
            grouped: dict[tuple[str, str], list[Row]] = {}
            for r in rows:
                grouped.setdefault((r["indication"], r["outcome"]), []).append(r)
            self._arms[key] = grouped
        arms = self._arms[key].get((indication, spec.id), [])
        reported = None
        if self._effects is not None and spec.measure not in SINGLE:
            reported = reported_effects(
                self._outcome_effects(cid).get((indication, spec.id), []),
                indication,
                spec.id,
                spec.measure,
            )
        return comparison_rows(arms, spec.measure, reported)

    def _outcome_effects(self, cid: str | None) -> dict[tuple[str, str], list[Row]]:
        if cid not in self._reported:
            grouped: dict[tuple[str, str], list[Row]] = {}
            for r in self._effects or []:
                if cid is None or not self._effects_by_comparison or r["comparison"] == cid:
                    grouped.setdefault((r["indication"], r["outcome"]), []).append(r)
            self._reported[cid] = grouped
        return self._reported[cid]


def risk_of_bias_note(overall: dict[str, str] | None) -> str:
    """The high-risk sensitivity analysis, and why it excludes high risk rather than keeping
    only trials at low risk, from the judgements the data hold (study id → overall)."""
    if overall is None:
        return ""
    low = sum(j == "low" for j in overall.values())
    high = sum(j == "high" for j in overall.values())
    if low == 0:
        why = "would leave every pool empty: no trial with a judgement is at low risk overall"
    else:
        why = f"is not run: only {low} of the {len(overall)} trials with a judgement "
        why += "is at low risk overall" if low == 1 else "are at low risk overall"
    return (
        f"The sensitivity analysis '{EXCLUDING_HIGH_RISK}' leaves out the trials judged at high "
        f"risk of bias overall ({high} of the {len(overall)} trials with a RoB 2 judgement), for "
        "every pool holding one; trials with some concerns or no information stay in. A "
        f"restriction to trials at low risk (Cochrane Handbook, chapter 7) {why}. A pool whose "
        "studies are all at high risk has its exclusion listed as not estimable."
    )


def methods_notes(protocol: Protocol, rob_overall: dict[str, str] | None = None) -> list[str]:
    """The rules that formed and counted every pool, stated for the report's methods;
    `rob_overall` (study id → RoB 2 overall judgement) adds the risk-of-bias sensitivity."""
    method = protocol.rating.model.get("method", "REML")
    if protocol.small_k is None:
        test = protocol.rating.model.get("test", "knha")
        small = f"Every pool of two or more studies uses the {_TESTS[test]} interval."
    else:
        sk = protocol.small_k
        small = (
            f"Pools of three or more studies use the {_TESTS[sk.test]} interval; pools of "
            f"exactly two studies use the {_TESTS[sk.k2_test]} interval. The same rule gives "
            "every interval shown: forest and cumulative plots, the summary of findings, "
            "pooled.csv and the rating's reasons."
        )
    r = protocol.crossover.correlation
    return [
        "Studies are pooled only within one comparison of their indication (route of the "
        "intervention, comparator class, population and design window as declared in the "
        "protocol); studies that fit no comparison are listed with the reason.",
        f"Random-effects model ({method}). {small} A single study is shown with its own "
        "z interval.",
        "A trial with several drug arms enters the overall pool once, its arms combined; in "
        "the dose-tier subgroups its shared control group is split evenly between the tiers, "
        "so no participant counts twice in any subgroup or in the test between tiers.",
        f"Crossover trials count their participants once: their arms are analysed as paired "
        f"with an assumed within-patient correlation of {r:g} (Cochrane Handbook 23.2.7); the "
        f"sensitivity analysis '{CROSSOVER_AS_PARALLEL}' analyses them as parallel groups. "
        f"'{EXCLUDING_DERIVED}' leaves out comparisons with a computed (not printed) number; "
        f"'{FIXED_EFFECT}' pools with a fixed-effect model (Mantel–Haenszel for risk and odds "
        "ratios from arm counts, inverse variance otherwise).",
        "Where an arm prints a percentage and its n but no count, events = percentage × n "
        f"(rounded), kept only if it gives the printed percentage back within {PCT_TOLERANCE:g} "
        "percentage points; such counts are flagged derived.",
        *filter(None, [risk_of_bias_note(rob_overall)]),
    ]


_TESTS = {
    "z": "normal (z)",
    "knha": "Knapp–Hartung (t, k − 1 df)",
    "adhoc": "Knapp–Hartung (t, k − 1 df, never narrower than z: metafor's test='adhoc')",
}


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else round(x, nd)


def analyses_frame(
    analyses: list[Analysis],
    certainty: dict[tuple, str] | None = None,
    refs: dict[str, str] | None = None,
    extra: dict[tuple, dict[str, object]] | None = None,
    unestimable: list[NotEstimable] | None = None,
) -> pd.DataFrame:
    """pooled.csv: one row per analysis, and one per sensitivity analysis left with nothing to
    pool (k = 0, `note` says why); `refs` maps study ids to PMID/DOI references; `extra` adds
    columns per analysis key after `certainty` (the GRADE domains, absolute effects), blank for
    analyses without them."""
    extra = extra or {}
    extra_cols = list(dict.fromkeys(c for cols in extra.values() for c in cols))
    rows: list[dict[str, object]] = []
    for a in analyses:
        r = a.result
        # one study: metafor's Q = 0, I2 = 0, PI = CI are conventions, not findings; left blank
        het = r.k >= 2
        rows.append(
            {
                "indication": a.indication,
                "comparison": a.comparison,
                "comparison_label": a.comparison_label,
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
                "pi_low": _r(r.pi_low) if het else None,
                "pi_high": _r(r.pi_high) if het else None,
                "exp_estimate": _r(r.exp_estimate),
                "exp_ci_low": _r(r.exp_ci_low),
                "exp_ci_high": _r(r.exp_ci_high),
                "pval": _r(r.pval, 8),
                "tau2": _r(r.tau2) if het else None,
                "i2": _r(r.i2, 4) if het else None,
                "q": _r(r.q) if het else None,
                "q_pval": _r(r.q_pval, 8) if het else None,
                "tier_test_q": _r(a.tier_test[0]) if a.tier_test else None,
                "tier_test_df": a.tier_test[1] if a.tier_test else None,
                "tier_test_p": _r(a.tier_test[2], 8) if a.tier_test else None,
                "egger_p": a.egger_note or _r(a.egger_p, 8),
                "certainty": (certainty or {}).get(a.key, ""),
                **{c: extra.get(a.key, {}).get(c) for c in extra_cols},
                "studies": " ".join(a.study_ids),
                "sources": " ".join((refs or {}).get(s, s) for s in a.study_ids),
                "note": "",
            }
        )
    for n in unestimable or []:
        rows.append(
            {
                "indication": n.indication,
                "comparison": n.comparison,
                "comparison_label": n.comparison_label,
                "outcome": n.outcome.id,
                "tier": n.tier,
                "analysis": n.analysis,
                "measure": n.measure,
                "k": 0,
                "participants": 0,
                "certainty": "",
                "studies": "",
                "sources": "",
                "note": n.why,
            }
        )
    cols = ["indication", "comparison", "outcome", "tier", "analysis"]
    frame = pd.DataFrame(rows)
    return frame.sort_values(cols, kind="stable").reset_index(drop=True) if rows else frame
