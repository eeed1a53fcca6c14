"""Table 1: uses with their evidence level, the reasons in words, and the published labels."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from evidence.rating.features import (
    IndicationFeatures,
    PooledSignal,
    describe,
    indication_features,
)
from evidence.rating.grade import Certainty, grade_outcome
from evidence.rating.rules import Rating, RuleSet, rate
from evidence.snapshot import Snapshot
from evidence.synthesis import ALL_TIERS, BINARY, SINGLE, Analysis
from evidence.tables.common import article_level, source_refs


@dataclass(frozen=True)
class UseRating:
    indication: str
    label: str
    article_row: str | None
    features: IndicationFeatures
    rating: Rating


def signals(analyses: list[Analysis], indication: str) -> list[PooledSignal]:
    """Overall primary pools of the indication's comparative outcomes (not single-arm rates)."""
    out = []
    for a in analyses:
        if (a.indication, a.tier, a.analysis) != (indication, ALL_TIERS, "primary"):
            continue
        if a.outcome.measure in SINGLE:
            continue
        r = a.result
        out.append(
            PooledSignal(
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
        )
    return out


def rate_uses(snapshot: Snapshot, analyses: list[Analysis], rules: RuleSet) -> list[UseRating]:
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


def certainty_of(analyses: list[Analysis], rules: RuleSet) -> dict[tuple, Certainty]:
    """GRADE for every comparative pool (single-arm rates have no comparison to grade)."""
    out: dict[tuple, Certainty] = {}
    for a in analyses:
        if a.outcome.measure in SINGLE:
            continue
        r = a.result
        out[a.key] = grade_outcome(
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
        )
    return out


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
