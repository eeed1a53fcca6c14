"""Render the run's report as one self-contained HTML page and as Markdown.

All text from data files and PubMed goes through Jinja2's autoescaping (HTML) or `md_inline`
(Markdown, applied to every `{{ }}` by the environment); ids, links and code spans go through
`evidence.report.markup`. Only the SVG figures this package draws are marked safe, in Python,
and only after `check_figure` has proved each holds no script, event handler or foreign link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup, escape

from evidence.report.markup import (
    Md,
    cell,
    doi_url,
    dom_id,
    html_link,
    md_code,
    md_inline,
    md_link,
    pubmed_url,
)
from evidence.report.prisma import PrismaCounts
from evidence.report.sof import FindingRow
from evidence.report.svgcheck import check_figure
from evidence.runs.history import Changes, Manifest


@dataclass(frozen=True)
class Figure:
    key: str  # file stem under figures/
    title: str
    kind: str  # forest | funnel | cumulative
    indication: str
    svg: str


@dataclass
class ReportData:
    title: str
    protocol: str
    protocol_version: str
    rule_set_version: str
    run: Manifest
    changes: Changes
    uses: pd.DataFrame
    findings: list[FindingRow]
    figures: list[Figure]
    dosage: pd.DataFrame
    side_effects: pd.DataFrame
    interactions: pd.DataFrame
    votes: pd.DataFrame
    agreement: pd.DataFrame
    prisma: PrismaCounts
    references: pd.DataFrame
    indications: list[tuple[str, str]]
    last_search: dict[str, str] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    unassigned: pd.DataFrame = field(default_factory=pd.DataFrame)  # studies in no comparison
    methods: list[str] = field(default_factory=list)  # how pools were formed and counted
    dose_response: pd.DataFrame = field(default_factory=pd.DataFrame)
    dose_counts: dict[str, int] = field(default_factory=dict)
    arm_doses: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims_audit: pd.DataFrame | None = None  # the article's claims with their verdicts


def md_cell(v: Any) -> str:
    """A Markdown table cell from data: one line, no HTML, no pipe, link or block syntax."""
    return md_inline(v)


def _ref_links(v: Any) -> Markup:
    """`PMID:n` and `doi:x` references as links; a study id as a link to its reference.

    Links are built here from a validated PMID or DOI; anything else is escaped text.
    """
    parts = []
    for ref in cell(v).split():
        if ref.startswith("PMID:") and pubmed_url(ref[5:]):
            parts.append(html_link(f"PMID {ref[5:]}", pubmed_url(ref[5:])))
        elif ref.startswith("doi:") and doi_url(ref[4:]):
            parts.append(html_link(ref, doi_url(ref[4:])))
        elif ref.startswith(("PMID:", "doi:")):
            parts.append(Markup("{0}").format(ref))
        else:
            parts.append(Markup('<a href="#ref-{0}">{1}</a>').format(dom_id(ref), ref))
    return Markup(" ").join(parts)


def _md_final(v: Any) -> str:
    """Every `{{ }}` of the Markdown template: data is escaped unless the program built it."""
    return v if isinstance(v, Md) else md_inline(v)


def escaped_changes(changes: Changes) -> Changes:
    """The comparison with every data item escaped for Markdown (`md_inline`), so that its
    `to_markdown()` is safe wherever Markdown is rendered (report.md, changelog.md, artifacts)."""

    def run(r: str | None) -> str | None:
        return r if r is None or re.fullmatch(r"[0-9A-Za-z._-]+", r) else dom_id(r)

    def each(items: tuple) -> tuple:
        return tuple(
            tuple(md_inline(x) for x in item) if isinstance(item, tuple) else md_inline(item)
            for item in items
        )

    return replace(
        changes,
        old_run=run(changes.old_run),
        new_run=run(changes.new_run) or "",
        new_studies=each(changes.new_studies),
        removed_studies=each(changes.removed_studies),
        moved=each(changes.moved),
        new_analyses=each(changes.new_analyses),
        removed_analyses=each(changes.removed_analyses),
        ratings=each(changes.ratings),
        certainty=each(changes.certainty),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [{k: cell(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _references(frame: pd.DataFrame) -> list[dict[str, str | None]]:
    """Reference rows with the links the program builds from their PMID and DOI."""
    rows: list[dict[str, str | None]] = []
    for r in _records(frame):
        rows.append(r | {"pubmed_url": pubmed_url(r["pmid"]), "doi_url": doi_url(r["doi"])})
    return rows


def _claim_counts(frame: pd.DataFrame | None) -> list[tuple[str, int]]:
    """Claims per verdict, most severe first, every verdict named."""
    if frame is None:
        return []
    from evidence.tables.claims_audit import verdict_counts

    return list(verdict_counts(frame).items())


def _env(kind: str) -> Environment:
    """HTML: Jinja's autoescaping. Markdown: `md_inline` on every `{{ }}` that is not `Md`."""
    env = Environment(
        loader=PackageLoader("evidence", "report/templates"),
        autoescape=kind == "html",
        finalize=_md_final if kind == "md" else None,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dom_id"] = dom_id
    env.filters["refs"] = _ref_links
    env.filters["link"] = html_link if kind == "html" else md_link
    env.filters["code"] = md_code
    return env


def _context(data: ReportData) -> dict[str, Any]:
    return {
        "d": data,
        "uses": _records(data.uses),
        "dosage": _records(data.dosage),
        "side_effects": _records(data.side_effects),
        "interactions": _records(data.interactions),
        "votes": _records(data.votes),
        "agreement": _records(data.agreement),
        "unassigned": _records(data.unassigned),
        "dose_response": _records(data.dose_response),
        "arm_doses": _records(data.arm_doses),
        "references": _references(data.references),
        "claims": _records(data.claims_audit) if data.claims_audit is not None else None,
        "claim_counts": _claim_counts(data.claims_audit),
    }


def render_html(data: ReportData) -> str:
    ctx = _context(data)
    for f in data.figures:
        check_figure(f)
    ctx["svgs"] = {f.key: Markup(f.svg) for f in data.figures}  # drawn and checked here
    return _env("html").get_template("report.html").render(**ctx)


def render_markdown(data: ReportData) -> str:
    changes = escaped_changes(data.changes).to_markdown().rstrip("\n")
    ctx = _context(data) | {"changes_md": Md(changes)}
    return _env("md").get_template("report.md").render(**ctx)


__all__ = [
    "Figure",
    "ReportData",
    "escape",
    "escaped_changes",
    "md_cell",
    "render_html",
    "render_markdown",
]
