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
# - Subtrees the extractor never reads (reference lists, grants, chemicals...) are dropped at
#   byte level, and History / CommentsCorrectionsList keep only the entries that matter.
# PubMed XML has no comments, CDATA sections or internal entity declarations, which is what
# makes cutting at tag boundaries safe; a record left open at the end of the input leaves the
# document unclosed, so truncation is still reported by iterparse.

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
# whose start tag carries one of the given attribute values are kept.
_FILTERED: dict[bytes, tuple[bytes, tuple[bytes, ...]]] = {
    b"History": (b"PubMedPubDate", (b'PubStatus="entrez"',)),
    b"CommentsCorrectionsList": (
        b"CommentsCorrections",
        tuple(f'RefType="{t}"'.encode() for t in sorted(NOTICE_REF_TYPES)),
    ),
}
_SPLIT_UNDER = {
    b"PubmedArticleSet": (b"PubmedArticle", b"PubmedBookArticle"),
    b"PubmedBookArticleSet": (b"PubmedBookArticle",),
    b"MedlineCitationSet": (b"MedlineCitation",),
}
_PROLOG = re.compile(rb"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[.*?\])?\s*>)", re.S)
_START = re.compile(rb"\s*<([A-Za-z_][\w.:-]*)([^>]*)>")
_ENCODING = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_CHUNK = 1 << 20


def _root_tag(head: bytes) -> tuple[bytes, bytes]:
    """(root tag name, its whole start tag) from the first bytes of a document, or empty."""
    pos = 0
    while match := _PROLOG.match(head, pos):
        pos = match.end()
    match = _START.match(head, pos)
    if match is None:
        return b"", b""
    return match.group(1), match.group(0).strip()


class _RecordStream(io.RawIOBase):
    """The document with records replaced by placeholders (see above); records go to `records`.

    Pruning works on raw bytes across chunk boundaries and counts nested same-name elements.
    """

    def __init__(self, raw: IO[bytes], record_tags: tuple[bytes, ...]) -> None:
        self._raw = raw
        self.records: collections.deque[bytes] = collections.deque()
        self.record_tags = frozenset(record_tags)
        names = [n.encode() for n in PRUNED_ELEMENTS] + list(_FILTERED) + list(record_tags)
        self._pattern = re.compile(rb"<(/?)(" + b"|".join(names) + rb")(?=[\s/>])")
        self._buf = b""
        self._pending = b""
        self._offset = 0
        self._eof = False
        self._skip: bytes | None = None
        self._depth = 0
        self._record: list[bytes] | None = None

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

    def _wait(self, buf: bytes, sink: list[bytes], at: int) -> int:
        """Where to stop when a tag may continue in the next chunk (at the end: pass it on)."""
        if self._eof:
            sink.append(buf[at:])
            return len(buf)
        return at

    def _scan(self, out: list[bytes]) -> None:
        buf, pos = self._buf, 0
        while True:
            if self._skip is not None:
                name = self._skip
                close = buf.find(b"</" + name + b">", pos)
                opened = _open_tag(buf, name, pos, close)
                if close < 0 and opened < 0:
                    last = buf.rfind(b"<", pos)
                    pos = len(buf) if last < 0 or self._eof else last
                    break
                if opened >= 0:
                    end = buf.find(b">", opened)
                    if end < 0:
                        pos = len(buf) if self._eof else opened
                        break
                    if buf[end - 1 : end] != b"/":
                        self._depth += 1
                    pos = end + 1
                    continue
                self._depth -= 1
                pos = close + len(name) + 3
                if self._depth == 0:
                    self._skip = None
                continue
            sink = self._record if self._record is not None else out
            match = self._pattern.search(buf, pos)
            if match is None:
                last = buf.rfind(b"<", pos)
                cut = len(buf) if last < 0 or self._eof else last
                sink.append(buf[pos:cut])
                pos = cut
                break
            sink.append(buf[pos : match.start()])
            end = buf.find(b">", match.end())
            if end < 0:
                pos = self._wait(buf, sink, match.start())
                break
            closing, name = match.group(1), match.group(2)
            tag = buf[match.start() : end + 1]
            pos = end + 1
            if name in self.record_tags:
                if closing and self._record is not None:
                    self._record.append(tag)
                    self.records.append(b"".join(self._record))
                    self._record = None
                    out.append(b"<" + name + b"/>")
                elif not closing and self._record is None and not tag.endswith(b"/>"):
                    self._record = [tag]
                else:
                    sink.append(tag)  # unbalanced: the XML parser will say so
                continue
            if closing:
                sink.append(tag)
                continue
            rule = _FILTERED.get(name)
            if rule is not None and not tag.endswith(b"/>"):
                close = buf.find(b"</" + name + b">", pos)
                if close < 0:
                    pos = self._wait(buf, sink, match.start())
                    break
                sink.append(tag)
                sink.extend(_kept_children(buf, pos, close, rule[0], rule[1]))
                sink.append(b"</" + name + b">")
                pos = close + len(name) + 3
                continue
            if rule is None and not tag.endswith(b"/>"):
                self._skip, self._depth = name, 1
        self._buf = buf[pos:]


