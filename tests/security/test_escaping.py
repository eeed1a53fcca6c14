"""Escaping by construction: data never becomes markup, a link, a line or a block in the report.

Hostile labels, titles, authors, protocol title and version run through the whole synthesis;
hostile ids (which the id checks refuse at load time) go straight to the report functions.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from evidence.inputs.schemas import is_doi, is_http_url
from evidence.report.build import figure_key
from evidence.report.markup import (
    doi_url,
    dom_id,
    html_link,
    md_code,
    md_inline,
    md_link,
    pubmed_url,
)
from evidence.report.plots import scope_ids
from evidence.report.render import escaped_changes, render_html, render_markdown
from evidence.report.svgcheck import UnsafeFigure, check_svg
from evidence.runs.history import Changes
from tests.conftest import synthesize
from tests.foundation import csvedit
from tests.security import hostile
from tests.security.hostile import (
    BREAKS,
    IMG,
    JS_DOI,
    PLANTED,
    SCRIPT,
    SVG_BREAK,
    Captured,
    Page,
    html_problems,
    markdown_problems,
)

PLAIN_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


# ------------------------------------------------------------------ the whole synthesis


def test_hostile_text_is_inert_text_in_the_html_report(hostile_run: tuple[Path, Captured]) -> None:
    html = (hostile_run[0] / "reports" / "baclofen" / "index.html").read_text(encoding="utf-8")
    assert html_problems(html) == []
    text = Page(html).text
    for planted in PLANTED:
        assert planted in text  # the data reached the page, as text


def test_hostile_text_adds_no_line_block_link_or_html_to_the_markdown(
    hostile_run: tuple[Path, Captured],
) -> None:
    reports = hostile_run[0] / "reports" / "baclofen"
    for name in ("report.md", "summary.md"):
        md = (reports / name).read_text(encoding="utf-8")
        assert markdown_problems(md) == [], name
        assert "injected title heading" in md  # the title is there, on the title's line
        assert "&lt;script&gt;" in md
    md = (reports / "report.md").read_text(encoding="utf-8")
    # no line added by CR, VT, FF, NEL, LS, PS...: what follows a break stays on its line
    for line in md.splitlines():
        if "injected title heading" in line:
            assert "window.__x=2" in line, line


def test_hostile_labels_leave_the_svg_figures_well_formed_and_drawing_only(
    hostile_run: tuple[Path, Captured],
) -> None:
    figures = sorted((hostile_run[0] / "reports" / "baclofen" / "figures").glob("*.svg"))
    assert figures
    labelled = 0
    for path in figures:
        svg = path.read_text(encoding="utf-8")
        check_svg(svg, path.name)
        texts = "".join(el.text or "" for el in ET.fromstring(svg).iter())
        labelled += SVG_BREAK in texts or IMG in texts
    assert labelled > 0  # the hostile labels were drawn, as text


def test_a_javascript_doi_is_refused_before_anything_is_written(
    data_copy: Path, tmp_path: Path
) -> None:
    line = csvedit.set_cell(
        data_copy / "studies.csv", {"study_id": "addolorato_2007"}, "doi", JS_DOI
    )
    result = synthesize(data_copy, tmp_path / "p", tmp_path / "r")
    assert result.exit_code != 0
    assert f"studies.csv:{line}: doi" in result.output
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("*.md"))


# ------------------------------------------------------------------ ids, straight to the report


def test_hostile_ids_never_become_markup(hostile_run: tuple[Path, Captured]) -> None:
    data = hostile.hostile_ids_report(hostile_run[1])
    keys = [f.key for f in data.figures]
    assert keys and all(PLAIN_ID.fullmatch(k) for k in keys) and len(set(keys)) == len(keys)
    assert any(f.indication == IMG for f in data.figures)  # the hostile indication is drawn
    html = render_html(data)
    assert html_problems(html) == []
    assert "javascript:" not in html
    md = render_markdown(data)
    assert markdown_problems(md) == []
    assert "javascript:" not in md


@pytest.mark.parametrize("bad", [IMG, SCRIPT, SVG_BREAK, "a b", "A", "", "é", "x" * 200, "1\r2"])
def test_dom_id_is_plain_stable_and_keeps_hostile_ids_apart(bad: str) -> None:
    out = dom_id(bad)
    assert PLAIN_ID.fullmatch(out) and len(out) <= 80 and out == dom_id(bad)
    assert dom_id(out) == out
    assert out != dom_id(bad + "x")


@pytest.mark.parametrize("good", ["spasticity", "alcohol_use_disorder-abstinence-forest", "0a"])
def test_dom_id_keeps_plain_ids(good: str) -> None:
    assert dom_id(good) == good


def test_figure_keys_and_svg_ids_are_plain_whatever_the_ids() -> None:
    key = figure_key(IMG, SVG_BREAK, "forest")
    assert PLAIN_ID.fullmatch(key)
    svg = '<svg><g id="figure_1"><use xlink:href="#m1" clip-path="url(#p1)"/></g></svg>'
    scoped = scope_ids(svg, IMG)
    assert re.findall(r'id="([^"]+)"', scoped) == [f"{dom_id(IMG)}-figure_1"]
    assert f'href="#{dom_id(IMG)}-m1"' in scoped and f"url(#{dom_id(IMG)}-p1)" in scoped


@pytest.mark.parametrize(
    ("svg", "why"),
    [
        ('<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>', "<script>"),
        ('<svg xmlns="http://www.w3.org/2000/svg" onload="x()"/>', "onload"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><use href="javascript:x()"/></svg>', "link"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><g id="a&quot; b"/></svg>', "id"),
        ('<svg xmlns="http://www.w3.org/2000/svg"><foreignObject/></svg>', "foreignObject"),
        ("<svg><g></svg>", "well-formed"),
    ],
)
def test_svg_check_refuses_anything_but_drawing(svg: str, why: str) -> None:
    with pytest.raises(UnsafeFigure, match=re.escape(why)):
        check_svg(svg, "test")


# ------------------------------------------------------------------ Markdown cells and links


def _render(md: str) -> str:
    return MarkdownIt("commonmark").enable("table").render(md)


@pytest.mark.parametrize("sep", (*BREAKS, "\n", "\r\n", "\t"))
def test_every_line_break_becomes_a_space_in_a_markdown_cell(sep: str) -> None:
    cell = md_inline(f"a{sep}# b{sep}- c{sep}| d")
    table = f"| x |\n|---|\n| {cell} |\n"
    assert len(table.splitlines()) == 3
    html = _render(table)
    assert html.count("<td>") == 1 and "<h1>" not in html and "<li>" not in html


@pytest.mark.parametrize(
    "text",
    [
        "[x](javascript:alert(1))",
        "![x](http://evil.example/i.png)",
        "<javascript:alert(1)>",
        "<a href='javascript:alert(1)'>x</a>",
        "[x]: javascript:alert(1)",
        "`code` **b** ~~s~~ \\",
        "https://evil.example www.evil.example",
        "&lt;script&gt; &#106;avascript:",
    ],
)
def test_markdown_link_image_html_and_code_syntax_stays_text(text: str) -> None:
    for where in ("{}", "- {}", "1. {}", "# {}", "| {} |\n|---|"):
        html = _render(where.format(md_inline(text)) + "\n")
        assert "<a " not in html and "<img" not in html and "<code>" not in html
        assert "<script" not in html and "<em>" not in html and "<del>" not in html


@pytest.mark.parametrize("text", ["# h", "## h", "- item", "+ item", "1. item", "2) item", "---"])
def test_data_at_the_start_of_a_line_opens_no_block(text: str) -> None:
    html = _render(f"- {md_inline(text)}\n")
    assert html.count("<li>") == 1 and "<h" not in html and "<hr" not in html
    assert "<ol>" not in html


def test_numbers_and_plain_text_keep_their_look() -> None:
    for text in ("-0.5", "+1.2", "2.5 mg", "RR 1.87 (0.87–4.01)", "alcohol_use_disorder"):
        assert md_inline(text) == text


def test_code_spans_hold_backticks_and_no_line_break() -> None:
    assert _render(md_code("a`b\rc")) == "<p><code>a`b c</code></p>\n"


def test_links_are_built_only_from_valid_pmids_and_dois() -> None:
    assert pubmed_url("123") == "https://pubmed.ncbi.nlm.nih.gov/123/"
    assert pubmed_url("12a") is None and pubmed_url(SCRIPT) is None
    assert (
        doi_url("10.1016/0014-2999(80)90124-7")
        == "https://doi.org/10.1016/0014-2999%2880%2990124-7"
    )
    assert doi_url(JS_DOI) is None
    assert md_link("x", "javascript:alert(1)") == "x"
    assert str(html_link("<b>", "javascript:alert(1)")) == "&lt;b&gt;"
    assert str(html_link("x", 'https://a.example/"onmouseover=x')) == "x"


# ------------------------------------------------------------------ DOI and URL shape


@pytest.mark.parametrize(
    "doi",
    [
        "10.1016/S0140-6736(07)61814-5",
        "10.1002/14651858.CD012557.pub3",
        "10.1590/s0004-282x1999000500005",
        "10.1007/BF01254766",
    ],
)
def test_real_dois_pass(doi: str) -> None:
    assert is_doi(doi)


@pytest.mark.parametrize(
    "doi",
    [JS_DOI, "10.1234/a b", "10.1234/<x>", '10.1234/"x', "10.1234/x|y", "doi:10.1/x", "10.12/x"],
)
def test_dois_that_break_links_fail(doi: str) -> None:
    assert not is_doi(doi)


@pytest.mark.parametrize(
    "url",
    [
        "https://pubmed.ncbi.nlm.nih.gov/11687107/",
        "https://pubmed.ncbi.nlm.nih.gov./11687107",
        "http://47.251.13.51:8081/detail?id=1&x=%2F#top",
        "https://a.example/lookup?access_num=7363938&link_type=MED",
    ],
)
def test_plain_http_urls_pass(url: str) -> None:
    assert is_http_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "data:text/html,<script>x</script>",
        "ftp://a.example/x",
        "https://user@evil.example/",
        "https://a.example/x y",
        'https://a.example/"onmouseover=x',
        "https://a.example/<script>",
        "https://a.example/%zz",
        "https://",
    ],
)
def test_other_urls_fail(url: str) -> None:
    assert not is_http_url(url)


def test_validate_names_a_bad_source_url_and_a_bad_doi(data_copy: Path) -> None:
    from typer.testing import CliRunner

    from evidence.cli import app

    url_line = csvedit.set_cell(
        data_copy / "outcomes.csv", {"study_id": "addolorato_2007"}, "source_url", "javascript:x()"
    )
    path = data_copy / "citations" / "baclofen.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("- https://", "- javascript://", 1), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", "--data", str(data_copy)])
    assert result.exit_code == 1
    assert f"outcomes.csv:{url_line}: source_url: found 'javascript:x()'" in result.output
    assert "source_urls: found 'javascript://" in result.output


def test_what_changed_is_escaped_item_by_item() -> None:
    evil = (
        "2026-01-01-abc",
        "2026-01-02-def",
        (f"x ({SCRIPT})",),
        ("a\r# injected",),
        ((f"{IMG}|o|all|primary", "1\u2028# injected", "2"),),
        ("[x](http://evil.example/)",),
        ((IMG, "Mixed", "Strong", "why\x85- injected"),),
        (("k", "Low", "<b>High</b>", "imprecision\r# injected"),),
    )
    plain = ("r1", "r2", ("x",), ("x",), (("x", "1", "2"),), ("x",), (("i", "a", "b", "c"),))
    plain += ((("k", "Low", "High", "c"),),)
    md = escaped_changes(Changes(*evil)).to_markdown()
    assert markdown_problems(md) == []
    assert md.count("\n") == Changes(*plain).to_markdown().count("\n")
    assert "&lt;script&gt;" in md and "&lt;b&gt;High" in md
