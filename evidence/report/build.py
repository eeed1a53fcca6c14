"""Assemble the report's pieces from the run's results: figures, findings, flow, references."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.pubmed.records import PubmedRecord
from evidence.rating.grade import Certainty
from evidence.report.figcache import FigureCache
from evidence.report.labels import arm_cells, comparator_name, favours, study_labels
from evidence.report.markup import dom_id
from evidence.report.plots import (
    ForestGroup,
    ForestStyle,
    StudyRow,
    cumulative_svg,
    forest_svg,
    funnel_svg,
    scope_ids,
)
from evidence.report.prisma import PrismaFlow, prisma_flow, source_records, study_source
from evidence.report.references import References, build_references
from evidence.report.render import Figure
from evidence.synthesis.pool import (
    ALL_TIERS,
    BINARY,
    CONTINUOUS,
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


def funnel_note(a: Analysis, min_k: int) -> str:
    """The funnel plot's caption (Egger's regression test), or why there is no funnel plot."""
    k = a.result.k
    if k < min_k:
        return (
            f"Funnel plot not drawn: k = {k} < {min_k} (too few studies for a funnel plot or a "
            "small-study test to mean anything)."
        )
    if a.result.measure in SINGLE:
        return "Funnel plot not drawn: single-group proportions have no comparator."
    if a.egger_p is not None:
        return f"Egger's regression test (regtest): p = {a.egger_p:.3f} (k = {k})."
    return f"Egger's regression test: {a.egger_note or 'not run'} (k = {k})."


def _rows(b: Analysis, labels: dict[str, str], width: int) -> tuple[StudyRow, ...]:
    continuous = b.result.measure in CONTINUOUS
    arms = b.arm_numbers or tuple(() for _ in b.result.studies)
    return tuple(
        StudyRow(labels.get(s, s), arm_cells(n, width, continuous) if width else ())
        for s, n in zip(b.result.studies, arms, strict=True)
    )


def _style(snapshot: Snapshot, a: Analysis) -> ForestStyle:
    """Arm headers from the protocol's drug and the comparison's other arm; the favours labels
    oriented by the outcome's benefit direction."""
    drug = snapshot.protocol.drug.name
    comparator = comparator_name(a.comparison_label)
    measure = a.result.measure
    if measure in SINGLE:
        return ForestStyle((drug.capitalize(),), "events/total")
    if measure not in BINARY and measure not in CONTINUOUS:
        return ForestStyle()
    other = comparator or "control"
    units = "mean (SD) n" if measure in CONTINUOUS else "events/total"
    return ForestStyle(
        (drug.capitalize(), other[:1].upper() + other[1:]),
        units,
        favours(drug, other, a.outcome.benefit),
        a.tier_test,
    )


def figures(
    snapshot: Snapshot,
    analyses: list[Analysis],
    funnel_min_k: int = FUNNEL_MIN_K,
    cache: FigureCache | None = None,
) -> list[Figure]:
    """Per indication × comparison × outcome: a forest plot by dose tier, a cumulative plot by
    year (k ≥ 3: with two studies it only repeats the forest plot), and a funnel plot when
    k ≥ `funnel_min_k` (the rule set's publication-bias minimum), else the forest plot says why
    not. Every interval drawn follows the protocol's one small-k rule; studies are named
    "Author Year" (`evidence.report.labels`), never by their ids. With a `cache`, a figure
    whose inputs were drawn before is not drawn again (`evidence.report.figcache`)."""
    draw = (cache or FigureCache(None)).svg
    order = {i.id: n for n, i in enumerate(snapshot.protocol.indications)}
    labels = study_labels(snapshot.studies)
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
        style = _style(snapshot, a)
        width = len(style.arm_headers)
        groups = [
            ForestGroup(f"{b.tier.capitalize()} dose", b.result, _rows(b, labels, width))
            for b in tiers
        ] or [ForestGroup("all", a.result, _rows(a, labels, width))]
        measure = a.result.measure
        title = f"{label} ({measure})"
        note = funnel_note(a, funnel_min_k)
        drawn = a.result.k >= funnel_min_k and measure not in SINGLE
        out.append(
            Figure(
                key("forest"),
                f"Forest plot by dose tier — {title}",
                "forest",
                a.indication,
                scope_ids(
                    draw("forest", forest_svg, title, groups, a.result, style), key("forest")
                ),
                _cited(snapshot, a),
                "" if drawn else note,
            )
        )
        if a.result.k >= CUMULATIVE_MIN_K:
            seq = cumulative_pools(a, snapshot.protocol)
            names = [labels.get(s, s) for s in seq.labels]
            svg = draw("cumulative", cumulative_svg, title, seq, a.years, names, style.favours)
            out.append(
                Figure(
                    key("cumulative"),
                    f"Cumulative meta-analysis by year — {title}",
                    "cumulative",
                    a.indication,
                    scope_ids(svg, key("cumulative")),
                    _cited(snapshot, a),
                )
            )
        if drawn:
            out.append(
                Figure(
                    key("funnel"),
                    f"Funnel plot — {title}",
                    "funnel",
                    a.indication,
                    scope_ids(draw("funnel", funnel_svg, title, a.result), key("funnel")),
                    _cited(snapshot, a),
                    note,
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
        retracted=(
            {s: r.pmid for s, r in snapshot.retracted.items()}
            if snapshot.protocol.exclude_retracted
            else None
        ),
    )


def certainty_keyed(certainty: dict[tuple, Certainty]) -> dict[str, str]:
    return {"|".join(k): c.level for k, c in sorted(certainty.items())}
