"""Rating each comparison of an indication from the pipeline's own pooled results and votes.

Human controlled evidence decides: pooled effects (estimate, CI, k, certainty) where trials were
pooled, and where they were not, each trial's reported direction of effect (synthesis without
meta-analysis: vote counting by direction with a sign test, Cochrane Handbook chapter 12). A
trial counted in a pool never votes as well. Papers and published review rows are never counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from evidence.rating.features import PooledSignal, format_effect, trial_directions
from evidence.rating.rules import ByComparison, Rating, RuleSet, rate_with

UNDECLARED = ""  # an Analysis whose comparison the protocol did not name
# The protocol's assignment of studies: study id -> (comparison id, label), or None for a study
# that fits no comparison (it is then neither pooled into nor voting in any rating).
Assignment = Mapping[str, tuple[str, str] | None]
DIRECTION_WORDS = {
    "favours": "favour the drug",
    "no_difference": "no difference",
    "favours_control": "favour the comparator",
    "mixed": "mixed",
    "unclear": "direction unclear",
}
VERDICT_WORDS = {"benefit": "benefit", "null": "includes no effect", "harm": "harm"}


@dataclass(frozen=True)
class PooledEvidence:
    """One overall primary efficacy pool, with what the rating quotes from it."""

    signal: PooledSignal
    certainty: str
    participants: int
    study_ids: tuple[str, ...]
    comparison: str = UNDECLARED
    comparison_label: str = ""

    def quote(self) -> str:
        s = self.signal
        return (
            f"pooled {s.label} {format_effect(s.measure, s.estimate, s.ci_low, s.ci_high)}, "
            f"k={s.k}, {self.participants} participants, certainty {self.certainty or 'not graded'}"
            f": {VERDICT_WORDS[s.verdict]}"
        )


@dataclass(frozen=True)
class ComparisonRating:
    comparison: str
    label: str
    pooled: tuple[PooledEvidence, ...]
    votes: tuple[tuple[str, str], ...]  # (study_id, direction) of trials not in a counted pool
    features: dict[str, Any]
    rating: Rating
    participants: int = 0


@dataclass(frozen=True)
class IndicationRating:
    rating: Rating
    comparisons: tuple[ComparisonRating, ...]
    carried_by: ComparisonRating | None
    features: dict[str, Any] = field(default_factory=dict)


def fallback_comparison(route: str, comparator: str, drug: str) -> tuple[str, str]:
    """A trial in no declared comparison is grouped by its route and comparator, as recorded."""
    other = comparator.removeprefix("active:") if comparator else "comparator not recorded"
    who = f"{route} {drug}".strip()
    return f"{route}|{comparator}", f"{who} vs {other}"


def sign_test(favour: int, against: int) -> float:
    """Two-sided exact sign test: how surprising this split is if either direction is as likely."""
    n = favour + against
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(favour, against) + 1)) / 2**n
    return min(1.0, 2 * tail)


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def group_evidence(
    trials: pd.DataFrame,
    pools: Sequence[PooledEvidence],
    drug: str,
    assignment: Assignment | None = None,
) -> dict[tuple[str, str], tuple[list[PooledEvidence], pd.DataFrame]]:
    """Each comparison with its pools and its voting trials.

    A trial belongs to the comparison `assignment` gives it (the protocol's assignment of
    studies), else to that of a declared pool it is in, else to the one declared comparison
    whose pooled trials share its route and comparator, else to its route and comparator. A pool
    the protocol did not assign to a comparison belongs to its trials' common comparison, or, if
    they differ, to a group named for all of them (such a pool mixes comparisons).
    """
    assignment = assignment or {}
    trials = trials[~trials["study_id"].isin(unassigned(assignment))]
    fallback: dict[str, tuple[str, str]] = {
        str(row.study_id): fallback_comparison(
            _text(getattr(row, "route", "")), _text(row.comparator), drug
        )
        for row in trials.itertuples(index=False)
    }
    own = {sid: assignment.get(sid) or key for sid, key in fallback.items()}
    declared: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for p in pools:
        if p.comparison != UNDECLARED:
            key = (p.comparison, p.comparison_label or p.comparison)
            for sid in p.study_ids:
                if sid not in assignment:
                    own[sid] = key
                if sid in fallback:
                    declared.setdefault(key, set()).add(fallback[sid])
    # A trial in no declared pool joins the one declared comparison whose pooled trials all
    # share its route and comparator; if none or several do, it stays in its own group.
    joins: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for key, kinds in declared.items():
        if len(kinds) == 1:
            joins.setdefault(next(iter(kinds)), []).append(key)
    labels = {key[1] for key in declared}
    for sid, key in fallback.items():
        if sid in assignment or own[sid] != key:
            continue
        if len(joins.get(key, [])) == 1:
            own[sid] = joins[key][0]
        elif key[1] in labels:
            own[sid] = (key[0], f"{key[1]} (trials in no declared comparison)")
    pooled_ids = {sid for p in pools for sid in p.study_ids}
    groups: dict[tuple[str, str], tuple[list[PooledEvidence], list[str]]] = {}
    for p in pools:
        if p.comparison != UNDECLARED:
            key = (p.comparison, p.comparison_label or p.comparison)
        else:
            keys = sorted({own[s] for s in p.study_ids if s in own})
            if len(keys) == 1:
                key = keys[0]
            elif not keys:  # none of its studies is a controlled trial of the indication
                key = ("undeclared", "comparison not declared")
            else:
                key = (
                    " + ".join(k for k, _ in keys),
                    "one pool across comparisons (" + " + ".join(lab for _, lab in keys) + ")",
                )
        groups.setdefault(key, ([], []))[0].append(p)
    for sid, key in own.items():
        if sid not in pooled_ids:
            groups.setdefault(key, ([], []))[1].append(sid)
    return {
        key: (ps, _trial_rows(trials, sorted(ids)) if ids else trials.iloc[0:0])
        for key, (ps, ids) in sorted(groups.items())
    }


def _trial_rows(trials: pd.DataFrame, ids: list[str]) -> pd.DataFrame:
    """The trials' rows of these study ids, in this order (study_id the first column)."""
    order = trials["study_id"].tolist()
    if len(set(order)) == len(order) and trials.columns[0] == "study_id":
        at = {sid: i for i, sid in enumerate(order)}
        # through the index as before, so study_id keeps the dtype an index gives it
        return trials.iloc[[at[s] for s in ids]].set_index("study_id").reset_index()
    return trials.set_index("study_id").loc[ids].reset_index()


