"""Render the run's report as one self-contained HTML page and as Markdown.

All text from data files and PubMed goes through Jinja2's autoescaping (HTML) or `md_inline`
(Markdown, applied to every `{{ }}` by the environment); ids, links and code spans go through
`evidence.report.markup`. Only the SVG figures this package draws are marked safe, in Python,
and only after `check_figure` has proved each holds no script, event handler or foreign link.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from jinja2 import Environment, FileSystemBytecodeCache, PackageLoader, StrictUndefined
from jinja2.bccache import Bucket
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
from evidence.report.prisma import PrismaFlow, prisma_svg
from evidence.report.references import Reference, References, cited_numbers
from evidence.report.sensitivity import SensitivityRow
from evidence.report.sof import FindingRow
from evidence.report.svgcheck import check_figure, check_svg
from evidence.runs.history import Changes, Manifest


@dataclass(frozen=True)
class Figure:
    key: str  # file stem under figures/
    title: str
    kind: str  # forest | funnel | cumulative
    indication: str
    svg: str
    sources: tuple[str, ...] = ()  # the studies drawn, cited in the caption
    note: str = ""  # a funnel plot's test result, or why a pooled outcome has no funnel plot


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
    prisma: PrismaFlow
    references: References
    indications: list[tuple[str, str]]
    last_search: dict[str, str] = field(default_factory=dict)
    stale: dict[str, str] = field(default_factory=dict)
    unassigned: pd.DataFrame = field(default_factory=pd.DataFrame)  # studies in no comparison
    methods: list[str] = field(default_factory=list)  # how pools were formed and counted
    dose_response: pd.DataFrame = field(default_factory=pd.DataFrame)
    dose_counts: dict[str, int] = field(default_factory=dict)
    arm_doses: pd.DataFrame = field(default_factory=pd.DataFrame)
    claims_audit: pd.DataFrame | None = None  # the article's claims with their verdicts
    # sensitivity analyses of pools without a summary-of-findings row (single-group pools)
    other_sensitivity: list[SensitivityRow] = field(default_factory=list)


def md_cell(v: Any) -> str:
    """A Markdown table cell from data: one line, no HTML, no pipe, link or block syntax."""
    return md_inline(v)


def _external(ref: str) -> Markup:
    """A source naming no reference on the page: a program-built link or escaped text."""
    if ref.startswith("PMID:") and pubmed_url(ref[5:]):
        return html_link(f"PMID {ref[5:]}", pubmed_url(ref[5:]))
    if ref.startswith("doi:") and doi_url(ref[4:]):
        return html_link(ref, doi_url(ref[4:]))
    return Markup("{0}").format(ref)


def _cite_html(refs: References, v: Any) -> Markup:
    """Sources as their numbered references, `[2, 5]`, each number a link to `#ref-N`."""
    nums, unknown = cited_numbers(v, refs)
    parts: list[Markup] = []
    if nums:
        links = Markup(", ").join(
            Markup('<a class="cite" href="#ref-{0}">{0}</a>').format(n) for n in nums
        )
        parts.append(Markup("[{0}]").format(links))
    parts.extend(_external(u) for u in unknown)
    return Markup(" ").join(parts)


def _cite_md(refs: References, v: Any) -> Md:
    nums, unknown = cited_numbers(v, refs)
    parts = [f"[{', '.join(map(str, nums))}]"] if nums else []
    parts.extend(md_inline(u) for u in unknown)
    return Md(" ".join(parts))


def study_label(r: Reference) -> str:
    """ "Author Year" as a reader cites a study; the title's start when no author is known."""
    if r.authors:
        name = r.authors.split(",")[0].split(" ")[0]
        return f"{name} {r.year}".strip()
    words = r.title.split()
    return " ".join(words[:6]) + ("…" if len(words) > 6 else "")


def _study_html(refs: References, v: Any) -> Markup:
    """A study named as "Author Year [N]", linked to its reference; escaped text if none."""
    nums = refs.cite(cell(v))
    if not nums:
        return Markup("{0}").format(cell(v))
    entry = refs.entries[nums[0] - 1]
    return Markup('{0} [<a class="cite" href="#ref-{1}">{1}</a>]').format(
        study_label(entry), entry.number
    )


