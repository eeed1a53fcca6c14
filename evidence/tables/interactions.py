"""Table 4: each interaction row's supporting studies by design, and the level they reach.

Supporting studies are all candidates the citation map gives for the row's cited numbers (the
map ranks them and states its confidence); the level comes from the same rule set as the uses.
"""

from __future__ import annotations

import pandas as pd

from evidence.rating.features import describe, evidence_features
from evidence.rating.rules import RuleSet, rate
from evidence.snapshot import Snapshot
from evidence.tables.common import source_refs


def supporting_ids(snapshot: Snapshot, sources: list[int]) -> list[str]:
    if snapshot.citations is None:
        return []
    ids: set[str] = set()
    for cite in snapshot.citations.citations:
        if cite.number in sources:
            ids.update(c.study_id for c in cite.candidates)
    return sorted(ids)


def interactions_frame(snapshot: Snapshot, rules: RuleSet) -> pd.DataFrame:
    if snapshot.claims is None or "interactions" not in snapshot.claims.tables:
        return pd.DataFrame()
    rows = []
    drug = snapshot.protocol.drug.name
    for row in snapshot.claims.tables["interactions"].rows:
        sources = [int(x) for x in row.get("sources", []) or []]  # type: ignore[union-attr]
        ids = supporting_ids(snapshot, sources)
        own = snapshot.studies[snapshot.studies["study_id"].isin(ids)]
        feats = evidence_features(
            str(row.get("interaction_type")),
            own,
            snapshot.study_effects,
            snapshot.published_syntheses,
            [],
            rules,
        )
        rating = rate(rules, feats.as_rule_input(), describe(feats, [], drug))
        designs = own["design"].value_counts().sort_index()
        rows.append(
            {
                "interaction_type": row.get("interaction_type"),
                "description": row.get("description"),
                "article_sources": " ".join(str(s) for s in sources),
                "supporting_studies": len(own),
                "designs": "; ".join(f"{d} {n}" for d, n in designs.items()),
                "evidence_level": rating.level,
                "reasons": rating.reasons,
                "sources": source_refs(snapshot.refs, ids),
            }
        )
    return pd.DataFrame(rows)
