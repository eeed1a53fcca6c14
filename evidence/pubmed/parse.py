"""Stream PubMed XML, MEDLINE citation sets and MEDLINE text into `PubmedRecord`s.

Why not `Bio.Entrez.read`: it loads the DTD named in the DOCTYPE and, for a DTD it does not ship
(pubmed_260101 is what PubMed serves in 2026), tries to download it; it also builds the whole
file in memory. `xml.etree.ElementTree.iterparse` never resolves external DTDs, parses any DTD
version, and lets each record be cleared once read, so memory stays flat as files grow. The XML
section below says how records are cut out of the stream to keep parsing fast.

Inputs are not trusted: `Limits` bounds what one input may cost (decompressed size and ratio,
the longest tag or run of text, a record's size and element count, nesting depth) and refuses
anything beyond with a `PubmedLimitError` naming the input and the limit; XML that declares
entities is refused, so no entity is ever expanded.
"""

from __future__ import annotations

import collections
import gzip
import io
import itertools
import os
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from evidence.pubmed.records import (
    NOTICE_REF_TYPES,
    RETRACTION_REF_TYPES,
    MeshHeading,
    Notice,
    PublicationType,
    PubmedRecord,
)
from evidence.pubmed.vocab import (
    MESH_ANIMALS,
    MESH_HUMANS,
    PT_RETRACTED_PUBLICATION,
    mesh_ui,
    publication_type_ui,
)
from evidence.safepath import PMID_RULE, ascii_digits, is_pmid

__all__ = [
    "Limits",
    "PubmedErrorPayload",
    "PubmedLimitError",
    "PubmedParseError",
    "iter_records",
    "parse_records",
    "record_from_element",
    "sniff_format",
]

Source = str | Path | bytes | IO[bytes]

_XML_ROOTS = frozenset(
    {
        "PubmedArticleSet",
        "PubmedBookArticleSet",
        "MedlineCitationSet",
        "PubmedArticle",
        "PubmedBookArticle",
        "MedlineCitation",
    }
)
_RECORD_TAGS = frozenset({"PubmedArticle", "PubmedBookArticle"})
_WS = re.compile(r"\s+")
_YEAR = re.compile(r"\b(1[5-9][0-9][0-9]|20[0-9][0-9])\b")
_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
_MEDLINE_NOTICE_FIELDS = {
    "RIN": "RetractionIn",
    "ROF": "RetractionOf",
    "PRIN": "PartialRetractionIn",
    "PROF": "PartialRetractionOf",
    "RRI": "RetractedandRepublishedIn",
    "RRF": "RetractedandRepublishedFrom",
    "EIN": "ErratumIn",
    "EFR": "ErratumFor",
    "ECI": "ExpressionOfConcernIn",
    "ECF": "ExpressionOfConcernFor",
    "CRI": "CorrectedandRepublishedIn",
    "CRF": "CorrectedandRepublishedFrom",
}


class PubmedParseError(ValueError):
    """Input that is not (complete) PubMed data; the message names the file or response."""


class PubmedErrorPayload(PubmedParseError):
    """Well-formed XML in which NCBI reports an error (<ERROR>) instead of records."""


class PubmedLimitError(PubmedParseError):
    """Input refused because it would cost more than `Limits` allow (a bomb, or not PubMed)."""


# --------------------------------------------------------------------------- limits

KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
ENV_MAX_DECOMPRESSED = "EVIDENCE_PUBMED_MAX_DECOMPRESSED"
ENV_MAX_RATIO = "EVIDENCE_PUBMED_MAX_RATIO"
_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)(?:I?B)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Limits:
    """What one input may cost; beyond any of these it is refused, naming the input and limit.

    The defaults take any real PubMed file with a wide margin (a baseline file is 30-60 MB
    compressed and under 1 GB decompressed; real PubMed XML compresses 4-15 times; no PubMed
    tag, text or record comes near these sizes) and refuse compression bombs and input made to
    keep the parser busy or swell its memory: a single huge tag or text run, a record of
    millions of elements, endless nesting.
    """

    max_decompressed: int = 2 * GIB  # bytes a compressed input may expand to
    max_ratio: float = 100.0  # decompressed / compressed bytes, checked once...
    ratio_after: int = 1 * MIB  # ...this much has been decompressed (small files vary)
    max_field: int = 1 * MIB  # bytes from one `<` to the next (a tag or run of text); a line
    max_record: int = 16 * MIB  # bytes of one record, or of any other top-level element
    max_elements: int = 250_000  # elements in one record
    max_depth: int = 256  # nesting of elements

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Limits:
        """Defaults, then ${ENV_MAX_DECOMPRESSED} (a size: 4G, 800M) and ${ENV_MAX_RATIO}, then
        `overrides` that are not None."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        if env.get(ENV_MAX_DECOMPRESSED):
            values["max_decompressed"] = parse_size(env[ENV_MAX_DECOMPRESSED], ENV_MAX_DECOMPRESSED)
        if env.get(ENV_MAX_RATIO):
            values["max_ratio"] = parse_ratio(env[ENV_MAX_RATIO], ENV_MAX_RATIO)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return replace(cls(), **values)


def parse_size(text: str, what: str = "size") -> int:
    """Bytes from `123`, `800M`, `4G`, `1.5GiB` (powers of 1024)."""
    match = _SIZE.fullmatch(str(text))
    if match is None or float(match.group(1)) <= 0:
        raise ValueError(f"{what} must be a size such as 800M or 4G, not {text!r}")
    power = " KMGT".index(match.group(2).upper() or " ")
    return int(float(match.group(1)) * 1024**power)


def parse_ratio(text: str, what: str = "ratio") -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value >= 1:
        raise ValueError(f"{what} must be a number of at least 1, not {text!r}")
    return value


def format_size(size: float) -> str:
    """`2 GiB`, `16 MiB`, `1.5 KiB`, `300 bytes`."""
    for unit, scale in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if size >= scale:
            return f"{size / scale:.4g} {unit}"
    return f"{int(size)} bytes"


# --------------------------------------------------------------------------- entry points


def iter_records(
    source: Source,
    *,
    name: str | None = None,
    deleted: list[str] | None = None,
    limits: Limits | None = None,
) -> Iterator[PubmedRecord]:
    """Yield records from a file path, bytes or binary stream, in file order.

    The format (PubMed/MEDLINE XML or MEDLINE text, gzip or not) is detected from the content.
    PMIDs listed under DeleteCitation are appended to `deleted` when given. Input beyond
    `limits` (default `Limits()`) raises PubmedLimitError.
    """
    label = name or _label(source)
    limits = limits or Limits()
    stream, owned = _open(source, label, limits)
    try:
        head = stream.read(4096)
        kind = sniff_format(head)
        body = _Chain(head, stream)
        if kind == "xml":
            guarded = _Bounded(
                body,
                label,
                [((b"<",), limits.max_field, "a single tag or run of text")],
                forbidden=(b"<!ENTITY",),
            )
            yield from _iter_xml(guarded, head, label, deleted, limits, guard=guarded)
        elif kind == "medline":
            guarded = _Bounded(
                body,
                label,
                [
                    ((b"\n", b"\r"), limits.max_field, "a line"),
                    ((b"\n\n", b"\n\r\n", b"\r\r"), limits.max_record, "a record"),
                ],
            )
            yield from _iter_medline(guarded, label)
        elif kind == "html":
            raise PubmedParseError(f"{label}: an HTML page, not PubMed data (an error page?)")
        elif kind == "empty":
            raise PubmedParseError(f"{label}: empty input")
        else:
            raise PubmedParseError(
                f"{label}: neither PubMed XML nor MEDLINE text (starts {head[:40]!r})"
            )
    finally:
        if owned:
            stream.close()


def parse_records(
    source: Source,
    *,
    name: str | None = None,
    deleted: list[str] | None = None,
    limits: Limits | None = None,
) -> list[PubmedRecord]:
    """All records of one input; raises before returning anything if the input is broken."""
    return list(iter_records(source, name=name, deleted=deleted, limits=limits))


def sniff_format(head: bytes) -> str:
    """`xml`, `medline`, `html`, `empty` or `unknown`, from the first bytes of an input."""
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if not text:
        return "empty"
    lower = text[:1024].lower()
    if text.startswith(b"<"):
        if b"<html" in lower or b"<!doctype html" in lower or b"<body" in lower:
            return "html"
        return "xml"
    if text.startswith(b"PMID-"):
        return "medline"
    return "unknown"


# --------------------------------------------------------------------------- input plumbing


def _label(source: Source) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, bytes):
        return "<bytes>"
    return str(getattr(source, "name", "<stream>"))


def _open(source: Source, label: str, limits: Limits) -> tuple[IO[bytes], bool]:
    if isinstance(source, str | Path):
        try:
            raw: IO[bytes] = open(source, "rb")
        except OSError as exc:
            raise PubmedParseError(f"{label}: cannot open: {exc.strerror}") from None
        owned = True
    elif isinstance(source, bytes):
        raw, owned = io.BytesIO(source), True
    else:
        raw, owned = source, False
    magic = _peek(raw, 2)
    if magic == b"\x1f\x8b":
        return _GzipReader(raw, label, limits), True
    return raw, owned


def _peek(stream: IO[bytes], n: int) -> bytes:
    if hasattr(stream, "peek"):
        return stream.peek(n)[:n]  # type: ignore[attr-defined, no-any-return]
    pos = stream.tell()
    data = stream.read(n)
    stream.seek(pos)
    return data


class _Counted(io.RawIOBase):
    """A stream that counts the bytes read from it (the compressed side of a gzip input)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.count += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