def _kept_children(
    buf: bytes, start: int, stop: int, child: bytes, markers: tuple[bytes, ...]
) -> list[bytes]:
    """Children `<child ...>...</child>` in buf[start:stop] whose start tag holds a marker."""
    kept: list[tuple[int, bytes]] = []
    close_tag = b"</" + child + b">"
    for marker in markers:
        at = buf.find(marker, start, stop)
        while at >= 0:
            begin = buf.rfind(b"<" + child, start, at)
            end = buf.find(close_tag, at, stop)
            if begin >= 0 and end >= 0 and buf.find(b">", begin, at) < 0:
                kept.append((begin, buf[begin : end + len(close_tag)]))
            at = buf.find(marker, at + 1, stop)
    return [item for _, item in sorted(kept)]


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
            if depth == 1 and tag.encode() in source.record_tags:
                count += 1
                tree = _build(source.records.popleft(), root_open, wrap, label, count)
                yield _record(tree, label, count)
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


def _record(elem: ET.Element, label: str, number: int) -> PubmedRecord:
    try:
        return record_from_element(elem)
    except PubmedParseError as exc:
        raise PubmedParseError(f"{label}: record {number}: {exc}") from None
    except (ValueError, AttributeError) as exc:
        raise PubmedParseError(
            f"{label}: record {number} <{elem.tag}> is unusable: {exc}"
        ) from None


def record_from_element(elem: ET.Element) -> PubmedRecord:
    """A record from one PubmedArticle, PubmedBookArticle or bare MedlineCitation element."""
    if elem.tag == "PubmedArticle":
        citation = elem.find("MedlineCitation")
        if citation is None:
            raise PubmedParseError("PubmedArticle without MedlineCitation")
        return _from_citation(citation, elem.find("PubmedData"))
    if elem.tag == "PubmedBookArticle":
        return _from_book(elem)
    if elem.tag == "MedlineCitation":
        return _from_citation(elem, None)
    raise PubmedParseError(f"not a PubMed record element: <{elem.tag}>")


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


def _text(elem: ET.Element | None) -> str:
    """Text content with inline markup (<i>, <sup>, MathML) flattened and whitespace collapsed."""
    if elem is None:
        return ""
    if not len(elem):
        text = elem.text
        return " ".join(text.split()) if text else ""
    return " ".join("".join(elem.itertext()).split())


def _leaf(elem: ET.Element) -> str:
    """Text of an element that holds a plain name (MeSH terms, types): no markup inside."""
    text = elem.text
    if len(elem) or (text and ("\n" in text or "  " in text)):
        return _text(elem)
    return text.strip() if text else ""


def _path(elem: ET.Element | None, *tags: str) -> ET.Element | None:
    """Child by child lookup: plain-tag `find` runs in C, path expressions do not."""
    for tag in tags:
        if elem is None:
            return None
        elem = elem.find(tag)
    return elem


def _children(elem: ET.Element | None, list_tag: str, tag: str) -> list[ET.Element]:
    holder = elem.find(list_tag) if elem is not None else None
    return holder.findall(tag) if holder is not None else []


def _pmid(elem: ET.Element) -> str:
    pmid = _strip(elem.findtext("PMID"))
    if not pmid.isdigit():
        raise PubmedParseError(f"record without a numeric PMID (found {pmid!r})")
    return pmid


