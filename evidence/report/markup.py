"""Text from data made safe for the place it lands: markup ids, links, Markdown.

Escaping is decided here, once, so that no template line has to remember it:

- ids in HTML and SVG (`id=`, `#fragment`, figure file names) go through `dom_id`, which keeps a
  plain id (`evidence.safepath.ID_PATTERN`) and turns anything else into a slug plus a hash, so a
  markup id only ever holds `[a-z0-9_-]`;
- links are built by the program, from a validated PMID or DOI, and only as https URLs
  (`pubmed_url`, `doi_url`); any other URL is shown as text, never as a link;
- Markdown from data goes through `md_inline`: every line break (every Unicode line separator,
  bare CR) and control character becomes a space, HTML is escaped as entities, and the Markdown
  syntax that could make a link, an image, a table cell, code or a block (`[ ] | \\ ` * ~`, a
  leading `#`, list marker or rule, bare `http://` and `www.` autolinks) is backslash-escaped.
  `Md` marks Markdown the program wrote, as `Markup` does for HTML.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from typing import Any
from urllib.parse import quote

import pandas as pd
from markupsafe import Markup

from evidence.inputs.schemas import PMID_RE, is_doi, is_http_url
from evidence.safepath import is_id

# Every character Python's str.splitlines() breaks on, and every other C0/C1 control character.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MD_ESCAPE = re.compile(r"([\\`*\[\]|~])")
_AUTOLINK = re.compile(r"(?i)(?<=[a-z0-9])(://)|\b(www)\.")
_LIST_NUMBER = re.compile(r"^([0-9]{1,9})([.)])(?=\s|$)")


class Md(str):
    """Markdown the program built from escaped parts: written as is, never escaped again."""


def cell(v: Any) -> str:
    """A table value as text: empty for missing, `%g` for floats."""
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return ""
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def one_line(v: Any) -> str:
    """The value's text on one line: line breaks and control characters become spaces."""
    return _BREAKS.sub(" ", cell(v)).strip()


def dom_id(v: Any) -> str:
    """A plain id unchanged; anything else as `slug-hash`, so markup ids only hold [a-z0-9_-]."""
    text = cell(v)
    if is_id(text):
        return text
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:40].strip("-")
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}-{digest}" if slug else f"id-{digest}"


def pubmed_url(pmid: Any) -> str | None:
    text = cell(pmid).strip()
    return f"https://pubmed.ncbi.nlm.nih.gov/{text}/" if PMID_RE.fullmatch(text) else None


def doi_url(doi: Any) -> str | None:
    """The doi.org link of a DOI of valid shape, percent-encoded so no character ends the link."""
    text = cell(doi).strip()
    return f"https://doi.org/{quote(text, safe='/:;')}" if is_doi(text) else None


def md_inline(v: Any) -> Md:
    """Data as inert Markdown text on one line (see the module docstring)."""
    text = one_line(v)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_ESCAPE.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: "\\://" if m.group(1) else m.group(2) + "\\.", text)
    # What would open a block at the start of a line: heading, list item, rule, setext underline.
    if text[:1] in ("#", "+", "-", "_", "=") and not re.match(r"[-+][0-9.]", text):
        text = "\\" + text  # a signed number such as -0.5 stays as printed
    else:
        text = _LIST_NUMBER.sub(r"\1\\\2", text)
    return Md(text)


def md_code(v: Any) -> Md:
    """Data as a Markdown code span, fenced with more backticks than it holds (not in tables)."""
    text = one_line(v)
    if not text:
        return Md("")
    fence = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return Md(f"{fence}{pad}{text}{pad}{fence}")


def md_link(text: Any, url: str | None) -> Md:
    """`[text](url)` for an http(s) URL of valid shape; otherwise the text alone."""
    label = md_inline(text)
    if url is None or not is_http_url(url) or any(c in url for c in "()<> "):
        return label
    return Md(f"[{label}]({url})")


def html_link(text: Any, url: str | None) -> Markup:
    """`<a href>` for an http(s) URL of valid shape; otherwise the escaped text alone."""
    if url is None or not is_http_url(url):
        return Markup("{0}").format(text)
    return Markup('<a href="{0}">{1}</a>').format(url, text)
