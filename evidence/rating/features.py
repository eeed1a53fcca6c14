"""Evidence features of one indication: counts by design, trial directions, pooled signals."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from evidence.meta.results import RATIO_MEASURES as ENGINE_RATIO_MEASURES
from evidence.rating.rules import RuleSet

# log-scale measures of the engine, plus hazard ratios that published syntheses report
RATIO_MEASURES = (*sorted(ENGINE_RATIO_MEASURES), "HR")
NULL_FREE = ("within-group", "proportion", "range", "mean", "not pooled", "%")


@dataclass(frozen=True)
class PooledSignal:
    """What the ratings need from one pooled analysis."""

    outcome: str
    label: str
    measure: str
    k: int
    estimate: float
    ci_low: float
    ci_high: float
    i2: float | None
    benefit: str  # 'higher' | 'lower'
    ratio: bool

    @property
    def null(self) -> float:
        return 0.0  # on the analysis scale (log for ratios)

    @property
    def verdict(self) -> str:
        if self.ci_low > 0:
            return "benefit" if self.benefit == "higher" else "harm"
        if self.ci_high < 0:
            return "benefit" if self.benefit == "lower" else "harm"
        return "null"


@dataclass(frozen=True)
class IndicationFeatures:
    indication: str
    placebo_rcts: int
    active_rcts: int
    placebo_directions: dict[str, int]
    active_directions: dict[str, int]
    placebo_rcts_with_direction: int
    rcts_with_direction: int
    placebo_favour_share: float | None
    active_supportive_share: float
    reviews: int
    narrative_reviews: int
    observational: int
    case_reports: int
    preclinical: int
    human_studies: int
    preclinical_minus_human_trials: int
    published_significant: int
    published_null: int
    published_conflict: bool
    pooled_benefit: int
    pooled_null: int
    pooled_harm: int
    pooled_conflict: bool
    study_ids: tuple[str, ...]

    def as_rule_input(self) -> dict[str, Any]:
        return asdict(self)


def _vote(directions: list[str]) -> str:
    c = Counter(directions)
    f = sum(v for k, v in c.items() if k.startswith("favours_") and k != "favours_control")
    n, h = c["no_difference"], c["favours_control"]
    if f + n + h == 0:
        return "unclear"
    if f > n + h:
        return "favours"
    if n > f + h:
        return "no_difference"
    if h > f + n:
        return "favours_control"
    return "mixed"


def trial_directions(studies: pd.DataFrame, effects: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """One row per trial among `studies`: comparator kind and majority efficacy direction."""
    groups = rules.design_groups
    trial_designs = set(groups["placebo_rct"]) | set(groups["active_rct"])
    # Plain lists, and one selection of the frame at the end: this runs for every indication
    # in the ratings, the vote counts and the claims audit.
    ids = studies["study_id"].tolist()
    keep = [i for i, d in enumerate(studies["design"].tolist()) if d in trial_designs]
    trial_ids = {ids[i] for i in keep}
    harm = tuple(rules.harm_outcome_prefixes)
    directions: dict[str, list[str]] = {}  # per trial, its efficacy outcomes' directions
    for sid, outcome, d in zip(
        effects["study_id"].tolist(),
        effects["outcome"].tolist(),
        effects["direction"].tolist(),
        strict=True,
    ):
        if sid in trial_ids and not (
            harm and isinstance(outcome, str) and outcome.startswith(harm)
        ):
            directions.setdefault(sid, []).append(d)
    # sorted by study id as sort_values sorts (numpy's default argsort)
    order = np.asarray([ids[i] for i in keep], dtype=object).argsort(kind="quicksort")
    rows = [keep[j] for j in order]
    out = studies[["study_id", "comparator", "design", "n_total"]].iloc[rows]
    comparators = out["comparator"].tolist()
    out = out.assign(
        kind=[
            "placebo" if c == "placebo" else ("active" if c.startswith("active:") else "other")
            for c in ("" if pd.isna(c) else c for c in comparators)
        ],
        direction=[_vote(directions[ids[i]]) if ids[i] in directions else "unclear" for i in rows],
    )
    return out.reset_index(drop=True)


def _published(syntheses: pd.DataFrame, ids: set[str]) -> tuple[int, int]:
    cols = ("review_id", "measure", "estimate", "ci_low", "ci_high")
    sig = null = 0
    for rid, measure, est, lo, hi in zip(*(syntheses[c].tolist() for c in cols), strict=True):
        if rid not in ids or pd.isna(est) or pd.isna(lo) or pd.isna(hi):
            continue
        measure = str(measure or "")
        if any(word in measure for word in NULL_FREE):
            continue
        ref = 1.0 if measure.split(" ")[0] in RATIO_MEASURES else 0.0
        if lo > ref or hi < ref:
            sig += 1
        else:
            null += 1
    return sig, null


def indication_features(
    indication: str,
    studies: pd.DataFrame,
    effects: pd.DataFrame,
    syntheses: pd.DataFrame,
    pooled: list[PooledSignal],
    rules: RuleSet,
) -> IndicationFeatures:
    own = studies[studies["indication"] == indication]
    return evidence_features(indication, own, effects, syntheses, pooled, rules)


def evidence_features(
    name: str,
    own: pd.DataFrame,
    effects: pd.DataFrame,
    syntheses: pd.DataFrame,
    pooled: list[PooledSignal],
    rules: RuleSet,
) -> IndicationFeatures:
    """Features of any set of studies (an indication's, or those behind an interaction)."""
    g = rules.design_groups
    trials = trial_directions(own, effects, rules)
    placebo = trials[trials["kind"] == "placebo"]
    active = trials[trials["kind"] == "active"]
    pd_counts = dict(sorted(Counter(placebo["direction"]).items()))
    ac_counts = dict(sorted(Counter(active["direction"]).items()))
    p_dir = sum(v for k, v in pd_counts.items() if k != "unclear")
    a_dir = sum(v for k, v in ac_counts.items() if k != "unclear")
    share = pd_counts.get("favours", 0) / p_dir if p_dir else None
    supportive = (
        (ac_counts.get("favours", 0) + ac_counts.get("no_difference", 0)) / a_dir if a_dir else 1.0
    )
    design = own["design"]
    preclinical = int(design.isin(g["preclinical"]).sum())
    human_trials = len(placebo) + len(active)
    sig, null = _published(syntheses, set(own["study_id"]))
    harm = tuple(rules.harm_outcome_prefixes)
    verdicts = Counter(p.verdict for p in pooled if p.k >= 2 and not p.outcome.startswith(harm))
    return IndicationFeatures(
        indication=name,
        placebo_rcts=len(placebo),
        active_rcts=len(active),
        placebo_directions=pd_counts,
        active_directions=ac_counts,
        placebo_rcts_with_direction=p_dir,
        rcts_with_direction=p_dir + a_dir,
        placebo_favour_share=share,
        active_supportive_share=supportive,
        reviews=int(design.isin(g["review"]).sum()),
        narrative_reviews=int(design.isin(g.get("narrative_review", [])).sum()),
        observational=int(design.isin(g["observational"]).sum()),
        case_reports=int(design.isin(g["case_report"]).sum()),
        preclinical=preclinical,
        human_studies=int((own["species"] == "human").sum()),
        preclinical_minus_human_trials=preclinical - human_trials,
        published_significant=sig,
        published_null=null,
        published_conflict=sig > 0 and null > 0,
        pooled_benefit=verdicts["benefit"],
        pooled_null=verdicts["null"],
        pooled_harm=verdicts["harm"],
        pooled_conflict=verdicts["benefit"] > 0 and (verdicts["null"] + verdicts["harm"]) > 0,
        study_ids=tuple(sorted(own["study_id"])),
    )


def _counts(d: dict[str, int], comparable: bool = False) -> str:
    names = {
        "favours": "favour the drug",
        "no_difference": "comparable" if comparable else "no difference",
        "favours_control": "favour the comparator",
        "mixed": "mixed",
        "unclear": "direction unclear",
    }
    return ", ".join(f"{v} {names[k]}" for k, v in d.items() if v)


def _n(count: int, singular: str, plural: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def describe(f: IndicationFeatures, pooled: list[PooledSignal], drug: str) -> str:
    """The evidence in words, with the numbers, for a guideline author."""
    parts = []
    if f.placebo_rcts:
        counts = _counts(f.placebo_directions).replace("the drug", drug)
        parts.append(f"{_n(f.placebo_rcts, 'placebo-controlled RCT')} ({counts})")
    if f.active_rcts:
        parts.append(
            f"{_n(f.active_rcts, 'active-controlled RCT')} "
            f"({_counts(f.active_directions, comparable=True)})".replace("the drug", drug)
        )
    if f.reviews:
        parts.append(
            _n(f.reviews, "systematic review/meta-analysis", "systematic reviews/meta-analyses")
        )
        if f.published_significant or f.published_null:
            parts.append(
                f"published pooled results: {f.published_significant} significant, "
                f"{f.published_null} not"
            )
    if f.narrative_reviews:
        parts.append(
            _n(
                f.narrative_reviews,
                "narrative review or guidance document",
                "narrative reviews or guidance documents",
            )
        )
    if f.observational:
        parts.append(
            _n(
                f.observational,
                "observational/uncontrolled study",
                "observational/uncontrolled studies",
            )
        )
    if f.case_reports:
        parts.append(_n(f.case_reports, "case report"))
    if f.preclinical:
        parts.append(_n(f.preclinical, "animal/in-vitro study", "animal/in-vitro studies"))
    for p in pooled:
        if p.k < 2:
            continue
        parts.append(
            f"pooled {p.label} {format_effect(p.measure, p.estimate, p.ci_low, p.ci_high)}"
            + (f", I² {p.i2:.0f}%" if p.i2 is not None else "")
            + f" (k={p.k})"
        )
    return "; ".join(parts) if parts else "no studies"


def format_effect(measure: str, est: float, lo: float, hi: float) -> str:
    import math

    if measure in ENGINE_RATIO_MEASURES:
        est, lo, hi = math.exp(est), math.exp(lo), math.exp(hi)
        return f"{measure} {est:.2f} ({lo:.2f}–{hi:.2f})"
    return f"{measure} {est:.2f} ({lo:.2f} to {hi:.2f})"