def unassigned(assignment: Assignment | None) -> set[str]:
    """Studies the protocol's assignment places in no comparison."""
    return {sid for sid, key in (assignment or {}).items() if key is None}


def comparison_features(
    pools: Sequence[PooledEvidence], voters: pd.DataFrame, trials: int, ranks: Mapping[str, int]
) -> dict[str, Any]:
    verdicts = [p.signal.verdict for p in pools]
    benefit = [p for p in pools if p.signal.verdict == "benefit"]
    d = voters["direction"].tolist() if not voters.empty else []
    directed = [x for x in d if x != "unclear"]
    favour = directed.count("favours")
    against = directed.count("favours_control")
    share = favour / len(directed) if directed else None
    pooled_trials = {s for p in pools for s in p.study_ids}
    return {
        "trials": trials,
        "evidence_trials": len(pooled_trials) + len(directed),
        "pooled_outcomes": len(pools),
        "pooled_benefit": verdicts.count("benefit"),
        "pooled_null": verdicts.count("null"),
        "pooled_harm": verdicts.count("harm"),
        "pooled_benefit_certainty": max((ranks.get(p.certainty, -1) for p in benefit), default=-1),
        "pooled_benefit_k": max((p.signal.k for p in benefit), default=0),
        "vote_trials": len(directed),
        "vote_favour": favour,
        "vote_against": against,
        "vote_favour_share": share,
        "vote_other_share": 1.0 - share if share is not None else 0.0,
        "sign_test_p": sign_test(favour, against),
    }


def _votes_text(voters: pd.DataFrame, f: dict[str, Any]) -> str:
    if voters.empty:
        return ""
    counts = voters["direction"].value_counts()
    parts = ", ".join(
        f"{int(counts[k])} {DIRECTION_WORDS[k]}" for k in DIRECTION_WORDS if counts.get(k, 0)
    )
    n = len(voters)
    text = f"{n} trial{'s' if n != 1 else ''} not pooled, by reported direction: {parts}"
    if f["vote_favour"] + f["vote_against"]:
        text += f"; sign test p = {f['sign_test_p']:.3g}"
    return text


def describe_comparison(
    label: str, pools: Sequence[PooledEvidence], voters: pd.DataFrame, f: dict[str, Any]
) -> str:
    parts = [p.quote() for p in pools]
    votes = _votes_text(voters, f)
    if votes:
        parts.append(votes)
    return f"{label}: " + ("; ".join(parts) if parts else "no controlled evidence")