def _study_md(refs: References, v: Any) -> Md:
    nums = refs.cite(cell(v))
    if not nums:
        return md_inline(v)
    entry = refs.entries[nums[0] - 1]
    return Md(f"{md_inline(study_label(entry))} [{entry.number}]")


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
        retracted=each(changes.retracted),
        moved=each(changes.moved),
        new_analyses=each(changes.new_analyses),
        removed_analyses=each(changes.removed_analyses),
        ratings=each(changes.ratings),
        certainty=each(changes.certainty),
    )


def _records(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [{k: cell(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _references(refs: References, labels: dict[str, str]) -> list[dict[str, Any]]:
    """Reference entries with the links the program builds from their PMID and DOI."""
    return [
        {
            "r": r,
            "anchor": dom_id(r.study_id),
            "about": "; ".join(
                x for x in (r.design.replace("_", " "), labels.get(r.indication, "")) if x
            ),
            "pubmed_url": pubmed_url(r.pmid),
            "doi_url": doi_url(r.doi),
        }
        for r in refs.entries
    ]


def _claim_counts(frame: pd.DataFrame | None) -> list[tuple[str, int]]:
    """Claims per verdict, most severe first, every verdict named."""
    if frame is None:
        return []
    from evidence.tables.claims_audit import verdict_counts

    return list(verdict_counts(frame).items())


TEMPLATE_CACHE = Path(__file__).resolve().parent / "templates" / "__pycache__"


class _TemplateCache(FileSystemBytecodeCache):
    """Compiled templates kept beside them, as Python keeps its bytecode: compiling the two
    templates is a tenth of a second a run. An entry is keyed by the template, its options and
    Jinja's version, and checked against the template's source (Jinja's checksum), so it is
    never stale; one that cannot be read or written costs only the compiling."""

    def __init__(self, kind: str) -> None:
        super().__init__(str(TEMPLATE_CACHE), f"{kind}-%s.jinja")
        self.kind = kind

    def get_cache_key(self, name: str, filename: str | None = None) -> str:
        return super().get_cache_key(f"{self.kind}|{jinja2.__version__}|{name}", filename)

    def load_bytecode(self, bucket: Bucket) -> None:
        try:
            super().load_bytecode(bucket)
        except Exception:  # a damaged entry: compile again
            bucket.reset()

    def dump_bytecode(self, bucket: Bucket) -> None:
        try:
            TEMPLATE_CACHE.mkdir(exist_ok=True)
            super().dump_bytecode(bucket)
        except OSError:  # a read-only install
            pass


def _env(kind: str, refs: References | None = None) -> Environment:
    """HTML: Jinja's autoescaping. Markdown: `md_inline` on every `{{ }}` that is not `Md`."""
    env = Environment(
        loader=PackageLoader("evidence", "report/templates"),
        bytecode_cache=_TemplateCache(kind),
        autoescape=kind == "html",
        finalize=_md_final if kind == "md" else None,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["dom_id"] = dom_id
    refs = refs or References()
    env.filters["refs"] = partial(_cite_html if kind == "html" else _cite_md, refs)
    env.filters["study"] = partial(_study_html if kind == "html" else _study_md, refs)
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
        "references": _references(data.references, dict(data.indications)),
        "claims": _records(data.claims_audit) if data.claims_audit is not None else None,
        "claim_counts": _claim_counts(data.claims_audit),
    }


def render_html(data: ReportData, context: dict[str, Any] | None = None) -> str:
    ctx = dict(_context(data) if context is None else context)
    for f in data.figures:
        check_figure(f)
    ctx["svgs"] = {f.key: Markup(f.svg) for f in data.figures}  # drawn and checked here
    flow_svg = prisma_svg(data.prisma)
    check_svg(flow_svg, "PRISMA flow diagram")
    ctx["prisma_svg"] = Markup(flow_svg)
    return _env("html", data.references).get_template("report.html").render(**ctx)


def render_markdown(data: ReportData, context: dict[str, Any] | None = None) -> str:
    changes = escaped_changes(data.changes).to_markdown().rstrip("\n")
    ctx = (_context(data) if context is None else context) | {"changes_md": Md(changes)}
    return _env("md", data.references).get_template("report.md").render(**ctx)


def render_report(data: ReportData) -> tuple[str, str]:
    """The HTML page and the Markdown report, from one reading of the tables."""
    context = _context(data)
    return render_html(data, context), render_markdown(data, context)


__all__ = [
    "Figure",
    "ReportData",
    "escape",
    "escaped_changes",
    "md_cell",
    "render_html",
    "render_markdown",
    "render_report",
]
