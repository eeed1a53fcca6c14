"""Input shaped to make the parser slow or large is refused with an error naming the input and
the limit: a huge tag or run of text, a record of endless elements or bytes, deep nesting,
masses of elements that are not records, declared entities (billion laughs), overlong MEDLINE
lines and records. Real PubMed files parse as before (tests/pubmed), far inside every limit.

Each case is small or streamed; how long a refusal takes is measured in
bench/pubmed_hostile_bench.py, not asserted here.
"""

from __future__ import annotations

import gzip
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.pubmed.parse import (
    MIB,
    Limits,
    PubmedLimitError,
    PubmedParseError,
    format_size,
    iter_records,
    parse_records,
    parse_size,
)
from tests.pubmed import rawfacts as raw

HEAD = b'<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n'
OPEN_RECORD = b'<PubmedArticle><MedlineCitation Status="MEDLINE"><PMID Version="1">7</PMID>'
CLOSE_RECORD = b"</MedlineCitation></PubmedArticle>\n"


class Repeated(io.RawIOBase):
    """`head`, then `unit` repeated to `total` bytes, then `tail`, produced as it is read."""

    def __init__(self, head: bytes, unit: bytes, total: int, tail: bytes = b"") -> None:
        self._parts = self._generate(head, unit, total, tail)
        self._buffer = b""
        self.name = "<repeated>"

    @staticmethod
    def _generate(head: bytes, unit: bytes, total: int, tail: bytes) -> Iterator[bytes]:
        yield head
        block = unit * max(1, (1 << 16) // len(unit))
        for _ in range(max(1, total // len(block))):
            yield block
        yield tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            self._buffer = next(self._parts, b"")
            if not self._buffer:
                return 0
        size = min(len(buffer), len(self._buffer))
        buffer[:size], self._buffer = self._buffer[:size], self._buffer[size:]
        return size


def _refused(source: object, match: str, limits: Limits | None = None) -> str:
    with pytest.raises(PubmedLimitError, match=match) as info:
        for _ in iter_records(io.BufferedReader(source), name="hostile.xml", limits=limits):  # type: ignore[arg-type]
            pass
    message = str(info.value)
    assert message.startswith("hostile.xml: ")
    return message


@pytest.mark.parametrize(
    ("name", "head", "unit"),
    [
        ("one run of text", HEAD, b"a"),
        ("one attribute value", HEAD + b'<x a="', b"a"),
        ("an attribute full of '>'", HEAD + b'<x a="', b">"),
        ("one tag name", HEAD + b"<x", b"y"),
        ("text inside a record", HEAD + OPEN_RECORD + b"<Abstract><AbstractText>", b"word "),
        ("a reference list being skipped", HEAD + OPEN_RECORD + b"<ReferenceList>", b"r"),
    ],
)
def test_a_tag_or_text_run_longer_than_the_limit_is_refused(
    name: str, head: bytes, unit: bytes
) -> None:
    message = _refused(Repeated(head, unit, 64 * MIB), "longer than 1 MiB")
    assert "a single tag or run of text" in message, name


def test_deep_nesting_is_refused() -> None:
    _refused(Repeated(HEAD, b"<a>", 64 * MIB), r"nested more than 256 deep")


def test_a_record_with_too_many_elements_is_refused() -> None:
    # Counted while the record is parsed, so whether it is ever closed makes no difference.
    closed = Repeated(HEAD + OPEN_RECORD, b"<a/>", 2 * MIB, CLOSE_RECORD + b"</PubmedArticleSet>")
    unclosed = Repeated(HEAD + OPEN_RECORD, b"<a/>", 2 * MIB)
    for source in (closed, unclosed):
        message = _refused(source, r"more than 250,000 elements \(the limit for one record\)")
        assert "record 1" in message


def test_a_record_larger_than_the_limit_is_refused() -> None:
    # long enough that the record passes 16 MiB before it holds 250,000 elements
    body = b"<Keyword>" + b"some words " * 100 + b"</Keyword>"
    closed = Repeated(HEAD + OPEN_RECORD, body, 40 * MIB, CLOSE_RECORD)
    assert "record 1" in _refused(closed, "larger than 16 MiB")
    small = Limits(max_record=MIB)
    outside = Repeated(HEAD + b"<Other>", b"<b>x</b>", 8 * MIB)  # not a record: fed whole
    _refused(outside, r"<Other> after record 0 is larger than 1 MiB", small)


def test_masses_of_elements_that_are_not_records_are_refused() -> None:
    _refused(Repeated(HEAD, b"<a/>", 64 * MIB), "elements under the root that are not PubMed")


@pytest.mark.parametrize("padding", [b"", b"<!-- " + b"x" * 200_000 + b" -->\n"])
def test_declared_entities_are_refused_never_expanded(padding: bytes) -> None:
    laughs = b"".join(b'<!ENTITY l%d "%s">' % (i, (b"&l%d;" % (i - 1)) * 10) for i in range(1, 10))
    doc = (
        b'<?xml version="1.0"?>\n'
        + padding
        + b'<!DOCTYPE PubmedArticleSet [<!ENTITY l0 "lol">'
        + laughs
        + b"]>\n<PubmedArticleSet>"
        + OPEN_RECORD
        + b"<Article><ArticleTitle>&l9;</ArticleTitle></Article>"
        + CLOSE_RECORD
        + b"</PubmedArticleSet>\n"
    )
    with pytest.raises(PubmedLimitError, match=r"declares XML entities"):
        parse_records(doc, name="laughs.xml")
    with pytest.raises(PubmedLimitError, match=r"declares XML entities"):
        parse_records(gzip.compress(doc), name="laughs.xml.gz")


def test_an_undeclared_entity_is_an_error_not_an_expansion() -> None:
    doc = HEAD + OPEN_RECORD + b"<Article><ArticleTitle>&l9;</ArticleTitle></Article>"
    with pytest.raises(PubmedParseError, match="undefined entity"):
        parse_records(doc + CLOSE_RECORD + b"</PubmedArticleSet>", name="undeclared.xml")


def test_medline_text_lines_and_records_are_bounded() -> None:
    first = raw.MEDLINE_TEXT[0].read_bytes()
    record = first.split(b"\n\n")[0] + b"\n"
    long_line = Repeated(record + b"AB  - ", b"x", 8 * MIB)
    assert "a line longer than" in _refused(long_line, "longer than 1 MiB")
    endless = Repeated(record, b"AB  - more of the same\n", 64 * MIB)
    assert "a record longer than" in _refused(endless, "longer than 16 MiB")


def test_refusals_name_the_configured_limit() -> None:
    limits = Limits(max_field=64 * 1024, max_depth=20, max_elements=1000)
    _refused(Repeated(HEAD, b"a", MIB), "longer than 64 KiB", limits)
    _refused(Repeated(HEAD, b"<a>", MIB), "nested more than 20 deep", limits)
    _refused(Repeated(HEAD, b"<a/>", MIB), "more than 1,000 elements under the root", limits)


def test_every_real_sample_parses_within_the_limits(tmp_path: Path) -> None:
    tight = Limits(max_field=256 * 1024, max_record=2 * MIB, max_elements=20_000, max_depth=32)
    for path in raw.RECORD_FILES:
        assert parse_records(path, limits=tight) == parse_records(path)
    packed = tmp_path / "baseline-again.xml.gz"
    packed.write_bytes(gzip.compress(gzip.decompress(raw.BASELINE.read_bytes()), 9))
    assert parse_records(packed, limits=Limits(ratio_after=1)) == parse_records(raw.BASELINE)


def test_sizes_read_and_print_in_binary_units() -> None:
    assert [parse_size(t) for t in ("1024", "800M", "2G", "1.5GiB", "64k")] == [
        1024,
        800 * MIB,
        2 << 30,
        3 << 29,
        64 << 10,
    ]
    for bad in ("", "0", "-1G", "lots", "2 GB please"):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_size(bad)
    assert [format_size(n) for n in (300, 1536, 16 * MIB, 2 << 30)] == [
        "300 bytes",
        "1.5 KiB",
        "16 MiB",
        "2 GiB",
    ]
    assert Limits.from_env({"EVIDENCE_PUBMED_MAX_RATIO": "40"}, max_decompressed=None) == Limits(
        max_ratio=40
    )
    with pytest.raises(ValueError, match="EVIDENCE_PUBMED_MAX_RATIO"):
        Limits.from_env({"EVIDENCE_PUBMED_MAX_RATIO": "0.5"})
