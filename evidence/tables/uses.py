"""Table 1: uses with their evidence level, the reasons in words, and the published labels."""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.rating.comparisons import (
    Assignment,
    ComparisonRating,
    PooledEvidence,
    rate_indication,
)
from evidence.rating.crosscheck import cross_check
from evidence.rating.domains import DomainJudgement
from evidence.rating.features import (
    IndicationFeatures,
    PooledSignal,
    describe,
    indication_features,
)
from evidence.rating.grade import Certainty, grade_outcome
from evidence.rating.imprecision import decision_thresholds, optimal_information_size
from evidence.rating.inconsistency import Heterogeneity
from evidence.rating.indirectness import pool_indirectness
from evidence.rating.publication_bias import StudyData
from evidence.rating.risk_of_bias import pool_risk_of_bias
from evidence.rating.rules import Rating, RuleSet, rate
from evidence.synthesis.absolute_effects import (
    AbsoluteEffect,
    ControlRisk,
    binary_absolute,
    continuous_against_mid,
    control_risk,
)
from evidence.synthesis.pool import ALL_TIERS, BINARY, SINGLE, Analysis
from evidence.tables.common import article_level, source_refs

# Study id → RoB 2 record (`Snapshot.risk_of_bias`); None when the protocol has none.


@dataclass(frozen=True)
class UseRating:
    indication: str
    label: str
    article_row: str | None
    features: IndicationFeatures
    rating: Rating
    comparisons: tuple[ComparisonRating, ...] = ()
    carried_by: str = ""
    cross_check: str = ""


def _signal(a: Analysis) -> PooledSignal:
    r = a.result
    return PooledSignal(
        a.outcome.id,
        a.outcome.label,
        r.measure,
        r.k,
        r.estimate,
        r.ci_low,
        r.ci_high,
        r.i2,
        a.outcome.benefit,
        r.is_ratio,
    )


def _overall(analyses: list[Analysis], indication: str) -> list[Analysis]:
    """Overall primary pools of the indication's comparative outcomes (not single-arm rates)."""
    return [
        a
        for a in analyses
        if (a.indication, a.tier, a.analysis) == (indication, ALL_TIERS, "primary")
        and a.outcome.measure not in SINGLE
    ]


def signals(analyses: list[Analysis], indication: str) -> list[PooledSignal]:
    return [_signal(a) for a in _overall(analyses, indication)]


def efficacy_pools(
    analyses: list[Analysis],
    indication: str,
    rules: RuleSet,
    snapshot: Snapshot | None = None,
) -> list[PooledEvidence]:
    """The indication's overall efficacy pools (harm outcomes excluded), with their certainty."""
    harm = tuple(rules.harm_outcome_prefixes)
    return [
        PooledEvidence(
            _signal(a),
            grade_analysis(a, rules, snapshot).level,
            a.participants,
            a.study_ids,
            a.comparison,
            a.comparison_label,
        )
        for a in _overall(analyses, indication)
        if not (harm and a.outcome.id.startswith(harm))
    ]


def rate_uses(
    snapshot: Snapshot,
    analyses: list[Analysis],
    rules: RuleSet,
    assignment: Assignment | None = None,
) -> list[UseRating]:
    """Each indication's level; with a `by_comparison` rule set, per comparison.

    `assignment` maps a study id to its protocol comparison (id, label); without it a trial
    is placed by the comparison of a pool it is in, else by its route and comparator.
    """
    if rules.by_comparison is not None:
        return _rate_by_comparison(snapshot, analyses, rules, assignment)
    out = []
    drug = snapshot.protocol.drug.name
    for ind in snapshot.protocol.indications:
        pooled = signals(analyses, ind.id)
        feats = indication_features(
            ind.id,
            snapshot.studies,
            snapshot.study_effects,
            snapshot.published_syntheses,
            pooled,
            rules,
        )
        rating = rate(rules, feats.as_rule_input(), describe(feats, pooled, drug))
        out.append(UseRating(ind.id, ind.label, ind.article_row, feats, rating))
    return out