def _from_citation(citation: ET.Element, pubmed_data: ET.Element | None) -> PubmedRecord:
    pmid = _pmid(citation)
    article = citation.find("Article")
    if article is None:
        article = ET.Element("Article")
    journal = article.find("Journal")
    pub_date, year = _pub_date(_path(journal, "JournalIssue", "PubDate"))
    if year is None:
        article_date = article.find("ArticleDate")
        year = _int(article_date.findtext("Year")) if article_date is not None else None
    ptypes = _publication_types(_children(article, "PublicationTypeList", "PublicationType"))
    mesh_list = citation.find("MeshHeadingList")
    mesh = _mesh(mesh_list)
    humans, animals = _check_tags(mesh, mesh_list is not None)
    notices = _notices(citation)
    doi = ""
    pmc = ""
    entrez = ""
    if pubmed_data is not None:
        doi = _article_id(pubmed_data, "doi")
        pmc = _article_id(pubmed_data, "pmc")
        entrez = _history_date(pubmed_data, "entrez")
    if not doi:
        doi = _elocation_doi(article)
    abbrev = ""
    if journal is not None:
        abbrev = _strip(journal.findtext("ISOAbbreviation"))
    if not abbrev:
        info = citation.find("MedlineJournalInfo")
        abbrev = _strip(info.findtext("MedlineTA")) if info is not None else ""
    return PubmedRecord(
        pmid=pmid,
        title=_text(article.find("ArticleTitle")) or _text(article.find("VernacularTitle")),
        abstract=_abstract(article.find("Abstract")),
        journal=_text(journal.find("Title")) if journal is not None else "",
        journal_abbrev=abbrev,
        year=year,
        pub_date=pub_date,
        entrez_date=entrez,
        authors=_authors(article.findall("AuthorList")),
        publication_types=ptypes,
        mesh_headings=mesh,
        humans=humans,
        animals=animals,
        doi=doi,
        pmc=pmc,
        languages=tuple(_strip(x.text) for x in article.findall("Language") if x.text),
        notices=notices,
        retracted=_retracted(ptypes, notices),
        status=citation.get("Status", ""),
        kind="article",
    )


def _from_book(elem: ET.Element) -> PubmedRecord:
    doc = elem.find("BookDocument")
    if doc is None:
        raise PubmedParseError("PubmedBookArticle without BookDocument")
    book_data = elem.find("PubmedBookData")
    pmid = _pmid(doc)
    book = doc.find("Book")
    book_title = _text(book.find("BookTitle")) if book is not None else ""
    article_title = _text(doc.find("ArticleTitle")) or _text(doc.find("VernacularTitle"))
    pub_date, year = _pub_date(book.find("PubDate") if book is not None else None)
    authors = _authors(doc.findall("AuthorList"))
    if not authors and book is not None:
        authors = _authors(book.findall("AuthorList"))
    ptypes = _publication_types(doc.findall("PublicationType"))
    doi = _article_id(doc, "doi")
    pmc = _article_id(doc, "pmc")
    entrez = ""
    if book_data is not None:
        doi = doi or _article_id(book_data, "doi")
        pmc = pmc or _article_id(book_data, "pmc")
        entrez = _history_date(book_data, "entrez")
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
        languages=tuple(_strip(x.text) for x in doc.findall("Language") if x.text),
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
    year = _int(elem.findtext("Year"))
    if year is not None:
        return _iso(year, _month(elem.findtext("Month")), _int(elem.findtext("Day"))), year
    medline = _WS.sub(" ", _strip(elem.findtext("MedlineDate")))
    match = _YEAR.search(medline)
    return medline, (int(match.group(1)) if match else None)


def _history_date(pubmed_data: ET.Element, status: str) -> str:
    for item in _children(pubmed_data, "History", "PubMedPubDate"):
        if item.get("PubStatus") == status:
            year = _int(item.findtext("Year"))
            if year is not None:
                return _iso(year, _month(item.findtext("Month")), _int(item.findtext("Day")))
    return ""


def _article_id(parent: ET.Element, id_type: str) -> str:
    for item in _children(parent, "ArticleIdList", "ArticleId"):
        if item.get("IdType") == id_type and _strip(item.text):
            return _strip(item.text)
    return ""


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


def _authors(lists: Iterable[ET.Element]) -> tuple[str, ...]:
    names: list[str] = []
    for author_list in lists:
        if author_list.get("Type") == "editors":
            continue
        for author in author_list.findall("Author"):
            if author.get("ValidYN", "Y") == "N":
                continue
            last = _strip(author.findtext("LastName"))
            if last:
                initials = _strip(author.findtext("Initials"))
                names.append(f"{last} {initials}".strip())
                continue
            collective = _text(author.find("CollectiveName"))
            if collective:
                names.append(collective)
    return tuple(names)


def _publication_types(items: Iterable[ET.Element]) -> tuple[PublicationType, ...]:
    out = []
    for item in items:
        name = _leaf(item)
        if name:
            out.append(PublicationType(name, item.get("UI") or publication_type_ui(name)))
    return tuple(out)


def _mesh(mesh_list: ET.Element | None) -> tuple[MeshHeading, ...]:
    if mesh_list is None:
        return ()
    out = []
    for heading in mesh_list:
        descriptor = None
        quals: list[str] = []
        for part in heading:
            if part.tag == "DescriptorName":
                descriptor = part
            elif part.tag == "QualifierName":
                quals.append(_leaf(part))
        if heading.tag != "MeshHeading" or descriptor is None:
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
    return any(
        pt.ui == PT_RETRACTED_PUBLICATION or pt.name == "Retracted Publication" for pt in ptypes
    ) or any(n.ref_type in RETRACTION_REF_TYPES for n in notices)


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