def rate_comparisons(
    rules: RuleSet,
    trials: pd.DataFrame,
    pools: Sequence[PooledEvidence],
    drug: str,
    assignment: Assignment | None = None,
) -> list[ComparisonRating]:
    """Each comparison rated by `rules.by_comparison` from its counted pools and its votes."""
    bc = _by_comparison(rules)
    counted = counted_pools(rules, pools)
    out = []
    for (cid, label), (ps, voters) in group_evidence(trials, counted, drug, assignment).items():
        n_trials = len({s for p in ps for s in p.study_ids} | set(voters["study_id"]))
        f = comparison_features(ps, voters, n_trials, bc.certainty_ranks)
        rating = rate_with(bc.levels, rules.version, f, describe_comparison(label, ps, voters, f))
        votes = tuple(zip(voters["study_id"], voters["direction"], strict=True))
        people = sum(p.participants for p in ps)
        out.append(ComparisonRating(cid, label, tuple(ps), votes, f, rating, people))
    return out


def carrier(bc: ByComparison, rated: Sequence[ComparisonRating]) -> ComparisonRating | None:
    """The comparison that carries the indication: best level, then most evidence."""
    if not rated:
        return None
    order = {lv: i for i, lv in enumerate(bc.carry_order)}
    return min(
        rated,
        key=lambda c: (
            order.get(c.rating.level, len(order)),
            -c.features["evidence_trials"],
            -c.participants,
            c.comparison,
        ),
    )


def human_trials(studies: pd.DataFrame, effects: pd.DataFrame, rules: RuleSet) -> pd.DataFrame:
    """Controlled human trials among `studies`, with route and majority efficacy direction."""
    trials = trial_directions(studies, effects, rules)
    if "species" in studies.columns:
        human = set(studies.loc[studies["species"] == "human", "study_id"])
        trials = trials[trials["study_id"].isin(human)]
    ids = studies["study_id"].tolist()
    if len(set(ids)) != len(ids):  # a study on several rows: the join repeats its trial
        return trials.merge(studies[["study_id", "route"]], on="study_id", how="left")
    route = dict(zip(ids, studies["route"].tolist(), strict=True))
    values = [route.get(s, np.nan) for s in trials["study_id"].tolist()]
    out = trials.reset_index(drop=True)
    out["route"] = pd.Series(values, dtype=studies["route"].dtype)
    return out


def counted_pools(rules: RuleSet, pools: Sequence[PooledEvidence]) -> list[PooledEvidence]:
    """Pools large enough to decide; the trials of smaller ones vote by direction instead."""
    k = _by_comparison(rules).pooled_min_k
    return [p for p in pools if p.signal.k >= k]


def rate_indication(
    rules: RuleSet,
    studies: pd.DataFrame,
    effects: pd.DataFrame,
    pools: Sequence[PooledEvidence],
    drug: str,
    assignment: Assignment | None = None,
) -> IndicationRating:
    """The indication's level: its carrying comparison's, or without trials, by design."""
    bc = _by_comparison(rules)
    trials = human_trials(studies, effects, rules)
    rated = rate_comparisons(rules, trials, pools, drug, assignment)
    carry = carrier(bc, rated)
    outside = sorted(set(trials["study_id"]) & unassigned(assignment))
    g = rules.design_groups
    features = {
        "human_controlled_trials": sum(c.features["trials"] for c in rated),
        "preclinical": int(studies["design"].isin(g["preclinical"]).sum()),
        "human_studies": int((studies["species"] == "human").sum()),
    }
    summary = _indication_summary(rated, carry, features)
    if outside:
        summary += (
            f" | {len(outside)} trial{'s' if len(outside) != 1 else ''} in no comparison of the "
            f"protocol, not rated: {' '.join(outside)}"
        )
    r = rate_with(bc.indication_levels, rules.version, features, summary)
    if r.level != "carried":
        return IndicationRating(r, tuple(rated), None, features)
    assert carry is not None  # a human controlled trial always lies in some comparison
    conditions = (
        *r.conditions,
        f"carried by {carry.label}: {'; '.join(carry.rating.conditions)}",
    )
    level = carry.rating.level
    carried = Rating(level, r.rule_set_version, conditions, summary)
    return IndicationRating(carried, tuple(rated), carry, features)


def _indication_summary(
    rated: Sequence[ComparisonRating], carry: ComparisonRating | None, f: dict[str, Any]
) -> str:
    if not f["human_controlled_trials"] or carry is None:
        return (
            f"no human controlled trial; {f['human_studies']} other human "
            f"{'study' if f['human_studies'] == 1 else 'studies'}, "
            f"{f['preclinical']} animal/in-vitro "
            f"{'study' if f['preclinical'] == 1 else 'studies'}"
        )
    text = f"carried by {carry.rating.reasons}"
    others = [c for c in rated if c is not carry]
    if others:
        text += " | other comparisons: " + " | ".join(c.rating.reasons for c in others)
    return text


def _by_comparison(rules: RuleSet) -> ByComparison:
    if rules.by_comparison is None:
        raise ValueError(
            f"rule set {rules.version} has no by_comparison section: it cannot rate comparisons"
        )
    return rules.by_comparison
