"""Synthesis without meta-analysis: a vote count by direction of effect, per comparison.

Only trials that contribute to no efficacy pool large enough to decide are counted, so no trial
is counted both in a pooled estimate and in a vote; the table says which trials were pooled
instead. With a rule set of version 1 (no `by_comparison`), trials are grouped by comparator kind.
"""

from __future__ import annotations

from collections import Counter

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.rating.comparisons import (
    Assignment,
    counted_pools,
    group_evidence,
    human_trials,
    sign_test,
)
from evidence.rating.features import trial_directions
from evidence.rating.rules import RuleSet
from evidence.synthesis.pool import Analysis
from evidence.tables.uses import efficacy_pools

DIRECTIONS = ("favours", "no_difference", "favours_control", "mixed", "unclear")


def vote_counts(
    snapshot: Snapshot,
    analyses: list[Analysis],
    rules: RuleSet,
    assignment: Assignment | None = None,
) -> pd.DataFrame:
    """`assignment`: the same study → (comparison id, label) map the ratings were given."""
    if rules.by_comparison is not None:
        return _by_comparison(snapshot, analyses, rules, assignment)
    rows = []
    for ind in snapshot.protocol.indications:
        pooled = {s for a in analyses if a.indication == ind.id for s in a.study_ids}
        own = snapshot.studies[snapshot.studies["indication"] == ind.id]
        trials = trial_directions(own, snapshot.study_effects, rules)
        for kind in ("placebo", "active"):
            sub = trials[trials["kind"] == kind]
            voting = sub[~sub["study_id"].isin(pooled)]
            counts = Counter(voting["direction"].tolist())
            rows.append(
                {
                    "indication": ind.id,
                    "comparator": kind,
                    "trials_voting": len(voting),
                    **{d: int(counts.get(d, 0)) for d in DIRECTIONS},
                    "trials_pooled_instead": " ".join(sorted(set(sub["study_id"]) & pooled)),
                    "study_ids": " ".join(voting["study_id"]),
                }
            )
    return pd.DataFrame(rows)


def _by_comparison(
    snapshot: Snapshot,
    analyses: list[Analysis],
    rules: RuleSet,
    assignment: Assignment | None,
) -> pd.DataFrame:
    rows = []
    drug = snapshot.protocol.drug.name
    for ind in snapshot.protocol.indications:
        own = snapshot.studies[snapshot.studies["indication"] == ind.id]
        trials = human_trials(own, snapshot.study_effects, rules)
        pools = counted_pools(rules, efficacy_pools(analyses, ind.id, rules, snapshot))
        for (cid, label), (ps, voters) in group_evidence(trials, pools, drug, assignment).items():
            counts = Counter(voters["direction"].tolist())
            favour, against = int(counts.get("favours", 0)), int(counts.get("favours_control", 0))
            rows.append(
                {
                    "indication": ind.id,
                    "comparison": cid,
                    "comparator": label,
                    "trials_voting": len(voters),
                    **{d: int(counts.get(d, 0)) for d in DIRECTIONS},
                    "sign_test_p": round(sign_test(favour, against), 6)
                    if favour + against
                    else None,
                    "trials_pooled_instead": " ".join(sorted({s for p in ps for s in p.study_ids})),
                    "study_ids": " ".join(voters["study_id"]),
                }
            )
    return pd.DataFrame(rows)
