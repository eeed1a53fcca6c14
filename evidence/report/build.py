"""Assemble the report's pieces from the run's results: figures, findings, flow, references."""

from __future__ import annotations

from functools import partial

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.rating.grade import Certainty
from evidence.report.markup import dom_id
from evidence.report.plots import ForestGroup, cumulative_svg, forest_svg, funnel_svg, scope_ids
from evidence.report.prisma import PrismaFlow, prisma_flow, source_records, study_source
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
                )
            )
    return out


def references(snapshot: Snapshot) -> pd.DataFrame:
    cols = [
        "study_id",
        "first_author",
        "year",
        "title",
        "journal",
        "pmid",
        "doi",
        "design",
        "indication",
    ]
    refs = snapshot.studies[cols].copy()
    extra = snapshot.pubmed_records.dropna(subset=["pmid"]).drop_duplicates("study_id")
    fill = dict(zip(extra["study_id"], extra["pmid"], strict=True))
    refs["pmid"] = [
        p if isinstance(p, str) else fill.get(s)
        for s, p in zip(refs["study_id"], refs["pmid"], strict=True)
    ]
    refs["year"] = refs["year"].astype("Int64")
    refs["first_author"] = refs["first_author"].fillna(refs["study_id"])
    return refs.sort_values(["first_author", "year", "study_id"], na_position="last").reset_index(
        drop=True
    )


def flow(
    snapshot: Snapshot,
    analyses: list[Analysis],
    votes: pd.DataFrame,
    cache: list[tuple[str, str, str, str]],  # (pmid, doi, source, retrieved)
    queue: list[tuple[str, str, str]],  # (pmid, indication, date found)
    last_search: str | None,
) -> PrismaFlow:
    """The PRISMA 2020 flow of the run: studies.csv rows, cached and queued PubMed records,
    and the screening decisions in force."""
    s = snapshot.studies
    extra = snapshot.pubmed_records.dropna(subset=["pmid"]).drop_duplicates("study_id")
    pmid_of = dict(zip(extra["study_id"], extra["pmid"], strict=True))
    doi_of = dict(zip(extra["study_id"], extra["doi"], strict=True))

    def text(v: object) -> str:
        return v if isinstance(v, str) else ""

    studies = []
    for sid, design, pmid, doi, reg, urls in zip(
        s["study_id"],
        s["design"],
        s["pmid"],
        s["doi"],
        s["registration"],
        s["source_urls"],
        strict=True,
    ):
        pmid = text(pmid) or text(pmid_of.get(sid))
        doi = text(doi) or text(doi_of.get(sid))
        label = study_source(text(design), pmid, doi, text(reg), text(urls))
        studies.append((sid, label, pmid, doi))
    labels = {i.id: i.label for i in snapshot.protocol.indications}
    records = source_records(
        studies, cache, [(p, labels.get(i, i), found) for p, i, found in queue]
    )
    pooled = {s for a in analyses for s in a.study_ids}
    voting = {s for ids in votes["study_ids"] for s in str(ids).split() if s}
    return prisma_flow(
        records,
        snapshot.screening,
        snapshot.protocol.screening.reasons,
        pooled_studies=pooled,
        voting_trials=voting,
        last_search=last_search,
        missing_items=len(snapshot.missing),
    )


def certainty_keyed(certainty: dict[tuple, Certainty]) -> dict[str, str]:
    return {"|".join(k): c.level for k, c in sorted(certainty.items())}
