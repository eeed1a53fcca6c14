"""Stream PubMed XML, MEDLINE citation sets and MEDLINE text into `PubmedRecord`s.

Why not `Bio.Entrez.read`: it loads the DTD named in the DOCTYPE and, for a DTD it does not ship
(pubmed_260101 is what PubMed serves in 2026), tries to download it; it also builds the whole
file in memory. `xml.etree.ElementTree.iterparse` never resolves external DTDs, parses any DTD
version, and lets each record be cleared once read, so memory stays flat as files grow. The XML
section below says how records are cut out of the stream to keep parsing fast.
"""

from __future__ import annotations

import collections
import gzip
import io
import re
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
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

__all__ = [
    "PubmedErrorPayload",
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
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
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


# --------------------------------------------------------------------------- entry points


def iter_records(
    source: Source, *, name: str | None = None, deleted: list[str] | None = None
) -> Iterator[PubmedRecord]:
    """Yield records from a file path, bytes or binary stream, in file order.

    The format (PubMed/MEDLINE XML or MEDLINE text, gzip or not) is detected from the content.
    PMIDs listed under DeleteCitation are appended to `deleted` when given.
    """
    label = name or _label(source)
    stream, owned = _open(source, label)
    try:
        head = stream.read(4096)
        kind = sniff_format(head)
        body = _Chain(head, stream)
        if kind == "xml":
            yield from _iter_xml(body, head, label, deleted)
        elif kind == "medline":
            yield from _iter_medline(body, label)
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
    source: Source, *, name: str | None = None, deleted: list[str] | None = None
) -> list[PubmedRecord]:
    """All records of one input; raises before returning anything if the input is broken."""
    return list(iter_records(source, name=name, deleted=deleted))


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


def _open(source: Source, label: str) -> tuple[IO[bytes], bool]:
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
        return _GzipReader(raw, label), True
    return raw, owned


def _peek(stream: IO[bytes], n: int) -> bytes:
    if hasattr(stream, "peek"):
        return stream.peek(n)[:n]  # type: ignore[attr-defined, no-any-return]
    pos = stream.tell()
    data = stream.read(n)
    stream.seek(pos)
    return data


class _GzipReader(io.RawIOBase):
    """gzip that reports a truncated archive as a parse error naming the file."""

    def __init__(self, raw: IO[bytes], label: str) -> None:
        self._raw = raw
        self._gz = gzip.GzipFile(fileobj=raw, mode="rb")
        self._label = label

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._gz.read(size)
        except (EOFError, OSError, gzip.BadGzipFile) as exc:
            raise PubmedParseError(
                f"{self._label}: damaged or truncated gzip data ({exc})"
            ) from None

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._gz.close()
        self._raw.close()
        super().close()


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
    nested same-name elements.
    """

    def __init__(self, raw: IO[bytes], record_tags: tuple[bytes, ...]) -> None:
        self._raw = raw
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

    def readable(self) -> bool:
        return True

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
                last = buf.rfind(b"<", pos)
                return len(buf) if last < 0 or self._eof else last
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
                last = buf.rfind(b"<", pos)
                cut = size if last < 0 or self._eof else last
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
                self.records.append((b"".join(record), self._extras))
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
    stream: IO[bytes], head: bytes, label: str, deleted: list[str] | None
) -> Iterator[PubmedRecord]:
    root_name, root_open = _root_tag(head)
    declared = _ENCODING.search(head[:200])
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    split = _SPLIT_UNDER.get(root_name, ()) if encoding in {"utf-8", "utf8"} else ()
    # Records are parsed on their own, so namespace declarations on the root must travel along.
    wrap = b"xmlns" in root_open
    source = _RecordStream(stream, split)
    depth = 0
    count = 0
    root: ET.Element | None = None
    root_tag = ""
    try:
        for event, elem in ET.iterparse(source, events=("start", "end")):
            if event == "start":
                depth += 1
                if root is None:
                    root, root_tag = elem, elem.tag
                    if root_tag not in _XML_ROOTS and root_tag != "eFetchResult":
                        raise PubmedParseError(
                            f"{label}: XML root <{root_tag}> is not PubMed or MEDLINE XML"
                        )
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
            elif tag in _RECORD_TAGS or (tag == "MedlineCitation" and root_tag != "PubmedArticle"):
                count += 1
                yield _record(elem, label, count)
            elif tag == "DeleteCitation" and deleted is not None:
                deleted.extend(_strip(p.text) for p in elem.iter("PMID") if p.text)
            elif tag == "ERROR":
                raise PubmedErrorPayload(
                    f"{label}: NCBI returned an error instead of records: {_text(elem)}"
                )
            if depth == 1 and root is not None:
                elem.clear()
                root.remove(elem)
    except ET.ParseError as exc:
        raise PubmedParseError(f"{label}: malformed or truncated XML ({exc})") from None
    if root is None:
        raise PubmedParseError(f"{label}: no XML element found")


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
    pmid = _strip(elem.findtext("PMID"))
    if not pmid.isdigit():
        raise PubmedParseError(f"record without a numeric PMID (found {pmid!r})")
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
    return int(value) if value.isdigit() else None


def _month(value: str | None) -> int | None:
    value = _strip(value)
    if value.isdigit():
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
            out.append(
                Notice(
                    ref_type=ref_type,
                    ref_source=_text(item.find("RefSource")),
                    pmid=_strip(item.findtext("PMID")),
                )
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
    if parts and parts[0].isdigit() and len(parts[0]) == 4:
        year = int(parts[0])
        month = _month(parts[1]) if len(parts) > 1 and "-" not in parts[1] else None
        day = _int(parts[2]) if len(parts) > 2 and month else None
        if len(parts) <= 3 and (len(parts) == 1 or month is not None):
            return _iso(year, month, day), year
        return dp, year
    match = _YEAR.search(dp)
    return dp, (int(match.group(1)) if match else None)


def _medline_edat(value: str) -> str:
    match = re.match(r"(\d{4})/(\d{1,2})/(\d{1,2})", value)
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
            match = re.search(r"PMID:\s*(\d+)", value)
            source = value[: match.start()].rstrip(" ;") if match else value
            out.append(
                Notice(ref_type=ref_type, ref_source=source, pmid=match.group(1) if match else "")
            )
    return tuple(out)


def _from_medline(raw: dict[str, Any], label: str) -> PubmedRecord:
    pmid = _first(raw.get("PMID"))
    if not pmid.isdigit():
        raise PubmedParseError(f"{label}: MEDLINE record without a numeric PMID ({pmid!r})")
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
