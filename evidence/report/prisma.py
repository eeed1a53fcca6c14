"""The PRISMA 2020 flow, counted from records: the sources' records, duplicates by PMID or DOI,
and each remaining record's screening decision in force.

Every number is a count of records or studies, never typed in, so the flow's identities hold by
construction: identified − duplicates = screened + awaiting screening; screened − excluded =
sought; sought − not retrieved = assessed; assessed − reports excluded = included. A study
included and then left out because its publication is retracted (`evidence.synthesis.retracted`)
is a report excluded, for that reason of its own.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape

from evidence.inputs.screening import (
    EXCLUDE,
    EXCLUDE_REPORT,
    INCLUDE,
    NOT_RETRIEVED,
    Decision,
    pmid_record,
    study_record,
)
from evidence.report.markup import one_line

DATABASES, OTHER = "databases", "other"
PRISMA_FIGURE = "prisma"  # reports/<protocol>/figures/prisma.svg
RETRACTED_REASON = "Retracted publication"  # a report excluded once its retraction is known


@dataclass(frozen=True)
class SourceRecord:
    """One record as a source gave it; `keys` are the identities duplicates are found by."""

    record: str  # pmid:<PMID> or study:<id>
    source: str  # where it was identified, as the flow names it
    method: str  # DATABASES or OTHER (the two columns of PRISMA 2020)
    keys: tuple[str, ...]


@dataclass(frozen=True)
class PrismaFlow:
    sources: tuple[tuple[str, str, int], ...]  # (method, source, records)
    identified: int
    duplicates: int
    awaiting: int  # after duplicates, no decision yet
    screened: int
    excluded: tuple[tuple[str, int], ...]  # (reason label, records) at title/abstract
    sought: int
    not_retrieved: int
    assessed: int
    reports_excluded: tuple[tuple[str, int], ...]  # (reason label, reports)
    included: int
    awaiting_extraction: int  # included, not yet a study of the data
    in_meta_analysis: int
    in_vote_count: int
    last_search: str | None
    live: bool
    # Studies of the data whose decision in force is not `include`: the data still use them.
    not_included_in_data: tuple[str, ...] = field(default_factory=tuple)
    missing_items: int = 0  # rows of missing.csv (things looked for and not found)

    @property
    def records_excluded(self) -> int:
        return sum(n for _, n in self.excluded)

    @property
    def reports_excluded_n(self) -> int:
        return sum(n for _, n in self.reports_excluded)

    def rows(self) -> list[tuple[str, int]]:
        """The flow as (step, count) rows, in the figure's order, for the Markdown report."""
        out = [
            (f"Records identified: {s} ({'databases' if m == DATABASES else 'other methods'})", n)
            for m, s, n in self.sources
        ]
        out += [
            ("Records identified, all sources", self.identified),
            ("Duplicate records removed (same PMID or DOI)", self.duplicates),
            ("Records awaiting screening", self.awaiting),
            ("Records screened", self.screened),
            ("Records excluded", self.records_excluded),
        ]
        out += [(f"… excluded: {label}", n) for label, n in self.excluded]
        out += [
            ("Reports sought for retrieval", self.sought),
            ("Reports not retrieved", self.not_retrieved),
            ("Reports assessed for eligibility", self.assessed),
            ("Reports excluded", self.reports_excluded_n),
        ]
        out += [(f"… excluded: {label}", n) for label, n in self.reports_excluded]
        out += [
            ("Studies included in the review", self.included),
            ("… included, awaiting extraction", self.awaiting_extraction),
            ("… in a meta-analysis", self.in_meta_analysis),
            ("… in a vote count by direction of effect", self.in_vote_count),
        ]
        return out


def study_source(design: str, pmid: str, doi: str, registration: str, urls: str) -> str:
    """How studies.csv says a record was found: a drug label, a trial-registry record (no PMID
    or DOI, its registration id in a source address), or another public web page."""
    if design == "drug_label":
        return "drug labels"
    regs = [r.lower() for r in registration.replace(",", " ").split() if r]
    if not pmid and not doi and any(r in urls.lower() for r in regs):
        return "trial registries"
    return "websites (journal, PubMed, news and other public pages)"