class _GzipReader(io.RawIOBase):
    """gzip that reports a truncated archive as a parse error naming the file, and refuses to
    expand past `Limits.max_decompressed` or `max_ratio` times the compressed bytes read."""

    def __init__(self, raw: IO[bytes], label: str, limits: Limits) -> None:
        self._raw = raw
        self._counted = _Counted(raw)
        self._gz = gzip.GzipFile(fileobj=self._counted, mode="rb")
        self._label = label
        self._limits = limits
        self._out = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        try:
            data = self._gz.read(size)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise PubmedParseError(
                f"{self._label}: damaged or truncated gzip data ({exc})"
            ) from None
        self._out += len(data)
        self._check()
        return data

    def _check(self) -> None:
        limits, out = self._limits, self._out
        if out > limits.max_decompressed:
            raise PubmedLimitError(
                f"{self._label}: refused: it decompresses to more than "
                f"{format_size(limits.max_decompressed)}, the limit (raise it with "
                f"--max-decompressed or {ENV_MAX_DECOMPRESSED})"
            )
        packed = max(1, self._counted.count)
        if out > limits.ratio_after and out > limits.max_ratio * packed:
            raise PubmedLimitError(
                f"{self._label}: refused as a likely compression bomb: {format_size(packed)} "
                f"expanded to over {format_size(out)}, more than the limit of "
                f"{limits.max_ratio:g} times its compressed size (PubMed XML compresses "
                f"4-15 times; raise the limit with --max-ratio or {ENV_MAX_RATIO})"
            )

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gz.close()
        self._raw.close()
        super().close()


