"""Table 1: uses with their evidence level, the reasons in words, and the published labels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from evidence.inputs.risk_of_bias import RiskOfBias
from evidence.inputs.snapshot import Snapshot
from evidence.rating.comparisons import (
    Assignment,
    ComparisonRating,
    PooledEvidence,
    rate_indication,
)
from evidence.rating.crosscheck import cross_check
from evidence.rating.features import (
    IndicationFeatures,
    PooledSignal,
    describe,
    indication_features,
)
from evidence.rating.grade import Certainty, grade_outcome
from evidence.rating.risk_of_bias import pool_risk_of_bias
from evidence.rating.rules import Rating, RuleSet, rate
from evidence.synthesis.pool import ALL_TIERS, BINARY, SINGLE, Analysis
from evidence.tables.common import article_level, source_refs

# Study id → RoB 2 record (`Snapshot.risk_of_bias`); None when the protocol has none.
RobRecords = Mapping[str, RiskOfBias] | None


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
    risk_of_bias: RobRecords = None,
) -> list[PooledEvidence]:
    """The indication's overall efficacy pools (harm outcomes excluded), with their certainty."""
    harm = tuple(rules.harm_outcome_prefixes)
    return [
        PooledEvidence(
            _signal(a),
            grade_analysis(a, rules, risk_of_bias).level,
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
        pools = efficacy_pools(analyses, ind.id, rules, snapshot.risk_of_bias)
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
    analyses: list[Analysis], rules: RuleSet, risk_of_bias: RobRecords = None
) -> dict[tuple, Certainty]:
    """GRADE for every comparative pool (single-arm rates have no comparison to grade)."""
    return {
        a.key: grade_analysis(a, rules, risk_of_bias)
        for a in analyses
        if a.outcome.measure not in SINGLE
    }


def grade_analysis(a: Analysis, rules: RuleSet, risk_of_bias: RobRecords = None) -> Certainty:
    """GRADE certainty of one comparative pool; `risk_of_bias` holds the trials' RoB 2
    records (None: the protocol has none, and the domain says it was not assessed)."""
    r = a.result
    return grade_outcome(
        rules.grade,
        randomised=True,
        k=r.k,
        estimate=r.estimate,
        ci_low=r.ci_low,
        ci_high=r.ci_high,
        pi_low=r.pi_low,
        pi_high=r.pi_high,
        i2=r.i2,
        participants=a.participants,
        binary=a.outcome.measure in BINARY,
        egger_p=a.egger_p,
        egger_note=a.egger_note,
        indirect=a.outcome.indirect,
        risk_of_bias=pool_risk_of_bias(r.studies, r.weights, risk_of_bias, rules.grade),
    )


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
