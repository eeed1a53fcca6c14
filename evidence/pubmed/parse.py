"""Stream PubMed XML, MEDLINE citation sets and MEDLINE text into `PubmedRecord`s.

Why not `Bio.Entrez.read`: it loads the DTD named in the DOCTYPE and, for a DTD it does not ship
(pubmed_260101 is what PubMed serves in 2026), tries to download it; it also builds the whole
file in memory. lxml's pull parser never loads a DTD or touches the network, parses any DTD
version, and lets each record be dropped once read, so memory stays flat as files grow and
time grows linearly with their size. The XML section below says how.

Inputs are not trusted: `Limits` bounds what one input may cost (decompressed size and ratio,
the longest tag or run of text, a record's size and element count, nesting depth) and refuses
anything beyond with a `PubmedLimitError` naming the input and the limit; XML that declares
entities is refused, so no entity is ever expanded. Errors give the line in the input itself.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import re
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
                body, label, [((b"<",), limits.max_field, "a single tag or run of text")]
            )
            yield from _iter_xml(guarded, label, deleted, limits)
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
    """Refuses input in which a run between delimiters is longer than its limit, as the bytes go
    by (a delimiter may straddle two reads).

    A rule is (delimiters, limit, what): XML gets `<` (no tag or run of text may exceed
    `max_field`), MEDLINE text gets lines and blank-line-separated records.
    """

    def __init__(
        self,
        stream: IO[bytes],
        label: str,
        rules: Sequence[tuple[tuple[bytes, ...], int, str]],
    ) -> None:
        self._stream = stream
        self._label = label
        self._rules = rules
        self._keep = max(len(d) for r in rules for d in r[0]) - 1
        self._tail = b""  # the last `_keep` bytes, for delimiters cut in two
        self._pos = 0  # bytes read so far
        self._start = [0] * len(rules)  # where each rule's current run began

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
# - lxml's pull parser (libxml2) is fed the input as it is, a chunk at a time: nothing is cut,
#   pruned or rewritten, so every well-formed file parses, and the line and column in an error
#   are those of the file itself.
# - It reports only the end of record elements (and of DeleteCitation and ERROR), so Python sees
#   a handful of events per record, not one per element. Each record is read, then removed from
#   the tree: memory stays flat as files grow, and the work per byte is constant whatever the
#   size of a record.
# - No DTD is loaded, nothing is fetched, no entity is resolved, and a document that declares
#   entities is refused at its root. An entity the document uses without declaring it is an
#   error (as in ElementTree and Bio.Entrez).
# - `Limits` are checked between chunks on what the parser has built so far: the bytes an
#   unfinished element under the root has taken, its elements once it could hold too many, the
#   nesting of the open elements, the number of elements under the root that are not records.
#   libxml2's own limits (nesting up to 256 deep, names up to 50,000 characters, text nodes up
#   to 10 MB) stay on unless `Limits` allow more (huge_tree), and then ours bound the input.

# Read and feed size.
_CHUNK = 1 << 17
# An unfinished element that may hold more elements than allowed has them counted, and counted
# again each time it has grown by this many bytes or doubled, whichever is more.
_HOLD = 1 << 20
_LIBXML_DEPTH = 256  # libxml2's nesting limit, without huge_tree
_LIBXML_HUGE_DEPTH = 2048  # ...and with it
_LIBXML_TEXT = 10_000_000  # libxml2's limit on a text node, without huge_tree
_RECORD_TAGS = frozenset({"PubmedArticle", "PubmedBookArticle"})
_TOP_RECORD_TAGS = frozenset({*_RECORD_TAGS, "MedlineCitation"})  # records under the root
_UNDECLARED = "WAR_UNDECLARED_ENTITY"


def _parser(events: tuple[str, ...], tags: Iterable[str] | None, huge: bool) -> Any:
    """A pull parser that loads no DTD, fetches nothing and resolves no entity."""
    from lxml import etree

    return etree.XMLPullParser(
        events=events,
        tag=sorted(tags) if tags is not None else None,
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=huge,
        remove_comments=True,
        remove_pis=True,
    )


@dataclass
class _Top:
    """The last element under the root while it is unfinished: since when it is known."""

    elem: Any = None
    since: int = 0  # bytes fed when it was first seen (it is at least as long as what came after)
    began: int = 0  # bytes fed before the chunk in which it began (it is at most this long)
    next_count: int = 0  # bytes fed at which its elements are counted next


class _XmlReader:
    """Records from one XML input; see the notes above."""

    def __init__(
        self, stream: IO[bytes], label: str, deleted: list[str] | None, limits: Limits
    ) -> None:
        self.stream = stream
        self.label = label
        self.deleted = deleted
        self.limits = limits
        self.huge = limits.max_depth > _LIBXML_DEPTH or limits.max_field > _LIBXML_TEXT
        self.depth_cap = _LIBXML_HUGE_DEPTH if self.huge else _LIBXML_DEPTH
        self.fed = 0
        self.count = 0  # records read
        self.others = 0  # elements under the root that are not records
        self.root: Any = None
        self.root_tag = ""
        self._warnings = 0  # entries of the parser's log already looked at
        self.single = False  # the root is itself a record
        self.top = _Top()
        self._deep: Any = None
        self._active: Any = None  # the parser being fed

    # ----------------------------------------------------------------- reading

    def records(self) -> Iterator[PubmedRecord]:
        from lxml import etree

        try:
            chunks = self._prolog()
            if chunks is None:
                return
            parser = self._active = _parser(("start", "end"), self._watched(), self.huge)
            last = False
            while True:
                if chunks:
                    chunk = chunks.pop(0)
                else:
                    chunk = self.stream.read(_CHUNK)
                before = self.fed
                if chunk:
                    self.fed += len(chunk)
                    parser.feed(chunk)
                else:
                    last = True
                    parser.close()
                self._logged(parser)
                for event, elem in parser.read_events():
                    if event == "start":
                        if self.root is None:
                            self._begin(elem)
                        continue
                    record = self._end(elem, before)
                    if record is not None:
                        yield record
                if last:
                    break
                self._check_top(before)
        except etree.XMLSyntaxError as exc:
            self._drain()
            raise self._syntax_error(exc) from None
        if self.root is None:
            raise PubmedParseError(f"{self.label}: no XML element found")

    def _prolog(self) -> list[bytes] | None:
        """The chunks up to the root's start tag, read to learn the root's name first."""
        from lxml import etree

        probe = self._active = _parser(("start",), None, self.huge)
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                chunk = self.stream.read(_CHUNK)
                if not chunk:
                    probe.close()  # raises: no root element
                    return None
                chunks.append(chunk)
                size += len(chunk)
                probe.feed(chunk)
                for entry in probe.feed_error_log:
                    if entry.level_name in ("ERROR", "FATAL"):
                        self._drain()
                        raise self._logged_error(entry)
                for _, elem in probe.read_events():
                    self.root_tag = elem.tag
                    if self.root_tag not in _XML_ROOTS and self.root_tag != "eFetchResult":
                        raise PubmedParseError(
                            f"{self.label}: XML root <{self.root_tag}> is not PubMed or MEDLINE XML"
                        )
                    return chunks
                if size > self.limits.max_record:
                    raise PubmedLimitError(
                        f"{self.label}: refused: more than {format_size(self.limits.max_record)}"
                        " before the first element (the limit for one record)"
                    )
        except etree.XMLSyntaxError as exc:
            self._drain()
            raise self._syntax_error(exc) from None

    def _watched(self) -> set[str]:
        """The elements whose end the parser reports (and the root, whose start it reports)."""
        if self.root_tag in _TOP_RECORD_TAGS:
            return {self.root_tag}
        return {self.root_tag, *_TOP_RECORD_TAGS, "DeleteCitation", "ERROR"}

    def _begin(self, root: Any) -> None:
        """The root has started: the prolog, where declarations live, is over."""
        self.root = root
        dtd = root.getroottree().docinfo.internalDTD
        if dtd is not None and next(iter(dtd.iterentities()), None) is not None:
            raise PubmedLimitError(
                f"{self.label}: refused: it declares XML entities (<!ENTITY), which PubMed data "
                "never does; entities are not expanded"
            )
        self.single = root.tag in _TOP_RECORD_TAGS
        if self.single:
            self.top = _Top(root, self.fed, 0, self._first_count(0))
        if self.limits.max_depth < self.depth_cap:
            from lxml import etree

            steps = self.limits.max_depth - (1 if self.single else 2)
            self._deep = etree.XPath("boolean(" + "/".join(["*"] * max(1, steps)) + ")")

    def _end(self, elem: Any, before: int) -> PubmedRecord | None:
        """A watched element has ended: read it if it is a record, and drop it."""
        root = self.root
        if self.single:
            if elem is not root:
                return None
            self.count += 1
            self._check_finished(elem, before)
            return self._record(elem)
        if elem.getparent() is not root:
            return None  # MedlineCitation inside a PubmedArticle, say
        tag = elem.tag
        record = None
        if tag in _RECORD_TAGS or (tag == "MedlineCitation" and self.root_tag != "PubmedArticle"):
            self.count += 1
            self._check_finished(elem, before)
            record = self._record(elem)
        elif tag == "DeleteCitation" and self.deleted is not None:
            self._check_finished(elem, before)
            for p in elem.iter("PMID"):
                if not is_pmid(p.text):
                    raise PubmedParseError(
                        f"{self.label}: line {p.sourceline}: <DeleteCitation><PMID> {p.text!r} "
                        f"refused: {PMID_RULE}"
                    )
                self.deleted.append(str(p.text))
        elif tag == "ERROR":
            raise PubmedErrorPayload(
                f"{self.label}: NCBI returned an error instead of records: {_text(elem)}"
            )
        else:
            return None  # left for `_check_top` to count as an element that is not a record
        if elem is self.top.elem:
            self.top = _Top()
        elem.clear()
        root.remove(elem)
        return record

    def _record(self, elem: Any) -> PubmedRecord:
        try:
            return _from_element(elem)
        except PubmedParseError as exc:
            line = getattr(exc, "line", None) or elem.sourceline
            raise PubmedParseError(
                f"{self.label}: record {self.count}, line {line}: {exc}"
            ) from None
        except (ValueError, AttributeError) as exc:
            raise PubmedParseError(
                f"{self.label}: record {self.count}, line {elem.sourceline}: <{elem.tag}> is "
                f"unusable: {exc}"
            ) from None

    # ----------------------------------------------------------------- limits

    def _first_count(self, began: int) -> int:
        """Where an element that began at `began` could first hold too many elements."""
        return began + 4 * self.limits.max_elements  # `<a/>`: no element takes fewer bytes

    def _check_top(self, before: int) -> None:
        """After a chunk: elements under the root that are done but not records are counted
        and dropped; the unfinished one is measured, and the open elements' nesting."""
        root = self.root
        if root is None:
            return
        limits = self.limits
        if not self.single:
            done = len(root) - 1
            if done > 0:
                for elem in root[:done]:
                    self._check_deep(elem)
                self.others += done
                if self.others > limits.max_elements:
                    raise PubmedLimitError(
                        f"{self.label}: refused: more than {limits.max_elements:,} elements "
                        "under the root that are not PubMed records (the limit)"
                    )
                del root[:done]
            last = root[-1] if len(root) else None
            if last is None:
                self.top = _Top()
                return
            if last is not self.top.elem:
                self.top = _Top(last, self.fed, before, self._first_count(before))
        top = self.top
        if self.fed - top.since > limits.max_record:
            raise self._too_large(top.elem, self.count + 1)
        if self.limits.max_depth < self.depth_cap:
            depth, elem = 1, root
            while len(elem):
                elem = elem[-1]
                depth += 1
            if depth > limits.max_depth:
                raise self._too_deep()
        if self.fed >= top.next_count:
            self._check_count(top.elem, self.count + 1)
            top.next_count = self.fed + max(_HOLD, self.fed - top.began)

    def _check_finished(self, elem: Any, before: int) -> None:
        """A finished record (or DeleteCitation): its bytes, elements and nesting."""
        if elem is self.top.elem:
            if before - self.top.since > self.limits.max_record:
                raise self._too_large(elem, self.count)
            began = self.top.began
        else:
            began = before  # it began and ended in the last chunk
        if self.fed >= self._first_count(began):
            self._check_count(elem, self.count)
        self._check_deep(elem)

    def _check_count(self, elem: Any, number: int) -> None:
        elements = int(elem.xpath("count(descendant-or-self::*)"))
        if elements > self.limits.max_elements:
            raise PubmedLimitError(
                f"{self.label}: record {number}: refused: more than "
                f"{self.limits.max_elements:,} elements (the limit for one record)"
            )

    def _check_deep(self, elem: Any) -> None:
        if self._deep is not None and self._deep(elem):
            raise self._too_deep()

    def _too_deep(self) -> PubmedLimitError:
        limit = min(self.limits.max_depth, self.depth_cap)
        return PubmedLimitError(
            f"{self.label}: refused: elements nested more than {limit} deep (the limit)"
        )

    def _too_large(self, elem: Any, number: int) -> PubmedLimitError:
        size = format_size(self.limits.max_record)
        if self.single or elem.tag in _TOP_RECORD_TAGS:
            return PubmedLimitError(
                f"{self.label}: record {number}: refused: larger than {size} (the limit for one "
                "record)"
            )
        return PubmedLimitError(
            f"{self.label}: refused: <{elem.tag}> after record {number - 1} is larger than "
            f"{size} (the limit for one record)"
        )

    # ----------------------------------------------------------------- errors

    def _logged(self, parser: Any) -> None:
        """Raise what the parser logged since the last chunk. libxml2 stops at a fatal error
        without raising until the parser is closed, and lets an undeclared entity pass with a
        warning when the document names an external DTD (it might be declared there; it is
        not, since no DTD is loaded)."""
        log = parser.feed_error_log
        if len(log) == self._warnings:
            return
        entries, self._warnings = list(log)[self._warnings :], len(log)
        for entry in entries:
            if entry.type_name == _UNDECLARED or entry.level_name in ("ERROR", "FATAL"):
                self._drain()
                raise self._logged_error(entry)

    def _drain(self) -> None:
        """After a syntax error, read on as far as the longest token allowed: if the error came
        from a token beyond `Limits`, the refusal naming that limit is the one to report."""
        left = self.limits.max_field + _CHUNK
        while left > 0:
            chunk = self.stream.read(min(_CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)

    def _syntax_error(self, exc: Any) -> PubmedParseError:
        """The first error the parser logged (closing a parser that stopped at an error only
        says that no element was found), else the exception's own."""
        for entry in self._active.feed_error_log if self._active is not None else ():
            if entry.level_name in ("ERROR", "FATAL"):
                return self._logged_error(entry)
        line, column = exc.position or (exc.lineno, 0)
        return self._malformed(line, column, str(exc.msg or exc))

    def _logged_error(self, entry: Any) -> PubmedParseError:
        message = entry.message.strip()
        if entry.type_name in ("ERR_UNDECLARED_ENTITY", _UNDECLARED):
            message = f"undefined entity: {message}"
        elif "Excessive depth" in message:
            return self._too_deep()
        elif "amplification" in message:
            return PubmedLimitError(
                f"{self.label}: refused: it declares XML entities that expand without bound "
                "(PubMed data declares none); entities are not expanded"
            )
        return self._malformed(entry.line, entry.column, message)

    def _malformed(self, line: int, column: int, message: str) -> PubmedParseError:
        message = re.sub(r", line \d+, column \d+$", "", message.strip())
        return PubmedParseError(
            f"{self.label}: line {line}, column {column}: malformed or truncated XML ({message})"
        )


def _iter_xml(
    stream: IO[bytes], label: str, deleted: list[str] | None, limits: Limits
) -> Iterator[PubmedRecord]:
    """Records from an XML stream, in file order."""
    yield from _XmlReader(stream, label, deleted, limits).records()


# --------------------------------------------------------------------------- record fields
#
# Written for lxml's elements and ElementTree's alike (the tests compare with ElementTree on
# whole documents). Each container is walked once over its children, which is several times
# cheaper with lxml than a `find` per field; `_firsts` and `_all` keep `find`'s and `findall`'s
# meaning (the first, or every, direct child of that name).


def record_from_element(elem: Any) -> PubmedRecord:
    """A record from one PubmedArticle, PubmedBookArticle or bare MedlineCitation element
    (from lxml or ElementTree)."""
    return _from_element(elem)


class _FieldError(PubmedParseError):
    """A refused field, with the line of the element it came from (lxml elements know it)."""

    def __init__(self, message: str, elem: Any = None) -> None:
        super().__init__(message)
        self.line = getattr(elem, "sourceline", None)


def _from_element(elem: Any) -> PubmedRecord:
    if elem.tag == "PubmedArticle":
        kids = _firsts(elem, ("MedlineCitation", "PubmedData"))
        citation = kids["MedlineCitation"]
        if citation is None:
            raise PubmedParseError("PubmedArticle without MedlineCitation")
        return _from_citation(citation, kids["PubmedData"])
    if elem.tag == "PubmedBookArticle":
        return _from_book(elem)
    if elem.tag == "MedlineCitation":
        return _from_citation(elem, None)
    raise PubmedParseError(f"not a PubMed record element: <{elem.tag}>")


def _firsts(elem: Any, tags: Iterable[str]) -> dict[str, Any]:
    """The first child of each name in `tags` (None where there is none): `find` for each."""
    found: dict[str, Any] = dict.fromkeys(tags)
    if elem is None:
        return found
    missing = len(found)
    for child in elem:
        tag = child.tag
        if tag in found and found[tag] is None:
            found[tag] = child
            missing -= 1
            if not missing:
                break
    return found


def _all(elem: Any, tag: str) -> list[Any]:
    """Every child named `tag`: `findall(tag)`."""
    if elem is None:
        return []
    return [child for child in elem if child.tag == tag]


def _child_text(elem: Any, tag: str) -> str | None:
    """`findtext(tag)`: the first such child's text ("" if it has none), None if no child."""
    for child in elem:
        if child.tag == tag:
            return child.text or ""
    return None


def _strip(value: str | None) -> str:
    return value.strip() if value else ""


def _text(elem: Any) -> str:
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


def _leaf(elem: Any) -> str:
    """Text of an element that holds a plain name (MeSH terms, types): no markup inside."""
    text = elem.text
    if text and "\n" not in text and "  " not in text and not len(elem):
        return text.strip()
    if len(elem) or text:
        return _text(elem)
    return ""


def _pmid(elem: Any) -> str:
    for child in elem:
        if child.tag == "PMID":
            pmid = child.text or ""
            if not is_pmid(pmid):
                raise _FieldError(f"<{elem.tag}><PMID> {pmid!r} refused: {PMID_RULE}", child)
            return pmid
    raise _FieldError(f"<{elem.tag}><PMID> '' refused: {PMID_RULE}", elem)


_CITATION = ("PMID", "Article", "MeshHeadingList", "CommentsCorrectionsList", "MedlineJournalInfo")
_ARTICLE = (
    "Journal",
    "ArticleTitle",
    "VernacularTitle",
    "Abstract",
    "PublicationTypeList",
    "ArticleDate",
)


def _from_citation(citation: Any, pubmed_data: Any) -> PubmedRecord:
    pmid = _pmid(citation)
    kids = _firsts(citation, _CITATION)
    article = kids["Article"]
    parts: dict[str, Any] = dict.fromkeys(_ARTICLE)
    author_lists: list[Any] = []
    elocations: list[Any] = []
    languages: list[str] = []
    for child in article if article is not None else ():
        tag = child.tag
        if tag == "AuthorList":
            author_lists.append(child)
        elif tag == "ELocationID":
            elocations.append(child)
        elif tag == "Language":
            if child.text:
                languages.append(child.text.strip())
        elif tag in parts and parts[tag] is None:
            parts[tag] = child
    journal = parts["Journal"]
    jparts = _firsts(journal, ("JournalIssue", "Title", "ISOAbbreviation"))
    issue = jparts["JournalIssue"]
    pub_date, year = _pub_date(
        _firsts(issue, ("PubDate",))["PubDate"] if issue is not None else None
    )
    journal_title = _text(jparts["Title"])
    abbrev = _strip(jparts["ISOAbbreviation"].text) if jparts["ISOAbbreviation"] is not None else ""
    if year is None and parts["ArticleDate"] is not None:
        year = _int(_child_text(parts["ArticleDate"], "Year"))
    ptypes = _publication_types(_all(parts["PublicationTypeList"], "PublicationType"))
    mesh_list = kids["MeshHeadingList"]
    mesh = _mesh(mesh_list)
    humans, animals = _check_tags(mesh, mesh_list is not None)
    notices = _notices(kids["CommentsCorrectionsList"])
    doi = ""
    pmc = ""
    entrez = ""
    if pubmed_data is not None:
        data = _firsts(pubmed_data, ("ArticleIdList", "History"))
        doi, pmc = _article_ids(data["ArticleIdList"])
        entrez = _history_date(data["History"], "entrez")
    if not doi:
        doi = _elocation_doi(elocations)
    if not abbrev:
        info = kids["MedlineJournalInfo"]
        abbrev = _strip(_child_text(info, "MedlineTA")) if info is not None else ""
    return PubmedRecord(
        pmid=pmid,
        title=_text(parts["ArticleTitle"]) or _text(parts["VernacularTitle"]),
        abstract=_abstract(parts["Abstract"]),
        journal=journal_title,
        journal_abbrev=abbrev,
        year=year,
        pub_date=pub_date,
        entrez_date=entrez,
        authors=_authors(author_lists),
        publication_types=ptypes,
        mesh_headings=mesh,
        humans=humans,
        animals=animals,
        doi=doi,
        pmc=pmc,
        languages=tuple(languages),
        notices=notices,
        retracted=_retracted(ptypes, notices),
        status=citation.get("Status", ""),
        kind="article",
    )


def _from_book(elem: Any) -> PubmedRecord:
    outer = _firsts(elem, ("BookDocument", "PubmedBookData"))
    doc, book_data = outer["BookDocument"], outer["PubmedBookData"]
    if doc is None:
        raise PubmedParseError("PubmedBookArticle without BookDocument")
    pmid = _pmid(doc)
    kids = _firsts(doc, ("Book", "ArticleTitle", "VernacularTitle", "Abstract"))
    book = kids["Book"]
    book_kids = _firsts(book, ("BookTitle", "PubDate"))
    book_title = _text(book_kids["BookTitle"])
    article_title = _text(kids["ArticleTitle"]) or _text(kids["VernacularTitle"])
    pub_date, year = _pub_date(book_kids["PubDate"])
    authors = _authors(_all(doc, "AuthorList"))
    if not authors and book is not None:
        authors = _authors(_all(book, "AuthorList"))
    ptypes = _publication_types(_all(doc, "PublicationType"))
    doi, pmc = _article_ids(_firsts(doc, ("ArticleIdList",))["ArticleIdList"])
    entrez = ""
    if book_data is not None:
        data = _firsts(book_data, ("ArticleIdList", "History"))
        data_doi, data_pmc = _article_ids(data["ArticleIdList"])
        doi = doi or data_doi
        pmc = pmc or data_pmc
        entrez = _history_date(data["History"], "entrez")
    if not doi and book is not None:
        doi = _elocation_doi(_all(book, "ELocationID"))
    languages = tuple([_strip(x.text) for x in _all(doc, "Language") if x.text])
    return PubmedRecord(
        pmid=pmid,
        title=article_title or book_title,
        abstract=_abstract(kids["Abstract"]),
        journal=book_title if article_title else "",
        year=year,
        pub_date=pub_date,
        entrez_date=entrez,
        authors=authors,
        publication_types=ptypes,
        doi=doi,
        pmc=pmc,
        languages=languages,
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


_DATE = ("Year", "Month", "Day", "MedlineDate")


def _date_texts(elem: Any) -> list[str | None]:
    """`findtext` of Year, Month, Day and MedlineDate, in one walk over the children."""
    found = _firsts(elem, _DATE)
    return [None if e is None else (e.text or "") for e in found.values()]


def _pub_date(elem: Any) -> tuple[str, int | None]:
    """(date text, year) from a PubDate: structured Year/Month/Day, or a free-text MedlineDate."""
    if elem is None:
        return "", None
    year_text, month, day, medline_date = _date_texts(elem)
    year = _int(year_text)
    if year is not None:
        return _iso(year, _month(month), _int(day)), year
    medline = _WS.sub(" ", _strip(medline_date))
    match = _YEAR.search(medline)
    return medline, (int(match.group(1)) if match else None)


def _history_date(history: Any, status: str) -> str:
    for item in history if history is not None else ():
        if item.tag == "PubMedPubDate" and item.get("PubStatus") == status:
            year_text, month, day, _ = _date_texts(item)
            year = _int(year_text)
            if year is not None:
                return _iso(year, _month(month), _int(day))
    return ""


def _article_ids(id_list: Any) -> tuple[str, str]:
    """(doi, pmc): the first non-empty ArticleId of each type, in one pass over the list."""
    doi = pmc = ""
    for item in id_list if id_list is not None else ():
        if item.tag != "ArticleId":
            continue
        id_type = item.get("IdType")
        if id_type == "doi":
            if not doi:
                doi = _strip(item.text)
        elif id_type == "pmc" and not pmc:
            pmc = _strip(item.text)
    return doi, pmc


def _elocation_doi(items: Iterable[Any]) -> str:
    for item in items:
        if item.get("EIdType") == "doi" and item.get("ValidYN", "Y") != "N" and _strip(item.text):
            return _strip(item.text)
    return ""


def _abstract(elem: Any) -> str:
    if elem is None:
        return ""
    parts = []
    for block in elem:
        if block.tag != "AbstractText":
            continue
        text = _text(block)
        label = _strip(block.get("Label"))
        if label:
            text = f"{label}: {text}" if text else f"{label}:"
        if text:
            parts.append(text)
    return "\n".join(parts)


_AUTHOR_PARTS = ("LastName", "Initials", "CollectiveName")


def _authors(lists: Iterable[Any]) -> tuple[str, ...]:
    names: list[str] = []
    for author_list in lists:
        if author_list.get("Type") == "editors":
            continue
        for author in author_list:
            if author.tag != "Author" or author.get("ValidYN") == "N":
                continue
            last_name = initials = collective = None
            for part in author:
                tag = part.tag
                if tag == "LastName":
                    if last_name is None:
                        last_name = part
                elif tag == "Initials":
                    if initials is None:
                        initials = part
                elif tag == "CollectiveName" and collective is None:
                    collective = part
            last = last_name.text if last_name is not None else None
            if last and (last := last.strip()):
                first = initials.text if initials is not None else None
                if first and (first := first.strip()):
                    names.append(f"{last} {first}")
                else:
                    names.append(last)
                continue
            name = _text(collective)
            if name:
                names.append(name)
    return tuple(names)


def _publication_types(items: Iterable[Any]) -> tuple[PublicationType, ...]:
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


def _mesh(mesh_list: Any) -> tuple[MeshHeading, ...]:
    if mesh_list is None:
        return ()
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


def _notices(comments: Any) -> tuple[Notice, ...]:
    out = []
    for item in comments if comments is not None else ():
        if item.tag != "CommentsCorrections":
            continue
        ref_type = item.get("RefType", "")
        if ref_type in NOTICE_REF_TYPES:
            parts = _firsts(item, ("PMID", "RefSource"))
            pmid_elem = parts["PMID"]
            pmid = (pmid_elem.text or "") if pmid_elem is not None else ""
            if pmid and not is_pmid(pmid):
                raise _FieldError(
                    f"<CommentsCorrections RefType={ref_type!r}><PMID> {pmid!r} refused: "
                    f"{PMID_RULE}",
                    pmid_elem,
                )
            out.append(Notice(ref_type=ref_type, ref_source=_text(parts["RefSource"]), pmid=pmid))
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