def _rate_by_comparison(
    snapshot: Snapshot,
    analyses: list[Analysis],
    rules: RuleSet,
    assignment: Assignment | None,
) -> list[UseRating]:
    out = []
    drug = snapshot.protocol.drug.name
    for ind in snapshot.protocol.indications:
        own = snapshot.studies[snapshot.studies["indication"] == ind.id]
        pools = efficacy_pools(analyses, ind.id, rules, snapshot)
        rated = rate_indication(rules, own, snapshot.study_effects, pools, drug, assignment)
        # Counts by design are shown, never decide: the rule set names no such feature here.
        feats = indication_features(
            ind.id,
            snapshot.studies,
            snapshot.study_effects,
            snapshot.published_syntheses,
            signals(analyses, ind.id),
            rules,
        )
        check = cross_check(snapshot.published_syntheses, set(own["study_id"]), pools)
        out.append(
            UseRating(
                ind.id,
                ind.label,
                ind.article_row,
                feats,
                rated.rating,
                rated.comparisons,
                rated.carried_by.label if rated.carried_by else "",
                check,
            )
        )
    return out


def uses_frame(snapshot: Snapshot, ratings: list[UseRating]) -> pd.DataFrame:
    rows = []
    for u in ratings:
        f = u.features
        rows.append(
            {
                "indication": u.indication,
                "label": u.label,
                "article_row": u.article_row or "",
                "evidence_level": u.rating.level,
                "reasons": u.rating.reasons,
                "rule_set_version": u.rating.rule_set_version,
                "conditions_met": "; ".join(u.rating.conditions),
                "carried_by": u.carried_by,
                "comparison_levels": "; ".join(
                    f"{c.label}: {c.rating.level}" for c in u.comparisons
                ),
                "published_cross_check": u.cross_check,
                "placebo_rcts": f.placebo_rcts,
                "active_rcts": f.active_rcts,
                "reviews": f.reviews,
                "observational": f.observational,
                "case_reports": f.case_reports,
                "preclinical": f.preclinical,
                "studies": len(f.study_ids),
                "sources": source_refs(snapshot.refs, f.study_ids),
            }
        )
    return pd.DataFrame(rows)


def certainty_of(
    analyses: list[Analysis], rules: RuleSet, snapshot: Snapshot | None = None
) -> dict[tuple, Certainty]:
    """GRADE for every comparative pool (single-arm rates have no comparison to grade)."""
    return {
        a.key: grade_analysis(a, rules, snapshot)
        for a in analyses
        if a.outcome.measure not in SINGLE
    }


def grade_analysis(
    a: Analysis,
    rules: RuleSet,
    snapshot: Snapshot | None = None,
    *,
    risk_of_bias: DomainJudgement | None = None,
    indirectness: DomainJudgement | None = None,
) -> Certainty:
    """GRADE certainty of one comparative pool: all five domains with their reasons. With the
    snapshot, the domains judged from the pool's studies (risk of bias, indirectness) are judged
    here.

    A run grades each pool for its ratings, its certainty table, its vote counts and its claims
    audit: the certainty is kept with the analysis object (not its key: two runs may share keys)
    and given again for the same rule set and snapshot objects, until the analysis is freed."""
    memo = risk_of_bias is None and indirectness is None
    if memo and (hit := _GRADED.get(id(a))) is not None and hit[0] is rules and hit[1] is snapshot:
        return hit[2]
    certainty = _grade(a, rules, snapshot, risk_of_bias, indirectness)
    if memo:
        if id(a) not in _GRADED:
            weakref.finalize(a, _GRADED.pop, id(a), None)
        _GRADED[id(a)] = (rules, snapshot, certainty)
    return certainty


# id(analysis) → (rule set, snapshot, certainty): `grade_analysis`'s memo, an entry dropped when
# its analysis is freed (so an id is never read for another object).
_GRADED: dict[int, tuple[RuleSet, Snapshot | None, Certainty]] = {}


def _grade(
    a: Analysis,
    rules: RuleSet,
    snapshot: Snapshot | None,
    risk_of_bias: DomainJudgement | None,
    indirectness: DomainJudgement | None,
) -> Certainty:
    r = a.result
    binary = a.outcome.measure in BINARY
    imp = rules.grade["imprecision"]
    cr = control_risk_of(a, rules)
    ois_risk = cr.risk if cr.risk is not None else a.control_risk
    thresholds, why = decision_thresholds(
        r.measure, a.outcome.decision_threshold, a.outcome.mid, ois_risk
    )
    if indirectness is None and snapshot is not None:
        indirectness = pool_indirectness(a, snapshot.protocol, snapshot.studies, rules.grade)
    if risk_of_bias is None and snapshot is not None:
        risk_of_bias = pool_risk_of_bias(r.studies, r.weights, snapshot.risk_of_bias, rules.grade)
    if indirectness is None and a.outcome.indirect:
        indirectness = DomainJudgement(
            "indirectness", "serious", "the protocol flags the outcome as indirect (a surrogate)"
        )
    return grade_outcome(
        rules.grade,
        randomised=True,
        k=r.k,
        ci_low=r.ci_low,
        ci_high=r.ci_high,
        participants=a.participants,
        binary=binary,
        heterogeneity=heterogeneity_of(a),
        information=optimal_information_size(imp, binary, ois_risk, a.outcome.benefit),
        thresholds=thresholds,
        no_threshold_why=why,
        study_data=StudyData(r.yi, r.vi, a.tables, a.sizes),
        method=r.method,
        show=_shower(r.is_ratio),
        risk_of_bias=risk_of_bias,
        indirectness=indirectness,
    )


