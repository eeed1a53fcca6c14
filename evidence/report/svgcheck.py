"""Proof that an SVG figure may sit inline in the page: only drawing, nothing that runs.

The figures are marked safe for the HTML report, so they are parsed first and refused unless
every element is one matplotlib draws with, no attribute is an event handler, every link points
inside the figure, and every id is plain. A label from data can then only ever be text.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Protocol

from evidence.report.markup import dom_id

# What matplotlib's SVG backend writes for line, marker, patch and text artists.
ELEMENTS = frozenset(
    "svg metadata RDF Work type format date creator title description defs style g path use "
    "text tspan clipPath rect line polyline polygon circle ellipse".split()
)
_ID = re.compile(r"^[A-Za-z0-9_.-]+$")


class UnsafeFigure(ValueError):
    """An SVG that holds more than drawing: a script, a handler, a foreign link or odd id."""


def _local(name: str) -> str:
    return name.rsplit("}", 1)[-1]


def check_svg(svg: str, what: str = "figure") -> None:
    """Raise UnsafeFigure naming `what` and the first element or attribute that is refused."""
    try:
        root = ET.fromstring(svg)
    except ET.ParseError as exc:
        raise UnsafeFigure(f"{what}: not well-formed SVG: {exc}") from None
    for el in root.iter():
        tag = _local(el.tag)
        if tag not in ELEMENTS:
            raise UnsafeFigure(f"{what}: element <{tag}> is not drawing; refused")
        for name, value in el.attrib.items():
            attr = _local(name).lower()
            if attr.startswith("on"):
                raise UnsafeFigure(f"{what}: event handler {attr}= on <{tag}>; refused")
            if attr == "href" and not value.startswith("#"):
                raise UnsafeFigure(f"{what}: link {value!r} leaves the figure; refused")
            if attr == "id" and not _ID.fullmatch(value):
                raise UnsafeFigure(f"{what}: id {value!r} is not plain; refused")


class _Figure(Protocol):
    key: str
    svg: str


def check_figure(figure: _Figure) -> None:
    """A report figure: its key is a plain id (it names a file and an anchor), its SVG drawing."""
    if dom_id(figure.key) != figure.key:
        raise UnsafeFigure(f"figure key {figure.key!r} is not a plain id; refused")
    check_svg(figure.svg, f"figure {figure.key}")