def _cache_source(source: str, retrieved: str) -> str:
    if source == "live":
        return f"PubMed, records fetched {retrieved}"
    return f"PubMed records of the curated set ({source or 'cache'}, {retrieved or 'date unknown'})"


def source_records(
    studies: Iterable[tuple[str, str, str, str]],  # (study id, source label, pmid, doi)
    cache: Iterable[tuple[str, str, str, str]],  # (pmid, doi, source, retrieved)
    queue: Iterable[tuple[str, str, str]],  # (pmid, indication label, date found)
) -> list[SourceRecord]:
    """Each source's records. A cached record that is queued is the queue row's metadata, not a
    record of its own; a PMID queued by several indications is a record of each search."""
    queue = list(queue)
    cache = list(cache)
    dois = {p: d.lower() for p, d, _, _ in cache if d}

    def ids(pmid: str, doi: str) -> tuple[str, ...]:
        keys = [f"pmid:{pmid}"] if pmid else []
        doi = doi.lower() or dois.get(pmid, "")
        return (*keys, f"doi:{doi}") if doi else tuple(keys)

    queued = {p for p, _, _ in queue}
    out = [
        SourceRecord(pmid_record(p), f"PubMed search, {label}, {found}", DATABASES, ids(p, ""))
        for p, label, found in queue
    ]
    out += [
        SourceRecord(pmid_record(p), _cache_source(src, when), DATABASES, ids(p, d))
        for p, d, src, when in cache
        if p not in queued
    ]
    out += [
        SourceRecord(study_record(s), label, OTHER, (study_record(s), *ids(pmid, doi)))
        for s, label, pmid, doi in studies
    ]
    return out