def _shower(ratio: bool) -> Callable[[float], str]:
    return (lambda x: _num(math.exp(x))) if ratio else _num


def _num(x: float) -> str:
    """Two decimals; three significant digits for the huge bounds of a few sparse studies."""
    return f"{x:.2f}" if abs(x) < 1000 else f"{x:.3g}"


def heterogeneity_of(a: Analysis) -> Heterogeneity:
    """I² with its Q-profile CI and the Handbook's prediction interval (t, k - 2 df)."""
    r = a.result
    if r.k < 2 or r.i2 is None:
        return Heterogeneity(k=r.k, i2=None)
    from evidence.meta.fit import rma
    from evidence.meta.heterogeneity import confint_tau2

    if r.method.upper() in ("FE", "MH", "PETO"):
        why = "fixed-effect model: no between-study variance, no prediction interval"
        return Heterogeneity(r.k, r.i2, None, None, why, None, None, why)
    lo = hi = None
    note = ""
    try:
        ci = confint_tau2(r.yi, r.vi, method=r.method)
        lo, hi = ci.i2_low, ci.i2_high
    except (ValueError, ArithmeticError) as exc:
        note = f"CI of I² not computable: {exc}"
    fit = rma(r.yi, r.vi, method=r.method, test=r.test, pi_type="handbook")
    pi_note = (
        ""
        if fit.pi_low is not None
        else next(
            (n for n in fit.notes if n.startswith("no prediction interval")),
            "no prediction interval",
        )
    )
    return Heterogeneity(r.k, r.i2, lo, hi, note, fit.pi_low, fit.pi_high, pi_note)


def control_risk_of(a: Analysis, rules: RuleSet) -> ControlRisk:
    """The control risk from the pool's own placebo (or usual-care) arms, per the rule set."""
    accepted = rules.grade.get("absolute_effects", {}).get(
        "control_arm_comparators", ["placebo", "usual_care"]
    )
    return control_risk(a.control_arms, accepted)


def absolute_of(a: Analysis, rules: RuleSet) -> AbsoluteEffect | str:
    """Absolute effects of a binary pool; for a continuous one, the MD against the MID."""
    r = a.result
    per = int(rules.grade.get("absolute_effects", {}).get("per", 1000))
    if r.measure in BINARY:
        return binary_absolute(
            r.measure, r.estimate, r.ci_low, r.ci_high, control_risk_of(a, rules),
            a.outcome.benefit, per,
        )  # fmt: skip
    mid = a.outcome.mid.value if a.outcome.mid else None
    return continuous_against_mid(r.measure, r.estimate, r.ci_low, r.ci_high, mid)


def uses_agreement(snapshot: Snapshot, ratings: list[UseRating]) -> pd.DataFrame:
    if snapshot.claims is None or "uses" not in snapshot.claims.tables:
        return pd.DataFrame()
    rows = []
    for row in snapshot.claims.tables["uses"].rows:
        name = str(row.get("indication"))
        printed = str(row.get("evidence_level", ""))
        theirs = article_level(printed)
        mine = [u for u in ratings if u.article_row == name]
        ours = sorted({u.rating.level for u in mine})
        equal = bool(mine) and ours == [theirs]
        if not mine:
            why = "no indication of the protocol regenerates this row"
        elif equal:
            why = ""
        else:
            why = " | ".join(
                f"{u.indication}: {u.rating.reasons}" for u in mine if u.rating.level != theirs
            )
        rows.append(
            {
                "table": "uses",
                "row": name,
                "article": printed,
                "article_label": theirs,
                "ours": "; ".join(f"{u.indication}={u.rating.level}" for u in mine),
                "equal": equal,
                "why_different": why,
            }
        )
    return pd.DataFrame(rows)
