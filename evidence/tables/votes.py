"""Synthesis without meta-analysis: a vote count by direction of effect, per indication.

Only trials that contribute no arm-level numbers to any pool are counted, so no trial is counted
both in a pooled estimate and in a vote; the table says which trials were pooled instead.
"""

from __future__ import annotations

import pandas as pd

from evidence.rating.features import trial_directions
from evidence.rating.rules import RuleSet
from evidence.snapshot import Snapshot
from evidence.synthesis import Analysis

DIRECTIONS = ("favours", "no_difference", "favours_control", "mixed", "unclear")


def vote_counts(snapshot: Snapshot, analyses: list[Analysis], rules: RuleSet) -> pd.DataFrame:
    rows = []
    for ind in snapshot.protocol.indications:
        pooled = {s for a in analyses if a.indication == ind.id for s in a.study_ids}
        own = snapshot.studies[snapshot.studies["indication"] == ind.id]
        trials = trial_directions(own, snapshot.study_effects, rules)
        for kind in ("placebo", "active"):
            sub = trials[trials["kind"] == kind]
            voting = sub[~sub["study_id"].isin(pooled)]
            counts = voting["direction"].value_counts()
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
