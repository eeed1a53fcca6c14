"""Vancouver-style references, one numbering for the whole page, and the map from every
source token a table cites (`PMID:n`, `doi:x`, a study id) to its reference number.

A reference is written from the PubMed record when the cache holds one (authors, title, journal
abbreviation, year), from the study table otherwise, and never from an internal id: an id is only
an anchor. Source URLs on hosts the data lists as mirrors, aggregators or AI-generated pages are
marked, and a study seen only through such copies says so in its reference.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

from evidence.inputs.source_hosts import HostMark, mark_for, url_host
from evidence.pubmed.records import PubmedRecord
from evidence.report.markup import cell, one_line

MAX_AUTHORS = 6
NO_TITLE = "[Title not recorded]"
ONLY_SECONDARY = "only secondary copies seen"
# "Name 2004;28(10):1517-23 (note)" or "Name 37(5):504-508": journal, volume(issue):pages.
_CITATION = re.compile(
    r"^(?P<name>.*?[A-Za-z)&.])\s*,?\s+"
    r"(?:(?P<year>1[89]\d\d|20\d\d)(?:\s+[A-Z][a-z]{2}(?:\s+\d{1,2})?)?;)?"
    r"(?P<volume>\d+)(?:\((?P<issue>[^()]+)\))?:(?P<pages>[A-Za-z]?\d+(?:[-–][A-Za-z]?\d+)?)"
    r"(?P<rest>.*)$"
)


@dataclass(frozen=True)
class Source:
    """One URL a study was seen at, by host, with its reliability mark if the host is listed."""

    host: str
    mark: HostMark | None = None


@dataclass(frozen=True)
class Reference:
    number: int
    study_id: str  # an anchor only, never shown
    authors: str
    title: str
    journal: str
    year: str
    volume_issue_pages: str
    pmid: str
    doi: str
    design: str
    indication: str
    from_pubmed: bool
    sources: tuple[Source, ...] = ()

    @property
    def only_secondary(self) -> bool:
        """Every source seen is a marked copy, and no PubMed record or DOI stands behind it."""
        return bool(self.sources) and all(s.mark is not None for s in self.sources)

    @property
    def has_title(self) -> bool:
        return self.title != NO_TITLE

    @property
    def text(self) -> str:
        """The citation in Vancouver order: Authors. Title. Journal. Year;vol(issue):pages."""
        parts = [p for p in (self.authors, self.title) if p]
        head = ". ".join(_no_stop(p) for p in parts) + "."
        tail = _no_stop(self.journal)
        date = self.year + (f";{self.volume_issue_pages}" if self.volume_issue_pages else "")
        if tail and date:
            tail = f"{tail}. {date}"
        elif date:
            tail = date
        return f"{head} {tail}." if tail else head


@dataclass(frozen=True)
class References:
    entries: tuple[Reference, ...] = ()
    # Source token (PMID:n, doi:x, study id) → the numbers of the references it names.
    numbers: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def cite(self, token: str) -> tuple[int, ...]:
        return self.numbers.get(token, ())

    def counts(self) -> dict[str, int]:
        """What a reader would notice: ids as text, missing titles, marked and lone copies."""
        return {
            "references": len(self.entries),
            "beginning_with_id": sum(r.text.startswith(r.study_id) for r in self.entries),
            "without_title": sum(not r.has_title for r in self.entries),
            "from_pubmed": sum(r.from_pubmed for r in self.entries),
            "marked_sources": sum(s.mark is not None for r in self.entries for s in r.sources),
            "only_secondary": sum(r.only_secondary for r in self.entries),
        }


def _no_stop(text: str) -> str:
    return text.rstrip(" .")


def _text(v: object) -> str:
    return one_line(v)


def vancouver_authors(names: Iterable[str]) -> str:
    """Up to six authors, then "et al.", as Vancouver (ICMJE) asks."""
    names = [n for n in (one_line(n) for n in names) if n]
    if len(names) > MAX_AUTHORS:
        return ", ".join(names[:MAX_AUTHORS]) + ", et al"
    return ", ".join(names)


def split_citation(journal: str) -> tuple[str, str, str]:
    """Journal name, year and `volume(issue):pages` from a citation as printed in the study
    table; the text unchanged (no year, no volume) when it has no such shape."""
    m = _CITATION.match(journal)
    if not m:
        return journal, "", ""
    vip = m["volume"] + (f"({m['issue']})" if m["issue"] else "") + f":{m['pages']}"
    return m["name"].strip(" ,;"), m["year"] or "", vip


def _sources(urls: Iterable[str], hosts: Mapping[str, HostMark]) -> tuple[Source, ...]:
    seen: dict[str, Source] = {}
    for url in urls:
        host = url_host(url)
        if host and host not in seen:
            seen[host] = Source(host, mark_for(url, dict(hosts)))
    return tuple(seen.values())


def build_references(
    studies: pd.DataFrame,
    refs: Mapping[str, str],
    records: Mapping[str, PubmedRecord],
    hosts: Mapping[str, HostMark],
    pubmed_pages: pd.DataFrame | None = None,
) -> References:
    """One reference per study, numbered in the order of the list (first author, year).

    `refs` is the snapshot's study id → source token map (its PMID, else DOI, else the id);
    `records` the cached PubMed records by PMID; `pubmed_pages` the PubMed record pages seen
    (pubmed_records.csv), whose titles and addresses count when the cache has no record.
    """
    pages: dict[str, dict[str, str]] = {}
    page_urls: dict[str, list[str]] = {}
    if pubmed_pages is not None and not pubmed_pages.empty:
        for row in pubmed_pages.to_dict("records"):
            sid = cell(row.get("study_id"))
            pages.setdefault(sid, {k: cell(v) for k, v in row.items()})
            if cell(row.get("source_url")):
                page_urls.setdefault(sid, []).append(cell(row.get("source_url")))
    drafts: list[tuple[tuple, dict]] = []
    for row in studies.to_dict("records"):
        sid = cell(row["study_id"])
        token = refs.get(sid, sid)
        pmid = token[5:] if token.startswith("PMID:") else ""
        rec = records.get(pmid) if pmid else None
        page = pages.get(sid, {})
        journal_text = _text(row.get("journal"))
        journal, printed_year, vip = split_citation(journal_text)
        year = _text(row.get("year")) or printed_year
        title = _text(row.get("title")) or _text(page.get("title"))
        authors = _text(row.get("first_author"))
        doi = _text(row.get("doi")) or _text(page.get("doi"))
        if rec is not None:
            title = _text(rec.title) or title
            if len(rec.authors) > 1 or (rec.authors and not authors):
                authors = vancouver_authors(rec.authors)
            journal = _text(rec.journal_abbrev) or journal or _text(rec.journal)
            year = str(rec.year) if rec.year else year
            doi = doi or _text(rec.doi)
        if not journal and page:
            journal = _text(page.get("journal"))
        urls = _text(row.get("source_urls")).split() + page_urls.get(sid, [])
        draft = {
            "study_id": sid,
            "authors": authors,
            "title": title or NO_TITLE,
            "journal": journal,
            "year": year,
            "volume_issue_pages": vip,
            "pmid": pmid,
            "doi": doi,
            "design": _text(row.get("design")),
            "indication": _text(row.get("indication")),
            "from_pubmed": rec is not None,
            "sources": _sources(urls, hosts),
        }
        key = (authors == "", authors.lower(), year == "", year, title.lower(), sid)
        drafts.append((key, draft))
    drafts.sort(key=lambda d: d[0])
    entries = tuple(Reference(number=n, **d) for n, (_, d) in enumerate(drafts, start=1))
    numbers: dict[str, tuple[int, ...]] = {}
    for r in entries:
        for token in {r.study_id, refs.get(r.study_id, r.study_id)}:
            numbers[token] = (*numbers.get(token, ()), r.number)
    return References(entries, numbers)


def cited_numbers(value: object, references: References) -> tuple[tuple[int, ...], list[str]]:
    """The reference numbers of a space-separated source cell, and the tokens naming none."""
    found: set[int] = set()
    unknown: list[str] = []
    for token in cell(value).split():
        nums = references.cite(token)
        if nums:
            found.update(nums)
        else:
            unknown.append(token)
    return tuple(sorted(found)), unknown