class _Bounded(io.RawIOBase):
    """Refuses input in which a run between delimiters is longer than its limit, or that holds
    a forbidden string, as the bytes go by (a delimiter may straddle two reads).

    A rule is (delimiters, limit, what): XML gets `<` (so no tag or text run, the tokens expat
    re-scans whole and the parts the record splitter may hold back, exceeds `max_field`), and
    `<!ENTITY` is forbidden until the parser has seen the root element (declarations can only
    come before it); MEDLINE text gets lines and blank-line-separated records.
    """

    def __init__(
        self,
        stream: IO[bytes],
        label: str,
        rules: Sequence[tuple[tuple[bytes, ...], int, str]],
        forbidden: Sequence[bytes] = (),
    ) -> None:
        self._stream = stream
        self._label = label
        self._rules = rules
        self._forbidden: Sequence[bytes] = ()
        self._keep = 0
        self._tail = b""  # the last `_keep` bytes, for delimiters cut in two
        self.forbid(forbidden)
        self._pos = 0  # bytes read so far
        self._start = [0] * len(rules)  # where each rule's current run began

    def forbid(self, forbidden: Sequence[bytes]) -> None:
        """Look for these strings from now on (none: stop looking)."""
        self._forbidden = forbidden
        self._keep = max(len(d) for d in [*forbidden, *(d for r in self._rules for d in r[0])]) - 1
        self._tail = self._tail[-self._keep :] if self._keep else b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        if data:
            self._check(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _refuse(self, what: str, limit: int, at: int) -> PubmedLimitError:
        return PubmedLimitError(
            f"{self._label}: refused: {what} longer than {format_size(limit)} (the limit) "
            f"at byte {at:,}; not PubMed data"
        )

    def _check(self, data: bytes) -> None:
        block = self._tail + data
        base = self._pos - len(self._tail)  # offset of block[0] in the input
        end = self._pos + len(data)
        for needle in self._forbidden:
            if needle in block:
                raise PubmedLimitError(
                    f"{self._label}: refused: it declares XML entities ({needle.decode()}), "
                    "which PubMed data never does; entities are not expanded"
                )
        for i, (delimiters, limit, what) in enumerate(self._rules):
            found = [(p, d) for d in delimiters if (p := block.find(d)) >= 0]
            if found:
                first = min(p for p, _ in found)
                if base + first - self._start[i] > limit:
                    raise self._refuse(what, limit, self._start[i])
                if len(block) > limit:  # a long read: look at every run inside it
                    self._every_run(block, base, delimiters, limit, what)
                last = max(block.rfind(d) + len(d) for _, d in found)
                self._start[i] = max(self._start[i], base + last)
            if end - self._start[i] > limit:
                raise self._refuse(what, limit, self._start[i])
        self._pos = end
        self._tail = block[-self._keep :] if self._keep else b""

    def _every_run(
        self, block: bytes, base: int, delimiters: tuple[bytes, ...], limit: int, what: str
    ) -> None:
        hits = sorted((p, p + len(d)) for d in delimiters for p in _find_all(block, d))
        for (_, prev_end), (start, _) in itertools.pairwise(hits):
            if start - prev_end > limit:
                raise self._refuse(what, limit, base + prev_end)


def _find_all(data: bytes, needle: bytes) -> Iterator[int]:
    """Every position of `needle` in `data`."""
    at = data.find(needle)
    while at >= 0:
        yield at
        at = data.find(needle, at + 1)


class _Chain(io.RawIOBase):
    """The already-read head followed by the rest of the stream."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


# --------------------------------------------------------------------------- XML
#
# How a PubMed XML file is read, and why:
# - `ElementTree.iterparse` streams the document, checks it is well formed from the first byte
#   to the closing root tag, and hands over each record element, which is then cleared and
#   dropped from the root: memory stays flat.
# - Building Python-visible events for every element is what makes that slow (a PubMed article
#   has hundreds of elements, most of them in reference lists). So the byte stream is first cut
#   into records: each PubmedArticle (or MEDLINE citation) is built as its own small tree by
#   ElementTree's C parser, and iterparse only sees an empty placeholder in its place.
# - Building that tree is the largest cost left, and ElementTree pays per byte, per element and
#   per attribute: subtrees the extractor never reads (reference lists, grants, chemicals,
#   affiliations, dates of completion...) are dropped at byte level, and History /
#   CommentsCorrectionsList keep only the entries that matter.
# - Finding tags with a regular expression costs far more per byte than `bytes.find`, so the
#   large containers that need no pruning inside (abstracts, author and MeSH lists) are passed
#   over with `find` for their closing tag instead of being scanned tag by tag.
# - MeSH and author lists and the entrez date, when they have the plain shape NCBI writes, are
#   read straight from the bytes instead (see "fast paths" below).
# Dropping or keeping a subtree the extractor does not read never changes a record, so every
# shortcut here only has to keep the XML well formed. PubMed XML has no comments, CDATA
# sections or internal entity declarations, which is what makes cutting at tag boundaries safe;
# a record left open at the end of the input leaves the document unclosed, so truncation is
# still reported by iterparse.

PRUNED_ELEMENTS: tuple[str, ...] = (
    "ReferenceList",
    "GrantList",
    "ChemicalList",
    "SupplMeshList",
    "KeywordList",
    "CoiStatement",
    "DataBankList",
    "InvestigatorList",
    "GeneralNote",
    "OtherAbstract",
    "ObjectList",
)
# Containers cut down to the children the extractor reads (they never nest): the children
# whose start tag gives the attribute one of the listed values are kept.
_FILTERED: dict[bytes, tuple[bytes, bytes, frozenset[str]]] = {
    b"History": (b"PubMedPubDate", b"PubStatus", frozenset({"entrez"})),
    b"CommentsCorrectionsList": (b"CommentsCorrections", b"RefType", NOTICE_REF_TYPES),
}
# Containers copied whole after one `find` for their closing tag; AuthorList loses its authors'
# AffiliationInfo on the way (a third of a modern record's bytes).
_PASSED: tuple[bytes, ...] = (b"Abstract", b"MeshHeadingList", b"AuthorList", b"Journal")
# Only complete, plain AffiliationInfo elements are matched, so removing them keeps the XML
# well formed; any other shape is simply left in.
_AFFILIATION = re.compile(
    rb"<AffiliationInfo>[ \t\r\n]*+<Affiliation>[^<]*+</Affiliation>[ \t\r\n]*+"
    rb"(?:<Identifier(?: [^>]*+)?(?<!/)>[^<]*+</Identifier>[ \t\r\n]*+)*"
    rb"</AffiliationInfo>[ \t\r\n]*+"
)
# Elements the extractor never reads, made of elements holding only text: dropped where the
# tag search meets them (ElementTree's cost is mostly per element; lone leaves are not worth
# a match of their own).
_UNREAD: tuple[str, ...] = ("DateCompleted", "DateRevised", "DateCreated", "Pagination")
_UNREAD_ELEMENT = (
    rb"("
    + "|".join(_UNREAD).encode()
    + rb")(?:[ \t\r\n][^>]*+)?(?<!/)>[^<]*+"
    + rb"(?:<([A-Za-z_][\w.-]*+)(?:[ \t\r\n][^>]*+)?(?<!/)>[^<]*+</\4[ \t\r\n]*+>[^<]*+)*"
    + rb"</\3[ \t\r\n]*+>[ \t\r\n]*+"
)
# A container whose closing tag is this far away is scanned like any other content instead, so
# a missing closing tag cannot make the buffer grow with the file.
_HOLD = 1 << 23
_SPLIT_UNDER = {
    b"PubmedArticleSet": (b"PubmedArticle", b"PubmedBookArticle"),
    b"PubmedBookArticleSet": (b"PubmedBookArticle",),
    b"MedlineCitationSet": (b"MedlineCitation",),
}
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.S)
_START = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)([^>]*)>")
_ENCODING = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
# Read size. Much larger buffers come and go as fresh memory from the system, and the page
# faults that costs were a tenth of the parsing time.
_CHUNK = 1 << 17
_RECORD, _PRUNE, _FILTER, _PASS = range(4)
# The attribute that marks placeholders: random, so never found in real input.
_MARK = "_evidence_" + secrets.token_hex(6)
_MARK_BYTES = _MARK.encode()


def _root_tag(head: bytes) -> tuple[bytes, bytes]:
    """(root tag name, its whole start tag) from the first bytes of a document, or empty."""
    pos = 0
    while match := _PROLOG.match(head, pos):
        pos = match.end()
    match = _START.match(head, pos)
    if match is None:
        return b"", b""
    return match.group(1), match.group(0).strip()


def _kept_pattern(attribute: bytes, values: Iterable[str]) -> re.Pattern[bytes]:
    """`attribute` given one of `values`, quoted either way: searched for before the tag that
    holds it, since the wanted values are rare and the literal name is quick to find."""
    names = b"|".join(re.escape(v.encode()) for v in sorted(values))
    return re.compile(attribute + rb"""[ \t\r\n]*=[ \t\r\n]*(["'])(?:""" + names + rb")\1")


_KEPT = {
    name: (child, _kept_pattern(attribute, values))
    for name, (child, attribute, values) in _FILTERED.items()
}


class _RecordStream(io.RawIOBase):
    """The document with records replaced by placeholders (see above); records go to `records`.

    Placeholders carry the mark attribute, so that an empty record element in the input cannot
    take a cut-out record's place. Pruning works on raw bytes across chunk boundaries and counts
    nested same-name elements. Only an unfinished tag (or a container waiting for its closing
    tag, see _HOLD) is held back between reads, so the work per byte stays constant; a record
    is refused once it passes `Limits.max_record` bytes or `max_elements` elements.
    """

    def __init__(
        self,
        raw: IO[bytes],
        record_tags: tuple[bytes, ...],
        label: str = "<input>",
        limits: Limits | None = None,
    ) -> None:
        self._raw = raw
        self._label = label
        self._limits = limits or Limits()
        # each record's bytes, and the lists read by a fast path that its placeholders refer to
        self.records: collections.deque[tuple[bytes, list[Any]]] = collections.deque()
        actions = {n.encode(): _PRUNE for n in PRUNED_ELEMENTS}
        actions.update(dict.fromkeys(_FILTERED, _FILTER))
        actions.update(dict.fromkeys(_PASSED, _PASS))
        actions.update(dict.fromkeys(record_tags, _RECORD))
        self._actions = actions
        self._closers = {name: b"</" + name for name in actions}
        # group 1: a start tag to act on; 2: a record's closing tag; neither: unread elements
        # (the lookahead turns most other tags away after one character)
        closes = b"|".join(record_tags) if record_tags else b"(?!)"
        firsts = sorted({n[:1] for n in [*actions, *(u.encode() for u in _UNREAD)]})
        ends = sorted({n[:1] for n in record_tags}) or [b"<"]
        self._pattern = re.compile(
            rb"<(?=[" + b"".join(firsts) + rb"]|/[" + b"".join(ends) + rb"])"
            rb"(?:(" + b"|".join(actions) + rb")(?:[ \t\r\n/][^>]*+)?>"
            rb"|/(" + closes + rb")[ \t\r\n]*+>|" + _UNREAD_ELEMENT + rb")"
        )
        self._buf = b""
        self._pending = b""
        self._offset = 0
        self._eof = False
        self._skip: bytes | None = None
        self._depth = 0
        self._record: list[bytes] | None = None
        self._extras: list[Any] = []
        self._measured: list[bytes] | None = None  # the open record whose size is known...
        self._measured_parts = 0  # ...up to this many parts...
        self._measured_size = 0  # ...which hold this many bytes
        self.completed = 0  # records cut out so far

    def readable(self) -> bool:
        return True

    def _too_large(self, number: int, size: int) -> PubmedLimitError:
        return PubmedLimitError(
            f"{self._label}: record {number}: refused: larger than "
            f"{format_size(self._limits.max_record)} (the limit for one record)"
        )

    def _finish(self, data: bytes) -> bytes:
        """A complete record's bytes, once they are known to be within the limits."""
        self.completed += 1
        if len(data) > self._limits.max_record:
            raise self._too_large(self.completed, len(data))
        if len(data) <= 4 * self._limits.max_elements:  # `<a/>`: no element takes fewer bytes
            return data
        elements = data.count(b"<") - data.count(b"</")
        if elements > self._limits.max_elements:
            raise PubmedLimitError(
                f"{self._label}: record {self.completed}: refused: {elements:,} elements, more "
                f"than the limit of {self._limits.max_elements:,} for one record"
            )
        return data

    def _measure(self, record: list[bytes] | None) -> None:
        """Count the bytes an unfinished record has gathered, refusing it past the limit."""
        if record is None:
            self._measured = None
            return
        if record is not self._measured:
            self._measured, self._measured_parts, self._measured_size = record, 0, 0
        self._measured_size += sum(len(part) for part in record[self._measured_parts :])
        self._measured_parts = len(record)
        if self._measured_size > self._limits.max_record:
            raise self._too_large(self.completed + 1, self._measured_size)

    def read(self, size: int = -1) -> bytes:
        while self._offset >= len(self._pending) and not self._eof:
            chunk = self._raw.read(_CHUNK)
            if not chunk:
                self._eof = True
            self._buf += chunk
            out: list[bytes] = []
            self._scan(out)
            if self._eof and self._record is not None:
                out.extend(self._record)  # an unfinished record: let the XML parser see it
                self._record = None
            self._pending, self._offset = b"".join(out), 0
        if size is None or size < 0:
            size = len(self._pending) - self._offset
        data = self._pending[self._offset : self._offset + size]
        self._offset += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def _placeholder(self, record: list[bytes], name: bytes, value: Any) -> None:
        """Stand in for an element a fast path has read; `value` travels with the record."""
        record.append(b'<%s %s="%d"/>' % (name, _MARK_BYTES, len(self._extras)))
        self._extras.append(value)

    def _skip_pruned(self, buf: bytes, pos: int) -> int:
        """Move past the pruned element being skipped; where to resume (len(buf): need more)."""
        name = self._skip
        assert name is not None
        while True:
            close, close_end = _close_tag(buf, name, pos)
            opened = _open_tag(buf, name, pos, close)
            if close < 0 and opened < 0:
                return _held_from(buf, pos, self._eof)
            if opened >= 0:
                end = buf.find(b">", opened)
                if end < 0:
                    return len(buf) if self._eof else opened
                if buf[end - 1] != 0x2F:  # not self-closing: one level deeper
                    self._depth += 1
                pos = end + 1
                continue
            self._depth -= 1
            pos = close_end
            if self._depth == 0:
                self._skip = None
                return pos

    def _scan(self, out: list[bytes]) -> None:
        buf, pos = self._buf, 0
        size = len(buf)
        search = self._pattern.search
        actions = self._actions
        closers = self._closers
        record = self._record
        while True:
            if self._skip is not None:
                pos = self._skip_pruned(buf, pos)
                if self._skip is not None:
                    break
            sink = out if record is None else record
            match = search(buf, pos)
            if match is None:
                cut = _held_from(buf, pos, self._eof)
                sink.append(buf[pos:cut])
                pos = cut
                break
            start, end = match.span()
            if start > pos:
                sink.append(buf[pos:start])
            pos = end
            name, closing = match.group(1, 2)
            if name is None:
                if closing is None:
                    continue  # unread elements: dropped
                if record is None:
                    sink.append(match.group())  # unbalanced: the XML parser will say so
                    continue
                record.append(match.group())
                self.records.append((self._finish(b"".join(record)), self._extras))
                record = None
                out.append(b'<%s %s=""/>' % (closing, _MARK_BYTES))
                continue
            action = actions[name]
            if action == _RECORD:
                if record is None and buf[end - 2] != 0x2F:
                    record = [match.group()]
                    self._extras = []
                else:
                    sink.append(match.group())  # unbalanced: the XML parser will say so
                continue
            if buf[end - 2] == 0x2F:
                sink.append(match.group())
                continue
            if action == _PRUNE:
                # the usual case, settled by one search: the name's next appearance closes it
                at = buf.find(name, end)
                if at >= 0 and buf[at - 2 : at] == b"</" and buf.startswith(b">", at + len(name)):
                    pos = at + len(name) + 1
                    continue
                self._skip, self._depth = name, 1
                continue
            close = buf.find(closers[name], end)
            if close >= 0 and buf.startswith(b">", close + len(name) + 2):  # the usual `</name>`
                stop = close + len(name) + 3
            else:
                close, stop = _close_tag(buf, name, end)
            if close < 0:
                if self._eof or size - start > _HOLD:
                    sink.append(match.group())  # no closing tag in reach: scan it as content
                    continue
                pos = start  # the closing tag may come with the next chunk
                break
            if action == _PASS:
                fast = _FAST.get(name) if record is not None else None
                value = fast(match.group(), buf[end:close]) if fast is not None else None
                if value is not None and record is not None:
                    self._placeholder(record, name, value)
                elif name == b"AuthorList":
                    sink.append(_AFFILIATION.sub(b"", buf[start:stop]))
                else:
                    sink.append(buf[start:stop])
            else:
                kept: list[bytes] = []
                _keep_children(buf, end, close, _KEPT[name], kept)
                value = _fast_entrez(kept) if name == b"History" and record is not None else None
                if value is not None and record is not None:
                    self._placeholder(record, name, value)
                else:
                    sink.append(match.group())
                    sink.extend(kept)
                    sink.append(b"</" + name + b">")
            pos = stop
        self._record = record
        self._buf = buf[pos:]
        self._measure(record)


def _held_from(buf: bytes, pos: int, eof: bool) -> int:
    """Where the bytes to hold back for the next read start: at an unfinished tag (its `<` has
    no `>` after it), else nowhere (len(buf)). Holding back a complete tag and the text after
    it would make every later read scan that text again."""
    last = buf.rfind(b"<", pos)
    if last < 0 or eof or buf.find(b">", last) >= 0:
        return len(buf)
    return last


def _keep_children(
    buf: bytes,
    start: int,
    stop: int,
    rule: tuple[bytes, re.Pattern[bytes]],
    sink: list[bytes],
) -> None:
    """Append the children in buf[start:stop] whose start tag has the rule's attribute value."""
    child, pattern = rule
    opener = b"<" + child
    closer = b"</" + child
    kept = -1
    for match in pattern.finditer(buf, start, stop):
        at = match.start()
        begin = buf.rfind(b"<", start, at)
        if (
            begin <= kept
            or buf[at - 1] not in b" \t\r\n"
            or not buf.startswith(opener, begin)
            or buf[begin + len(opener)] not in b" \t\r\n"
            or buf.find(b">", begin, at) >= 0
        ):
            continue  # not an attribute of a `child` start tag, or that child is kept already
        end = buf.find(b">", match.end(), stop)
        if end < 0:
            continue
        kept = begin
        if buf[end - 1] == 0x2F:
            sink.append(buf[begin : end + 1])
            continue
        close = buf.find(closer, end, stop)
        if close >= 0 and buf.startswith(b">", close + len(closer)):
            sink.append(buf[begin : close + len(closer) + 1])
            continue
        close_end = _close_tag(buf, child, end, stop)[1]
        if close_end >= 0:
            sink.append(buf[begin:close_end])


def _close_tag(buf: bytes, name: bytes, start: int, stop: int = -1) -> tuple[int, int]:
    """Start and end of the first `</name>` in buf[start:stop] (XML allows spaces before the
    `>`), or (-1, -1), also when the input ends inside that tag."""
    needle = b"</" + name
    end = len(buf) if stop < 0 else stop
    pos = start
    while (found := buf.find(needle, pos, end)) >= 0:
        at = found + len(needle)
        while at < end and buf[at] in b" \t\r\n":
            at += 1
        if at < end and buf[at] == 0x3E:
            return found, at + 1
        pos = found + 1
    return -1, -1


def _open_tag(buf: bytes, name: bytes, start: int, stop: int) -> int:
    """Position of the next `<name` start tag in buf[start:stop] (to the end if stop < 0)."""
    pattern = b"<" + name
    end = len(buf) if stop < 0 else stop
    pos = start
    while True:
        found = buf.find(pattern, pos, end)
        if found < 0:
            return -1
        following = buf[found + len(pattern) : found + len(pattern) + 1]
        if following in (b">", b"/", b" ", b"\t", b"\n", b"\r"):
            return found
        if not following:
            return -1
        pos = found + 1


# --------------------------------------------------------------------------- fast paths
#
# MeSH and author lists are a third of what is left of a record and most of its elements, and
# the entrez date alone takes seven. When one of them has exactly the plain shape NCBI writes,
# it is read here with one regular expression per heading, author or date and handed to the
# extractor beside the tree, through an empty placeholder element that keeps its place. The
# patterns accept only well-formed XML whose text ElementTree would return unchanged (no
# character references, CDATA, comments, carriage returns or characters XML forbids; only the
# five predefined entities); anything else goes through ElementTree as before. Affiliations
# are matched as loosely as _AFFILIATION drops them, since they are never read.

_S = r"[ \t\r\n]*+"
_CHARS = r"[^<&>\r\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]*+"
_T = _CHARS + r"(?:&(?:amp|lt|gt|quot|apos);" + _CHARS + r")*+"
_V = r'[^"<&\x00-\x1f\ufffe\uffff]*+'
_MESH_HEADING = re.compile(
    _S
    + r"<MeshHeading>"
    + _S
    + rf'<DescriptorName (?:UI="({_V})" MajorTopicYN="({_V})"|MajorTopicYN="({_V})" UI="({_V})")'
    + rf'(?: Type="{_V}")?>({_T})</DescriptorName>'
    + r"((?:"
    + _S
    + rf'<QualifierName (?:UI="{_V}" MajorTopicYN="{_V}"|MajorTopicYN="{_V}" UI="{_V}")>'
    + rf"{_T}</QualifierName>)*)"
    + _S
    + r"</MeshHeading>"
)
_QUALIFIER = re.compile(rf">({_T})</QualifierName>")
_AUTHOR_LIST = re.compile(rf'<AuthorList(?: CompleteYN="{_V}")?(?: Type="({_V})")?>')
_AUTHOR = re.compile(
    _S
    + rf'<Author(?: ValidYN="({_V})")?(?: EqualContrib="{_V}")?>'
    + _S
    + rf"(?:<LastName>({_T})</LastName>{_S}"
    + rf"(?:<ForeName>{_T}</ForeName>{_S})?"
    + rf"(?:<Initials>({_T})</Initials>{_S})?"
    + rf"(?:<Suffix>{_T}</Suffix>{_S})?"
    + rf"|<CollectiveName>({_T})</CollectiveName>{_S})"
    + rf'(?:<Identifier Source="{_V}">{_T}</Identifier>{_S})*'
    + rf"(?:<AffiliationInfo>{_S}<Affiliation>[^<]*+</Affiliation>{_S}"
    + rf"(?:<Identifier(?: [^>]*+)?(?<!/)>[^<]*+</Identifier>{_S})*</AffiliationInfo>{_S})*"
    + r"</Author>"
)
_SPACE = " \t\r\n"


def _unescape(text: str) -> str:
    """The five predefined entities, the only references the fast patterns let through."""
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"')
    return text.replace("&apos;", "'").replace("&amp;", "&")


def _plain_leaf(text: str) -> str:
    """`_leaf` of an element without children whose raw content is `text`."""
    if "&" in text:
        text = _unescape(text)
    if "\n" not in text and "  " not in text:
        return text.strip()
    return " ".join(text.split())


def _decode(data: bytes) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None  # ElementTree will report it


def _fast_mesh(start_tag: bytes, content: bytes) -> tuple[MeshHeading, ...] | None:
    """`_mesh` of a MeshHeadingList of the plain shape, or None to let ElementTree read it."""
    if start_tag != b"<MeshHeadingList>":
        return None
    text = _decode(content)
    if text is None:
        return None
    out = []
    match = _MESH_HEADING.match
    pos = 0
    while (found := match(text, pos)) is not None:
        pos = found.end()
        ui, major, major_b, ui_b, name, quals = found.groups()
        if "&" in name or "\n" in name or "  " in name:
            name = _plain_leaf(name)
        else:
            name = name.strip()
        out.append(
            MeshHeading(
                name,
                ui or ui_b or mesh_ui(name),
                (major or major_b) == "Y",
                tuple([_plain_leaf(q) for q in _QUALIFIER.findall(quals)]) if quals else (),
            )
        )
    if text[pos:].strip(_SPACE):
        return None
    return tuple(out)


def _fast_authors(start_tag: bytes, content: bytes) -> tuple[str, ...] | None:
    """`_authors` of one AuthorList of the plain shape, or None to let ElementTree read it."""
    tag = _decode(start_tag)
    head = _AUTHOR_LIST.fullmatch(tag) if tag is not None else None
    text = _decode(content) if head is not None else None
    if head is None or text is None:
        return None
    names: list[str] = []
    match = _AUTHOR.match
    pos = 0
    while (found := match(text, pos)) is not None:
        pos = found.end()
        valid, last, initials, collective = found.groups()
        if valid == "N":
            continue
        if last:
            last = (_unescape(last) if "&" in last else last).strip()
        if last:
            if initials:
                initials = (_unescape(initials) if "&" in initials else initials).strip()
            names.append(f"{last} {initials}" if initials else last)
        elif collective:
            collective = " ".join(
                _unescape(collective).split() if "&" in collective else collective.split()
            )
            if collective:
                names.append(collective)
    if text[pos:].strip(_SPACE):
        return None
    return () if head.group(1) == "editors" else tuple(names)


_DATE_PART = r"[0-9A-Za-z \t\n]*+"  # what `_int` and `_month` read without fail
_ENTREZ = re.compile(
    rf'<PubMedPubDate PubStatus="entrez">{_S}'
    + rf"(?:<Year>({_DATE_PART})</Year>{_S})?"
    + rf"(?:<Month>({_DATE_PART})</Month>{_S})?"
    + rf"(?:<Day>({_DATE_PART})</Day>{_S})?"
    + "".join(rf"(?:<{part}>{_DATE_PART}</{part}>{_S})?" for part in ("Hour", "Minute", "Second"))
    + r"</PubMedPubDate>"
)


def _fast_entrez(kept: list[bytes]) -> str | None:
    """`_history_date(..., "entrez")` from the PubMedPubDate elements History keeps, or None."""
    dates = []
    for item in kept:
        found = _ENTREZ.fullmatch(item.decode("latin-1"))  # anything not ASCII fails to match
        if found is None:
            return None
        dates.append(found.groups())
    for year_text, month, day in dates:
        year = _int(year_text)
        if year is not None:
            return _iso(year, _month(month), _int(day))
    return ""


_JOURNAL = re.compile(
    _S
    + rf'(?:<ISSN(?: IssnType="{_V}")?>{_T}</ISSN>{_S})?'
    + rf'<JournalIssue(?: CitedMedium="{_V}")?>{_S}'
    + rf"(?:<Volume>{_T}</Volume>{_S})?"
    + rf"(?:<Issue>{_T}</Issue>{_S})?"
    + rf"<PubDate>{_S}"
    + rf"(?:<Year>({_DATE_PART})</Year>{_S}"
    + rf"(?:<Month>({_DATE_PART})</Month>{_S})?"
    + rf"(?:<Day>({_DATE_PART})</Day>{_S})?"
    + rf"(?:<Season>{_T}</Season>{_S})?"
    + rf"|<MedlineDate>({_T})</MedlineDate>{_S})"
    + rf"</PubDate>{_S}</JournalIssue>{_S}"
    + rf"(?:<Title>({_T})</Title>{_S})?"
    + rf"(?:<ISOAbbreviation>({_T})</ISOAbbreviation>{_S})?"
)


def _fast_journal(start_tag: bytes, content: bytes) -> tuple[str, int | None, str, str] | None:
    """(pub date, year, title, ISO abbreviation) of a Journal of the plain shape, or None."""
    text = _decode(content) if start_tag == b"<Journal>" else None
    found = _JOURNAL.fullmatch(text) if text is not None else None
    if found is None:
        return None
    year, month, day, medline, title, abbrev = (
        _unescape(part) if part and "&" in part else part for part in found.groups()
    )
    pub_date, year_number = _date_parts(year, month, day, medline)
    return pub_date, year_number, _collapse(title) if title else "", _strip(abbrev)


_FAST = {
    b"MeshHeadingList": _fast_mesh,
    b"AuthorList": _fast_authors,
    b"Journal": _fast_journal,
}


def _iter_xml(
    stream: IO[bytes],
    head: bytes,
    label: str,
    deleted: list[str] | None,
    limits: Limits,
    guard: _Bounded | None = None,
) -> Iterator[PubmedRecord]:
    """Records from an XML stream; the ElementTree pull parser is fed a chunk at a time (a
    token cut across feeds is re-scanned whole by expat at every feed, so feeds are large) and
    the elements under the root are bounded in depth, count and bytes."""
    root_name, root_open = _root_tag(head)
    declared = _ENCODING.search(head[:200])
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    split = _SPLIT_UNDER.get(root_name, ()) if encoding in {"utf-8", "utf8"} else ()
    # Records are parsed on their own, so namespace declarations on the root must travel along.
    wrap = b"xmlns" in root_open
    source = _RecordStream(stream, split, label, limits)
    parser = ET.XMLPullParser(events=("start", "end"))
    depth = 0
    count = 0
    root: ET.Element | None = None
    root_tag = ""
    fed = 0  # bytes given to the parser so far
    top_from = -1  # `fed` when the open element under the root started (-1: none open)
    top_elements = 0  # elements in it so far
    top_tag = ""  # and its name
    others = 0  # elements under the root that are not records
    single = False  # the root is itself a record: its children are parts of it
    try:
        while True:
            chunk = source.read(_CHUNK)
            if chunk:
                fed += len(chunk)
                parser.feed(chunk)
            else:
                parser.close()
            for event, elem in parser.read_events():
                if event == "start":
                    depth += 1
                    if root is None:
                        root, root_tag = elem, elem.tag
                        if guard is not None:
                            guard.forbid(())  # the prolog, where declarations live, is over
                        if root_tag not in _XML_ROOTS and root_tag != "eFetchResult":
                            raise PubmedParseError(
                                f"{label}: XML root <{root_tag}> is not PubMed or MEDLINE XML"
                            )
                        single = root_tag in _RECORD_TAGS or root_tag == "MedlineCitation"
                        if single:
                            top_from, top_elements, top_tag = fed, 1, root_tag
                    elif depth == 2 and not single:
                        top_from, top_elements, top_tag = fed, 1, elem.tag
                    else:
                        top_elements += 1
                        _check_element(label, limits, depth, top_elements, count + 1)
                    continue
                depth -= 1
                if depth > 1:
                    continue
                tag = elem.tag
                if depth == 1 and elem.get(_MARK) is not None:  # a record cut out of the stream
                    count += 1
                    data, extras = source.records.popleft()
                    tree = _build(data, root_open, wrap, label, count)
                    yield _record(tree, label, count, extras)
                elif tag in _RECORD_TAGS or (
                    tag == "MedlineCitation" and root_tag != "PubmedArticle"
                ):
                    count += 1
                    yield _record(elem, label, count)
                elif tag == "DeleteCitation" and deleted is not None:
                    for p in elem.iter("PMID"):
                        if not is_pmid(p.text):
                            raise PubmedParseError(
                                f"{label}: <DeleteCitation><PMID> {p.text!r} refused: {PMID_RULE}"
                            )
                        deleted.append(str(p.text))
                elif tag == "ERROR":
                    raise PubmedErrorPayload(
                        f"{label}: NCBI returned an error instead of records: {_text(elem)}"
                    )
                elif single:
                    continue
                elif depth == 1:
                    others += 1
                    if others > limits.max_elements:
                        raise PubmedLimitError(
                            f"{label}: refused: more than {limits.max_elements:,} elements "
                            "under the root that are not PubMed records (the limit)"
                        )
                if depth == 1:
                    elem.clear()
                    top_from = -1
            if root is not None and not single and len(root):
                del root[:]  # all at once: removing children one by one is quadratic
            if top_from >= 0 and fed - top_from > limits.max_record:
                raise PubmedLimitError(
                    f"{label}: refused: <{top_tag}> after record {count} is larger than "
                    f"{format_size(limits.max_record)} (the limit for one record)"
                )
            if not chunk:
                break
    except ET.ParseError as exc:
        raise PubmedParseError(f"{label}: malformed or truncated XML ({exc})") from None
    if root is None:
        raise PubmedParseError(f"{label}: no XML element found")


def _check_element(label: str, limits: Limits, depth: int, elements: int, number: int) -> None:
    """Refuse nesting or an element count no PubMed record comes near (memory grows with both)."""
    if depth > limits.max_depth:
        raise PubmedLimitError(
            f"{label}: refused: elements nested more than {limits.max_depth} deep (the limit)"
        )
    if elements > limits.max_elements:
        raise PubmedLimitError(
            f"{label}: record {number}: refused: more than {limits.max_elements:,} elements "
            "(the limit for one record)"
        )


def _build(data: bytes, root_open: bytes, wrap: bool, label: str, number: int) -> ET.Element:
    """One record's tree, built by ElementTree's C parser."""
    try:
        if wrap:
            return ET.fromstring(root_open + data + b"</" + _root_tag(root_open)[0] + b">")[0]
        return ET.fromstring(data)
    except ET.ParseError as exc:
        raise PubmedParseError(f"{label}: record {number}: malformed XML ({exc})") from None


def _record(
    elem: ET.Element, label: str, number: int, extras: list[Any] | None = None
) -> PubmedRecord:
    try:
        return _from_element(elem, extras or [])
    except PubmedParseError as exc:
        raise PubmedParseError(f"{label}: record {number}: {exc}") from None
    except (ValueError, AttributeError) as exc:
        raise PubmedParseError(
            f"{label}: record {number} <{elem.tag}> is unusable: {exc}"
        ) from None


def record_from_element(elem: ET.Element) -> PubmedRecord:
    """A record from one PubmedArticle, PubmedBookArticle or bare MedlineCitation element."""
    return _from_element(elem, [])


def _from_element(elem: ET.Element, extras: list[Any]) -> PubmedRecord:
    """`extras`: what the fast paths read for the placeholders in `elem`."""
    if elem.tag == "PubmedArticle":
        citation = elem.find("MedlineCitation")
        if citation is None:
            raise PubmedParseError("PubmedArticle without MedlineCitation")
        return _from_citation(citation, elem.find("PubmedData"), extras)
    if elem.tag == "PubmedBookArticle":
        return _from_book(elem, extras)
    if elem.tag == "MedlineCitation":
        return _from_citation(elem, None, extras)
    raise PubmedParseError(f"not a PubMed record element: <{elem.tag}>")


_NOT_READ: Any = object()


def _read(elem: ET.Element | None, extras: list[Any]) -> Any:
    """What a fast path read for `elem` if it is a placeholder, else `_NOT_READ`."""
    if elem is None or not extras:
        return _NOT_READ
    index = elem.get(_MARK)
    return _NOT_READ if index is None else extras[int(index)]


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


def _text(elem: ET.Element | None) -> str:
    """Text content with inline markup (<i>, <sup>, MathML) flattened and whitespace collapsed."""
    if elem is None:
        return ""
    text = "".join(elem.itertext()) if len(elem) else elem.text
    return _collapse(text) if text else ""


_ASCII_SPACE = "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"  # str.split() splits at these and " "


def _collapse(text: str) -> str:
    """`" ".join(text.split())`, without splitting text that is single-spaced already.

    Abstracts are long and mostly are; looking for other whitespace is cheaper than splitting.
    Beyond ASCII, every whitespace character but the space is unprintable.
    """
    if "  " in text or text[0] == " " or text[-1] == " ":
        return " ".join(text.split())
    if text.isascii():
        for space in _ASCII_SPACE:
            if space in text:
                return " ".join(text.split())
        return text
    return text if text.isprintable() else " ".join(text.split())


def _leaf(elem: ET.Element) -> str:
    """Text of an element that holds a plain name (MeSH terms, types): no markup inside."""
    text = elem.text
    if text and "\n" not in text and "  " not in text and not len(elem):
        return text.strip()
    if len(elem) or text:
        return _text(elem)
    return ""


def _children(elem: ET.Element | None, list_tag: str, tag: str) -> list[ET.Element]:
    holder = elem.find(list_tag) if elem is not None else None
    return holder.findall(tag) if holder is not None else []


def _pmid(elem: ET.Element) -> str:
    pmid = elem.findtext("PMID") or ""
    if not is_pmid(pmid):
        raise PubmedParseError(f"<{elem.tag}><PMID> {pmid!r} refused: {PMID_RULE}")
    return pmid


def _from_citation(
    citation: ET.Element, pubmed_data: ET.Element | None, extras: list[Any]
) -> PubmedRecord:
    pmid = _pmid(citation)
    article = citation.find("Article")
    if article is None:
        article = ET.Element("Article")
    journal = article.find("Journal")
    read = _read(journal, extras)
    if read is not _NOT_READ:
        pub_date, year, journal_title, abbrev = read
    else:
        issue = journal.find("JournalIssue") if journal is not None else None
        pub_date, year = _pub_date(issue.find("PubDate") if issue is not None else None)
        journal_title = _text(journal.find("Title")) if journal is not None else ""
        abbrev = _strip(journal.findtext("ISOAbbreviation")) if journal is not None else ""
    if year is None:
        article_date = article.find("ArticleDate")
        year = _int(article_date.findtext("Year")) if article_date is not None else None
    ptypes = _publication_types(_children(article, "PublicationTypeList", "PublicationType"))
    mesh_list = citation.find("MeshHeadingList")
    mesh = _mesh(mesh_list, extras)
    humans, animals = _check_tags(mesh, mesh_list is not None)
    notices = _notices(citation)
    doi = ""
    pmc = ""
    entrez = ""
    if pubmed_data is not None:
        doi, pmc = _article_ids(pubmed_data)
        entrez = _history_date(pubmed_data, "entrez", extras)
    if not doi:
        doi = _elocation_doi(article)
    if not abbrev:
        info = citation.find("MedlineJournalInfo")
        abbrev = _strip(info.findtext("MedlineTA")) if info is not None else ""
    return PubmedRecord(
        pmid=pmid,
        title=_text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle")),
        abstract=_abstract(article.find("Abstract")),
        journal=journal_title,
        journal_abbrev=abbrev,
        year=year,
        pub_date=pub_date,
        entrez_date=entrez,
        authors=_authors(article.findall("AuthorList"), extras),
        publication_types=ptypes,
        mesh_headings=mesh,
        humans=humans,
        animals=animals,
        doi=doi,
        pmc=pmc,
        languages=_languages(article),
        notices=notices,
        retracted=_retracted(ptypes, notices),
        status=citation.get("Status", ""),
        kind="article",
    )


def _from_book(elem: ET.Element, extras: list[Any]) -> PubmedRecord:
    doc = elem.find("BookDocument")
    if doc is None:
        raise PubmedParseError("PubmedBookArticle without BookDocument")
    book_data = elem.find("PubmedBookData")
    pmid = _pmid(doc)
    book = doc.find("Book")
    book_title = _text(book.find("BookTitle")) if book is not None else ""
    article_title = _text(doc.find("ArticleTitle")) or _text(doc.find("VernacularTitle"))
    pub_date, year = _pub_date(book.find("PubDate") if book is not None else None)
    authors = _authors(doc.findall("AuthorList"), extras)
    if not authors and book is not None:
        authors = _authors(book.findall("AuthorList"), extras)
    ptypes = _publication_types(doc.findall("PublicationType"))
    doi, pmc = _article_ids(doc)
    entrez = ""
    if book_data is not None:
        data_doi, data_pmc = _article_ids(book_data)
        doi = doi or data_doi
        pmc = pmc or data_pmc
        entrez = _history_date(book_data, "entrez", extras)
    if not doi and book is not None:
        doi = _elocation_doi(book)
    return PubmedRecord(
        pmid=pmid,
        title=article_title or book_title,
        abstract=_abstract(doc.find("Abstract")),
        journal=book_title if article_title else "",
        year=year,
        pub_date=pub_date,
        entrez_date=entrez,
        authors=authors,
        publication_types=ptypes,
        doi=doi,
        pmc=pmc,
        languages=_languages(doc),
        retracted=_retracted(ptypes, ()),
        kind="book",
    )


def _int(value: str | None) -> int | None:
    value = _strip(value)
    return int(value) if ascii_digits(value) else None


def _month(value: str | None) -> int | None:
    value = _strip(value)
    if ascii_digits(value):
        month = int(value)
        return month if 1 <= month <= 12 else None
    return _MONTHS.get(value[:3].lower())


def _iso(year: int, month: int | None, day: int | None) -> str:
    if month is None:
        return f"{year:04d}"
    if day is None or not 1 <= day <= 31:
        return f"{year:04d}-{month:02d}"
    return f"{year:04d}-{month:02d}-{day:02d}"


def _pub_date(elem: ET.Element | None) -> tuple[str, int | None]:
    """(date text, year) from a PubDate: structured Year/Month/Day, or a free-text MedlineDate."""
    if elem is None:
        return "", None
    return _date_parts(
        elem.findtext("Year"),
        elem.findtext("Month"),
        elem.findtext("Day"),
        elem.findtext("MedlineDate"),
    )


def _date_parts(
    year_text: str | None, month: str | None, day: str | None, medline_date: str | None
) -> tuple[str, int | None]:
    """`_pub_date` from the texts of a PubDate's Year, Month, Day and MedlineDate."""
    year = _int(year_text)
    if year is not None:
        return _iso(year, _month(month), _int(day)), year
    medline = _WS.sub(" ", _strip(medline_date))
    match = _YEAR.search(medline)
    return medline, (int(match.group(1)) if match else None)


def _history_date(pubmed_data: ET.Element, status: str, extras: list[Any]) -> str:
    history = pubmed_data.find("History")
    read = _read(history, extras)
    if read is not _NOT_READ:
        return read  # type: ignore[no-any-return]
    for item in history.findall("PubMedPubDate") if history is not None else ():
        if item.get("PubStatus") == status:
            year = _int(item.findtext("Year"))
            if year is not None:
                return _iso(year, _month(item.findtext("Month")), _int(item.findtext("Day")))
    return ""


def _article_ids(parent: ET.Element) -> tuple[str, str]:
    """(doi, pmc): the first non-empty ArticleId of each type, in one pass over the list."""
    doi = pmc = ""
    for item in _children(parent, "ArticleIdList", "ArticleId"):
        id_type = item.get("IdType")
        if id_type == "doi":
            if not doi:
                doi = _strip(item.text)
        elif id_type == "pmc" and not pmc:
            pmc = _strip(item.text)
    return doi, pmc


def _languages(parent: ET.Element) -> tuple[str, ...]:
    return tuple([_strip(x.text) for x in parent.findall("Language") if x.text])


def _elocation_doi(parent: ET.Element) -> str:
    for item in parent.findall("ELocationID"):
        if item.get("EIdType") == "doi" and item.get("ValidYN", "Y") != "N" and _strip(item.text):
            return _strip(item.text)
    return ""


def _abstract(elem: ET.Element | None) -> str:
    if elem is None:
        return ""
    parts = []
    for block in elem.findall("AbstractText"):
        text = _text(block)
        label = _strip(block.get("Label"))
        if label:
            text = f"{label}: {text}" if text else f"{label}:"
        if text:
            parts.append(text)
    return "\n".join(parts)


def _authors(lists: Iterable[ET.Element], extras: list[Any]) -> tuple[str, ...]:
    names: list[str] = []
    for author_list in lists:
        read = _read(author_list, extras)
        if read is not _NOT_READ:
            names.extend(read)
            continue
        if author_list.get("Type") == "editors":
            continue
        for author in author_list.findall("Author"):
            if author.get("ValidYN") == "N":
                continue
            last = author.findtext("LastName")
            if last and (last := last.strip()):
                initials = author.findtext("Initials")
                if initials and (initials := initials.strip()):
                    names.append(f"{last} {initials}")
                else:
                    names.append(last)
                continue
            collective = _text(author.find("CollectiveName"))
            if collective:
                names.append(collective)
    return tuple(names)


def _publication_types(items: Iterable[ET.Element]) -> tuple[PublicationType, ...]:
    out = []
    for item in items:
        name = item.text
        if name and "\n" not in name and "  " not in name and not len(item):
            name = name.strip()  # `_leaf`, inlined for the usual case
        else:
            name = _leaf(item)
        if name:
            out.append(PublicationType(name, item.get("UI") or publication_type_ui(name)))
    return tuple(out)


def _mesh(mesh_list: ET.Element | None, extras: list[Any]) -> tuple[MeshHeading, ...]:
    if mesh_list is None:
        return ()
    read = _read(mesh_list, extras)
    if read is not _NOT_READ:
        return read  # type: ignore[no-any-return]
    out = []
    for heading in mesh_list:
        if heading.tag != "MeshHeading":
            continue
        descriptor = None
        quals: list[str] = []
        for part in heading:
            tag = part.tag
            if tag == "DescriptorName":
                descriptor = part
            elif tag == "QualifierName":
                quals.append(_leaf(part))
        if descriptor is None:
            continue
        name = _leaf(descriptor)
        out.append(
            MeshHeading(
                name,
                descriptor.get("UI") or mesh_ui(name),
                descriptor.get("MajorTopicYN") == "Y",
                tuple(quals),
            )
        )
    return tuple(out)


def _check_tags(mesh: tuple[MeshHeading, ...], indexed: bool) -> tuple[bool | None, bool | None]:
    if not indexed:
        return None, None
    uis = {m.ui for m in mesh}
    names = {m.descriptor for m in mesh}
    return (MESH_HUMANS in uis or "Humans" in names, MESH_ANIMALS in uis or "Animals" in names)


def _notices(citation: ET.Element) -> tuple[Notice, ...]:
    out = []
    for item in _children(citation, "CommentsCorrectionsList", "CommentsCorrections"):
        ref_type = item.get("RefType", "")
        if ref_type in NOTICE_REF_TYPES:
            pmid = item.findtext("PMID") or ""
            if pmid and not is_pmid(pmid):
                raise PubmedParseError(
                    f"<CommentsCorrections RefType={ref_type!r}><PMID> {pmid!r} refused: "
                    f"{PMID_RULE}"
                )
            out.append(
                Notice(ref_type=ref_type, ref_source=_text(item.find("RefSource")), pmid=pmid)
            )
    return tuple(out)


def _retracted(ptypes: tuple[PublicationType, ...], notices: tuple[Notice, ...]) -> bool:
    for pt in ptypes:
        if pt.ui == PT_RETRACTED_PUBLICATION or pt.name == "Retracted Publication":
            return True
    for notice in notices:
        if notice.ref_type in RETRACTION_REF_TYPES:
            return True
    return False


# --------------------------------------------------------------------------- MEDLINE text


def _iter_medline(stream: IO[bytes], label: str) -> Iterator[PubmedRecord]:
    from Bio import Medline

    text = io.TextIOWrapper(stream, encoding="utf-8", errors="strict", newline=None)
    try:
        for raw in Medline.parse(text):
            yield _from_medline(raw, label)
    except UnicodeDecodeError as exc:
        raise PubmedParseError(f"{label}: MEDLINE text is not UTF-8 ({exc})") from None


def _first(value: object) -> str:
    if isinstance(value, list):
        return _strip(" ".join(value))
    return _strip(value) if isinstance(value, str) else ""


def _listed(value: object) -> list[str]:
    if isinstance(value, list):
        return [_strip(v) for v in value if _strip(v)]
    if isinstance(value, str) and value.strip():
        return [value.strip()]
    return []


def _medline_date(dp: str) -> tuple[str, int | None]:
    parts = dp.split()
    if parts and ascii_digits(parts[0]) and len(parts[0]) == 4:
        year = int(parts[0])
        month = _month(parts[1]) if len(parts) > 1 and "-" not in parts[1] else None
        day = _int(parts[2]) if len(parts) > 2 and month else None
        if len(parts) <= 3 and (len(parts) == 1 or month is not None):
            return _iso(year, month, day), year
        return dp, year
    match = _YEAR.search(dp)
    return dp, (int(match.group(1)) if match else None)


def _medline_edat(value: str) -> str:
    match = re.match(r"([0-9]{4})/([0-9]{1,2})/([0-9]{1,2})", value)
    if not match:
        return ""
    return _iso(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def _medline_mesh(terms: list[str]) -> tuple[MeshHeading, ...]:
    out = []
    for term in terms:
        pieces = [p.strip() for p in term.split("/")]
        head = pieces[0]
        major = head.startswith("*")
        name = head.lstrip("*").strip()
        quals = tuple(q.lstrip("*").strip() for q in pieces[1:] if q.strip())
        out.append(MeshHeading(descriptor=name, ui=mesh_ui(name), major=major, qualifiers=quals))
    return tuple(out)


def _medline_notices(raw: dict[str, Any]) -> tuple[Notice, ...]:
    out = []
    for key, ref_type in _MEDLINE_NOTICE_FIELDS.items():
        for value in _listed(raw.get(key)):
            match = re.search(r"PMID:\s*([0-9]+)\b", value)
            source = value[: match.start()].rstrip(" ;") if match else value
            pmid = match.group(1) if match and is_pmid(match.group(1)) else ""
            out.append(Notice(ref_type=ref_type, ref_source=source, pmid=pmid))
    return tuple(out)


def _from_medline(raw: dict[str, Any], label: str) -> PubmedRecord:
    pmid = _first(raw.get("PMID"))
    if not is_pmid(pmid):
        raise PubmedParseError(f"{label}: MEDLINE field PMID {pmid!r} refused: {PMID_RULE}")
    pub_date, year = _medline_date(_first(raw.get("DP")))
    ptypes = tuple(PublicationType(n, publication_type_ui(n)) for n in _listed(raw.get("PT")))
    indexed = "MH" in raw
    mesh = _medline_mesh(_listed(raw.get("MH")))
    humans, animals = _check_tags(mesh, indexed)
    doi = ""
    for value in _listed(raw.get("AID")) + _listed(raw.get("LID")):
        if value.endswith("[doi]"):
            doi = value[: -len("[doi]")].strip()
            break
    notices = _medline_notices(raw)
    authors = tuple(_listed(raw.get("AU")) + _listed(raw.get("CN")))
    return PubmedRecord(
        pmid=pmid,
        title=_WS.sub(" ", _first(raw.get("TI")) or _first(raw.get("BTI"))).strip(),
        abstract=_WS.sub(" ", _first(raw.get("AB"))).strip(),
        journal=_first(raw.get("JT")),
        journal_abbrev=_first(raw.get("TA")),
        year=year,
        pub_date=pub_date,
        entrez_date=_medline_edat(_first(raw.get("EDAT"))),
        authors=authors,
        publication_types=ptypes,
        mesh_headings=mesh,
        humans=humans,
        animals=animals,
        doi=doi,
        pmc=_first(raw.get("PMC")),
        languages=tuple(_listed(raw.get("LA"))),
        notices=notices,
        retracted=_retracted(ptypes, notices),
        status=_first(raw.get("STAT")),
        kind="book" if "BTI" in raw and "TI" not in raw else "article",
    )
