"""Render the run's report as one self-contained HTML page and as Markdown.

All text from data files and PubMed goes through Jinja2's autoescaping (HTML) or the `md`
filter (Markdown); only the SVG figures this package draws are marked safe, in Python.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from evidence.history import Changes, Manifest
from evidence.report.prisma import PrismaCounts
from evidence.report.sof import FindingRow


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


def _cell(v: Any) -> str:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def md_cell(v: Any) -> str:
    text = _cell(v)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ("|", "\\|"), ("\n", " ")):
        text = text.replace(a, b)
    return text


def _md_block(v: Any) -> str:
    """Markdown we wrote ourselves, with data in it: escape HTML, keep the line structure."""
    text = _cell(v)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
        text = text.replace(a, b)
    return text.rstrip("\n")


def _ref_links(v: Any) -> Markup:
    """`PMID:n` and `doi:x` references as links; anything else as an escaped study id."""
    parts = []
    for ref in _cell(v).split():
        if ref.startswith("PMID:"):
            pmid = ref[5:]
            parts.append(
                Markup('<a href="https://pubmed.ncbi.nlm.nih.gov/{0}/">PMID {0}</a>').format(pmid)
            )
        elif ref.startswith("doi:"):
            parts.append(Markup('<a href="https://doi.org/{0}">doi:{0}</a>').format(ref[4:]))
        else:
            parts.append(Markup('<a href="#ref-{0}">{0}</a>').format(ref))
    return Markup(" ").join(parts)


def _records(frame: pd.DataFrame) -> list[dict[str, str]]:
    return [{k: _cell(v) for k, v in row.items()} for row in frame.to_dict("records")]


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("evidence", "report/templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_cell
    env.filters["md_block"] = _md_block
    env.filters["refs"] = _ref_links
    env.filters["cell"] = _cell
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
        "references": _records(data.references),
        "changes_md": data.changes.to_markdown(),
    }


def render_html(data: ReportData) -> str:
    ctx = _context(data)
    ctx["svgs"] = {f.key: Markup(f.svg) for f in data.figures}  # drawn here, not data
    return _env().get_template("report.html").render(**ctx)


def render_markdown(data: ReportData) -> str:
    return _env().get_template("report.md").render(**_context(data))


__all__ = ["Figure", "ReportData", "escape", "render_html", "render_markdown"]
