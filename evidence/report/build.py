"""Assemble the report's pieces from the run's results: figures, findings, flow, references."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.pubmed.records import PubmedRecord
from evidence.rating.grade import Certainty
from evidence.report.markup import dom_id
from evidence.report.plots import ForestGroup, cumulative_svg, forest_svg, funnel_svg, scope_ids
from evidence.report.prisma import PrismaCounts, prisma_counts
from evidence.report.references import References, build_references
from evidence.report.render import Figure
from evidence.synthesis.pool import (
    ALL_TIERS,
    EGGER_MIN_K,
    PRIMARY,
    SINGLE,
    UNTIERED,
    Analysis,
    cumulative_pools,
)

FUNNEL_MIN_K = EGGER_MIN_K
CUMULATIVE_MIN_K = 3


def figure_key(indication: str, outcome: str, kind: str, comparison: str = "") -> str:
    """Names the figure's file and prefixes its SVG ids: a plain id whatever the data's ids hold."""
    if comparison:
        return dom_id(f"{indication}-{comparison}-{outcome}-{kind}")
    return dom_id(f"{indication}-{outcome}-{kind}")


def _cited(snapshot: Snapshot, a: Analysis) -> tuple[str, ...]:
    """The figure's studies as the source tokens the tables cite (PMID, DOI or the id)."""
    return tuple(snapshot.refs.get(s, s) for s in a.study_ids)


def figures(snapshot: Snapshot, analyses: list[Analysis]) -> list[Figure]:
    """Per indication × comparison × outcome: a forest plot by dose tier, a cumulative plot by
    year (k ≥ 3: with two studies it only repeats the forest plot), and a funnel plot when
    k ≥ 10. Every interval drawn follows the protocol's one small-k rule."""
    order = {i.id: n for n, i in enumerate(snapshot.protocol.indications)}
    tier_rank: dict[str, int] = {}
    for spec in snapshot.protocol.dose_tiers.values():
        for n, t in enumerate(spec.tiers):
            tier_rank.setdefault(t.label, n)
    out: list[Figure] = []
    overall = [a for a in analyses if a.tier == ALL_TIERS and a.analysis == PRIMARY]
    for a in sorted(
        overall, key=lambda a: (order.get(a.indication, 99), a.comparison, a.outcome.id)
    ):
        key = partial(figure_key, a.indication, a.outcome.id, comparison=a.comparison)
        label = f"{snapshot.protocol.indication(a.indication).label}: {a.outcome.label}"
        if a.comparison_label:
            label += f" — {a.comparison_label}"
        tiers = [
            b
            for b in analyses
            if (b.indication, b.comparison, b.outcome.id, b.analysis)
            == (a.indication, a.comparison, a.outcome.id, PRIMARY)
            and b.tier != ALL_TIERS
        ]
        tiers.sort(key=lambda b: (b.tier in UNTIERED, tier_rank.get(b.tier, 99), b.tier))
        groups = [ForestGroup(f"{b.tier} dose", b.result) for b in tiers] or [
            ForestGroup("all", a.result)
        ]
        measure = a.result.measure
        title = f"{label} ({measure})"
        out.append(
            Figure(
                key("forest"),
                f"Forest plot by dose tier — {title}",
                "forest",
                a.indication,
                scope_ids(forest_svg(title, groups, a.result), key("forest")),
                _cited(snapshot, a),
            )
        )
        if a.result.k >= CUMULATIVE_MIN_K:
            seq = cumulative_pools(a, snapshot.protocol)
            out.append(
                Figure(
                    key("cumulative"),
                    f"Cumulative meta-analysis by year — {title}",
                    "cumulative",
                    a.indication,
                    scope_ids(cumulative_svg(title, seq, a.years), key("cumulative")),
                    _cited(snapshot, a),
                )
            )
        if a.result.k >= FUNNEL_MIN_K and measure not in SINGLE:
            out.append(
                Figure(
                    key("funnel"),
                    f"Funnel plot — {title}",
                    "funnel",
                    a.indication,
                    scope_ids(funnel_svg(title, a.result), key("funnel")),
                    _cited(snapshot, a),
                )
            )
    return out


def references(snapshot: Snapshot, records: Mapping[str, PubmedRecord]) -> References:
    """The page's numbered references: every study, from its cached PubMed record if any."""
    return build_references(
        snapshot.studies,
        snapshot.refs,
        records,
        snapshot.source_hosts,
        snapshot.pubmed_records,
    )


def flow(
    snapshot: Snapshot,
    analyses: list[Analysis],
    votes: pd.DataFrame,
    cached: set[str],
    queue: list[tuple[str, str]],
    last_search: str | None,
) -> PrismaCounts:
    pmids = {
        s: (p if isinstance(p, str) else None)
        for s, p in zip(snapshot.studies["study_id"], snapshot.studies["pmid"], strict=True)
    }
    pooled = {s for a in analyses for s in a.study_ids}
    voting = {s for ids in votes["study_ids"] for s in str(ids).split() if s}
    return prisma_counts(
        cached_pmids=cached,
        queue=queue,
        study_pmids=pmids,
        pooled_studies=pooled,
        voting_trials=voting,
        last_search=last_search,
    )


def certainty_keyed(certainty: dict[tuple, Certainty]) -> dict[str, str]:
    return {"|".join(k): c.level for k, c in sorted(certainty.items())}
