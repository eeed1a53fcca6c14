"""Hostile text for the escaping tests: markup, scripts, line breaks, links and formulas in labels,
titles and authors, and the checks a rendered page or Markdown file must pass."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml
from click.testing import Result
from markdown_it import MarkdownIt

from evidence import pipeline
from evidence.inputs.protocol import OutcomeSpec
from evidence.inputs.snapshot import Snapshot
from evidence.report.build import figures
from evidence.report.references import References
from evidence.report.render import Figure, ReportData
from evidence.synthesis.pool import Analysis
from tests.conftest import synthesize
from tests.foundation import csvedit

IMG = '"><img src=x onerror=window.__x=1>'
SCRIPT = "<script>window.__x=2</script>"
SVG_BREAK = "</svg><script>window.__x=3</script>"
LINKS = (
    "[click](http://evil.example/a) ![img](http://evil.example/b.png) "
    "<http://evil.example/c> https://evil.example/d www.evil.example"
)
JS_DOI = "10.1234/x)](javascript:alert(1))[y"
# Every character str.splitlines() breaks on, besides LF.
BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
FORMULA = '=HYPERLINK("http://evil.example","click")'

TITLE = f"Baclofen {SCRIPT} {IMG}\r# injected title heading"
VERSION = f"1.0 {SVG_BREAK}\u2028# injected version heading"
LABEL = f"{FORMULA} {IMG}\r# injected label heading"
LABEL_2 = f"@SUM(1+1) {LINKS}"
OUTCOME = f"{SVG_BREAK}\x0b# injected outcome heading"
OUTCOME_2 = f"+1 | {SCRIPT} `code` *x*"
TIER = f"-1+1 {IMG}"
STUDY_TITLE = f"{SCRIPT}\r# injected study heading {LINKS}"
AUTHOR = f"{IMG}\x85- injected list item"
COMPARATOR = f"active:{SCRIPT} {IMG}\u2028# injected comparator heading"
STUDY_TITLE_2 = "Title\u2029## injected\x0c### more\x1c|x| " + "\x1d\x1e".join("ab")
COMPARISON = f"+cmp {SCRIPT} | {IMG}\u2028# injected comparison heading"
PLANTED = (  # must reach the page as text
    IMG,
    SCRIPT,
    SVG_BREAK,
    "# injected label heading",
    "# injected comparison heading",
)

ALLOWED_LINKS = ("https://pubmed.ncbi.nlm.nih.gov/", "https://doi.org/", "#", "figures/")
INJECTED_SCRIPT = "window.__x"


def make_hostile(data: Path) -> None:
    """Put the hostile text in a copy of data/raw: protocol title, version and labels, a tier
    label, and a study's title and author. Ids stay valid (their checks refuse markup)."""
    path = data / "protocols" / "baclofen.yaml"
    proto = yaml.safe_load(path.read_text(encoding="utf-8"))
    proto["title"], proto["version"] = TITLE, VERSION
    for ind in proto["indications"]:
        if ind["id"] == "alcohol_use_disorder":
            ind["label"] = LABEL
            ind["comparisons"][0]["label"] = COMPARISON  # in the SoF, figures, pooled.csv
            for o in ind["outcomes"]:
                if o["id"] == "abstinence":
                    o["label"] = OUTCOME
        if ind["id"] == "spasticity":
            ind["label"] = LABEL_2
            ind["comparisons"][0]["label"] = COMPARISON  # also in unassigned studies' reasons
            for o in ind["outcomes"]:
                if o["id"] == "ae_any":
                    o["label"] = OUTCOME_2
    proto["dose_tiers"]["oral"]["tiers"][1]["label"] = TIER
    path.write_text(yaml.safe_dump(proto, allow_unicode=True), encoding="utf-8")
    studies = data / "studies.csv"
    csvedit.set_cell(studies, {"study_id": "addolorato_2007"}, "title", STUDY_TITLE)
    csvedit.set_cell(studies, {"study_id": "addolorato_2007"}, "first_author", AUTHOR)
    csvedit.set_cell(studies, {"study_id": "addolorato_2002"}, "title", STUDY_TITLE_2)
    # A comparator's name reaches the uses table, the vote counts and the reasons as a label.
    csvedit.set_cell(studies, {"study_id": "gupta_2017"}, "comparator", COMPARATOR)