def _groups(records: Sequence[SourceRecord]) -> dict[str, int]:
    """Identity key → group number: records sharing any PMID or DOI are one record."""
    parent = list(range(len(records)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first: dict[str, int] = {}
    for i, r in enumerate(records):
        for k in (r.record, *r.keys):
            if k in first:
                parent[find(i)] = find(first[k])
            else:
                first[k] = i
    return {k: find(i) for k, i in first.items()}


def awaiting_records(records: Sequence[SourceRecord], decided: Iterable[str]) -> list[str]:
    """One record id per record with no decision, duplicates merged: a study's id if it has one."""
    group_of = _groups(records)
    done = {group_of[d] for d in decided if d in group_of}
    shown: dict[int, str] = {}
    for r in records:
        g = group_of[r.record]
        if g not in done and (g not in shown or r.record.startswith("study:")):
            shown[g] = r.record
    return sorted(shown.values())


def prisma_flow(
    records: Sequence[SourceRecord],
    decisions: Iterable[Decision],
    reasons: Mapping[str, str],
    *,
    pooled_studies: set[str],
    voting_trials: set[str],
    last_search: str | None,
    missing_items: int = 0,
    retracted: Mapping[str, str] | None = None,
) -> PrismaFlow:
    """`retracted`: study id → PMID of the studies left out as retracted; their rows are gone
    from the data, so their decisions are found through the PubMed record of that PMID."""
    group_of = _groups(records)
    groups = sorted(set(group_of.values()))
    for sid, pmid in (retracted or {}).items():
        if pmid_record(pmid) in group_of:
            group_of.setdefault(study_record(sid), group_of[pmid_record(pmid)])
    in_force: dict[int, Decision] = {}
    for d in decisions:  # file order: a later decision supersedes
        g = group_of.get(d.record)
        if g is not None:
            in_force[g] = d
    gone: set[int] = set()  # included, then left out as retracted
    for sid in retracted or {}:
        g = group_of.get(study_record(sid))
        if g is not None and g in in_force and in_force[g].decision == INCLUDE:
            gone.add(g)
    studies_in: dict[int, list[str]] = {}
    for r in records:
        if r.record.startswith("study:"):
            studies_in.setdefault(group_of[r.record], []).append(r.record[len("study:") :])
    kinds = Counter(in_force[g].decision for g in groups if g in in_force)
    excluded = Counter(
        in_force[g].reason for g in groups if g in in_force and in_force[g].decision == EXCLUDE
    )
    rep_excluded = Counter(
        in_force[g].reason
        for g in groups
        if g in in_force and in_force[g].decision == EXCLUDE_REPORT
    )
    if gone:
        rep_excluded[RETRACTED_REASON] += len(gone)
    included = [
        g for g in groups if g in in_force and in_force[g].decision == INCLUDE and g not in gone
    ]
    sources = Counter((r.method, r.source) for r in records)
    screened = sum(kinds.values())
    n_excluded = kinds[EXCLUDE]
    return PrismaFlow(
        sources=tuple((m, s, n) for (m, s), n in sorted(sources.items())),
        identified=len(records),
        duplicates=len(records) - len(groups),
        awaiting=len(groups) - screened,
        screened=screened,
        excluded=tuple(sorted((reasons.get(k, k), n) for k, n in excluded.items())),
        sought=screened - n_excluded,
        not_retrieved=kinds[NOT_RETRIEVED],
        assessed=screened - n_excluded - kinds[NOT_RETRIEVED],
        reports_excluded=tuple(sorted((reasons.get(k, k), n) for k, n in rep_excluded.items())),
        included=len(included),
        awaiting_extraction=sum(1 for g in included if g not in studies_in),
        in_meta_analysis=len(pooled_studies),
        in_vote_count=len(voting_trials - pooled_studies),
        last_search=last_search,
        live=last_search is not None,
        not_included_in_data=tuple(
            sorted(
                s
                for g, ids in studies_in.items()
                if g not in in_force or in_force[g].decision != INCLUDE
                for s in ids
            )
        ),
        missing_items=missing_items,
    )


# ---------------------------------------------------------------------------- figure

WIDTH = 780
COL_W = 330
LEFT_X, RIGHT_X = 50, 430
LINE = 16
PAD = 8
GAP = 26
WRAP = 42  # characters per line at 12 px (bold) in a 330 px box
NBSP = "\u00a0"  # keeps "(n = 12)" on one line


@dataclass(frozen=True)
class _Box:
    id: str
    n: int
    lines: tuple[str, ...]

    @property
    def height(self) -> int:
        return len(self.lines) * LINE + 2 * PAD


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(
        one_line(text), WRAP, initial_indent=indent, subsequent_indent=indent + "  "
    ) or [""]


def _n(n: int) -> str:
    return f"(n{NBSP}={NBSP}{n})"


def _box(id_: str, head: str, n: int, items: Sequence[tuple[str, int]] = ()) -> _Box:
    lines = _wrap(f"{head} {_n(n)}")
    for label, k in items:
        lines += _wrap(f"{label} {_n(k)}", "  ")
    return _Box(id_, n, tuple(lines))


def _text_box(box: _Box, x: int, y: int, fill: str) -> list[str]:
    out = [
        f'<g id="{box.id}" data-n="{box.n}">',
        f'<rect x="{x}" y="{y}" width="{COL_W}" height="{box.height}" fill="{fill}" '
        'stroke="#4a7ab5" stroke-width="1"/>',
    ]
    for i, line in enumerate(box.lines):
        ty = y + PAD + LINE * (i + 1) - 4
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(
            f'<text x="{x + PAD}" y="{ty}" xml:space="preserve"{weight}>{escape(line)}</text>'
        )
    out.append("</g>")
    return out


def _arrow(x1: int, y1: int, x2: int, y2: int) -> list[str]:
    """A line ending in a filled head (no <marker>: only drawing elements are allowed)."""
    out = [f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="#333" stroke-width="1.2"/>']
    if x1 == x2:  # down
        head = f"{x2 - 5},{y2 - 8} {x2 + 5},{y2 - 8} {x2},{y2}"
    else:  # right
        head = f"{x2 - 8},{y2 - 5} {x2 - 8},{y2 + 5} {x2},{y2}"
    return [*out, f'<polygon points="{head}" fill="#333"/>']


def prisma_svg(flow: PrismaFlow) -> str:
    """The PRISMA 2020 flow diagram: identification, screening, included; text escaped, layout
    computed from the counts alone, so identical flows give identical bytes."""
    by_method = {m: [(s, n) for mm, s, n in flow.sources if mm == m] for m in (DATABASES, OTHER)}
    identified = _box(
        "prisma-identified",
        "Records identified",
        flow.identified,
        [(f"databases: {s}", n) for s, n in by_method[DATABASES]]
        + [(f"other methods: {s}", n) for s, n in by_method[OTHER]],
    )
    rows: list[tuple[str, _Box | None, _Box | None]] = [
        (
            "Identification",
            identified,
            _box(
                "prisma-duplicates",
                "Duplicate records removed before screening (same PMID or DOI)",
                flow.duplicates,
            ),
        ),
        (
            "Identification",
            None,
            _box("prisma-awaiting", "Records awaiting screening", flow.awaiting),
        ),
        (
            "Screening",
            _box("prisma-screened", "Records screened", flow.screened),
            _box("prisma-excluded", "Records excluded", flow.records_excluded, flow.excluded),
        ),
        (
            "Screening",
            _box("prisma-sought", "Reports sought for retrieval", flow.sought),
            _box("prisma-not-retrieved", "Reports not retrieved", flow.not_retrieved),
        ),
        (
            "Screening",
            _box("prisma-assessed", "Reports assessed for eligibility", flow.assessed),
            _box(
                "prisma-reports-excluded",
                "Reports excluded",
                flow.reports_excluded_n,
                flow.reports_excluded,
            ),
        ),
        (
            "Included",
            _box(
                "prisma-included",
                "Studies included in the review",
                flow.included,
                [
                    ("included, awaiting extraction", flow.awaiting_extraction),
                    ("in a meta-analysis", flow.in_meta_analysis),
                    ("in a vote count by direction of effect only", flow.in_vote_count),
                ],
            ),
            None,
        ),
    ]
    body: list[str] = []
    y = 10
    mid = LEFT_X + COL_W // 2
    last_bottom: int | None = None
    phases: list[tuple[str, int, int]] = []
    for phase, left, right in rows:
        h = max(b.height for b in (left, right) if b is not None)
        if left is not None:
            if last_bottom is not None:
                body += _arrow(mid, last_bottom, mid, y)
            body += _text_box(left, LEFT_X, y, "#f6f9fd")
            last_bottom = y + left.height
        if right is not None:
            ay = y + min(right.height, left.height if left else right.height) // 2
            body += _arrow(LEFT_X + COL_W if left else mid, ay, RIGHT_X, ay)
            body += _text_box(right, RIGHT_X, y, "#ffffff")
        if phases and phases[-1][0] == phase:
            phases[-1] = (phase, phases[-1][1], y + h)
        else:
            phases.append((phase, y, y + h))
        y += h + GAP
    bands = []
    for phase, top, bottom in phases:
        cy = (top + bottom) // 2
        bands += [
            f'<rect x="6" y="{top}" width="28" height="{bottom - top}" fill="#4a7ab5"/>',
            f'<text x="20" y="{cy}" fill="#ffffff" font-weight="bold" text-anchor="middle" '
            f'dominant-baseline="middle" transform="rotate(-90 20 {cy})">{escape(phase)}</text>',
        ]
    height = y - GAP + 10
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
            f'viewBox="0 0 {WIDTH} {height}" font-family="DejaVu Sans, sans-serif" '
            'font-size="12" role="img" aria-labelledby="prisma-title">',
            '<title id="prisma-title">PRISMA 2020 flow diagram</title>',
            *bands,
            *body,
            "</svg>",
            "",
        ]
    )