class Page(HTMLParser):
    """Every element with its attributes, and the text a reader sees."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.texts.append(data)

    @property
    def text(self) -> str:
        return "".join(self.texts)


def html_problems(html: str) -> list[str]:
    """What would run, or link away, in a page: the report's template writes no script, no
    image, no handler, and links only to PubMed, doi.org and its own anchors."""
    found = []
    for tag, attrs in Page(html).elements:
        if tag in ("script", "img", "iframe", "object", "embed", "foreignobject"):
            found.append(f"<{tag}> element")
        for name, value in attrs.items():
            if name.startswith("on"):
                found.append(f"{name}= on <{tag}>")
            if name in ("href", "xlink:href", "src") and not (value or "").startswith(
                ALLOWED_LINKS
            ):
                found.append(f"{name}={value!r} on <{tag}>")
            if name == "id" and not re.fullmatch(r"[A-Za-z0-9_.-]+", value or ""):
                found.append(f"id={value!r} on <{tag}>")
    return found


LINE_BREAKS = re.compile(r"[\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def markdown_problems(md: str) -> list[str]:
    """What data could have made of a Markdown file: a line break other than LF, raw HTML, a
    link or image the program did not build, a block (heading, list item) or a table cell that
    the hostile text opened."""
    found = [f"line break {m.group()!r}" for m in LINE_BREAKS.finditer(md)]
    if "javascript:" in md.lower():
        found.append("javascript: in the text")
    tokens = MarkdownIt("commonmark").enable("table").enable("strikethrough").parse(md)
    cells: list[int] = []
    for t in tokens:
        if t.type == "tr_open":
            cells.append(0)
        elif t.type in ("th_open", "td_open"):
            cells[-1] += 1
        elif t.type == "table_close":
            if len(set(cells)) > 1:
                found.append(f"table rows of {sorted(set(cells))} cells")
            cells = []
        elif t.type in ("html_block",):
            found.append(f"raw HTML {t.content!r}")
        elif t.type == "inline" and t.content.startswith(("injected", "more")):
            found.append(f"a block opened by data: {t.content[:40]!r}")
        for c in t.children or []:
            if c.type == "html_inline":
                found.append(f"raw HTML {c.content!r}")
            if c.type in ("link_open", "image"):
                target = str(c.attrGet("href") or c.attrGet("src") or "")
                if not target.startswith(ALLOWED_LINKS):
                    found.append(f"{c.type} to {target!r}")
    return found


def csv_formula_cells(text: str) -> list[str]:
    """Cells a spreadsheet would run: text starting with = + - @ tab CR (or full-width forms)."""
    bad = []
    for row in csv.reader(io.StringIO(text, newline="")):
        for value in row:
            if (
                value[:1] in "=+-@\t\r\uff1d\uff0b\uff0d\uff20"
                and value
                and not re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", value)
            ):
                bad.append(value)
    return bad


@dataclass
class Captured:
    """What a run rendered its report from, to render it again with hostile ids."""

    data: ReportData | None = None
    snapshot: Snapshot | None = None
    analyses: list[Analysis] = field(default_factory=list)


def run_capturing(data: Path, processed: Path, reports: Path) -> tuple[Result, Captured]:
    """`evidence run --no-orchestrator`, keeping the report's inputs."""
    cap = Captured()
    real_render, real_figures = pipeline.render_report, pipeline.figures

    def render(d: ReportData) -> tuple[str, str]:
        cap.data = d
        return real_render(d)

    def figs(snapshot: Snapshot, analyses: list[Analysis], *args: int) -> list[Figure]:
        cap.snapshot, cap.analyses = snapshot, analyses
        return real_figures(snapshot, analyses, *args)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(pipeline, "render_report", render)
        mp.setattr(pipeline, "figures", figs)
        mp.setenv("EVIDENCE_RUN_DATE", "2026-11-25")
        result = synthesize(data, processed, reports)
    return result, cap


# Ids the id checks refuse at load time; given straight to the report functions here.
HOSTILE_INDICATIONS = {"alcohol_use_disorder": IMG, "spasticity": SVG_BREAK}
HOSTILE_OUTCOMES = {"abstinence": SCRIPT + '"', "ae_any": f"x{IMG}"}


def hostile_ids_report(cap: Captured) -> ReportData:
    """The captured report with markup in indication, outcome and study ids and a javascript:
    DOI: figures drawn again through `figures`, so their keys and SVG ids come from these ids."""
    assert cap.data is not None and cap.snapshot is not None
    ind, out = HOSTILE_INDICATIONS, HOSTILE_OUTCOMES

    def outcome(o: OutcomeSpec) -> OutcomeSpec:
        return o.model_copy(update={"id": out.get(o.id, o.id)})

    protocol = cap.snapshot.protocol.model_copy(
        update={
            "indications": [
                i.model_copy(
                    update={"id": ind.get(i.id, i.id), "outcomes": [outcome(o) for o in i.outcomes]}
                )
                for i in cap.snapshot.protocol.indications
            ]
        }
    )
    analyses = [
        replace(a, indication=ind.get(a.indication, a.indication), outcome=outcome(a.outcome))
        for a in cap.analyses
    ]
    entries = list(cap.data.references.entries)
    entries[0] = replace(entries[0], study_id=IMG, pmid=SCRIPT, doi=JS_DOI, title=SCRIPT)
    entries[1] = replace(entries[1], study_id=SVG_BREAK, doi=JS_DOI, authors=IMG)
    refs = References(tuple(entries), {**cap.data.references.numbers, IMG: (1,), SVG_BREAK: (2,)})
    uses = cap.data.uses.copy()
    uses.loc[0, "sources"] = f"PMID:{SCRIPT} {IMG} PMID:12345"
    return replace(
        cap.data,
        figures=figures(replace(cap.snapshot, protocol=protocol), analyses),
        indications=[(ind.get(i, i), label) for i, label in cap.data.indications],
        findings=[
            replace(f, indication=ind.get(f.indication, f.indication)) for f in cap.data.findings
        ],
        references=refs,
        uses=uses,
    )
