"""Retractions as the synthesis sees them: which cached record is retracted, by which notice, when.

PubMed marks a retracted article two ways: the publication type "Retracted Publication" and a
`RetractionIn` link (CommentsCorrections) to the retraction notice, whose citation
(`RefSource`, e.g. "Lancet. 2020 Jun 13;395(10240):1820") carries the notice's date. That date
is the one reported; a record that holds no dated notice is dated by the day the cache last
received it (`retrieved`), which is when the refresh saw the retraction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from evidence.pubmed.records import RETRACTION_REF_TYPES, Notice, PubmedRecord

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
# "<journal>. 2020 Jun 13;..." / "2020 Jun;..." / "2020;..." (a season or range keeps the year)
_CITED_DATE = re.compile(
    r"(?:^|[.;]\s*)((?:19|20)\d\d)(?:\s+([A-Za-z]{3})[a-z]*(?:\s+(\d{1,2}))?)?"
)


@dataclass(frozen=True)
class Retraction:
    """A cached record found retracted."""

    pmid: str
    date: str  # ISO (YYYY, YYYY-MM or YYYY-MM-DD); empty when nothing dates it
    date_from: str  # "notice": the notice's citation; "refresh": the day the cache received it
    notice_pmid: str = ""
    notice: str = ""  # the notice's citation as PubMed gives it

    def describe(self) -> str:
        """One line for the changelog and the tables: 'retracted on <date> (notice PMID:n)'."""
        when = f" on {self.date}" if self.date else ""
        seen = " (the day the refresh saw it)" if self.date_from == "refresh" and when else ""
        notice = f"notice PMID:{self.notice_pmid}" if self.notice_pmid else ""
        if self.notice:
            notice = f"{notice}, {self.notice}" if notice else self.notice
        return f"retracted{when}{seen}" + (f" ({notice})" if notice else "")


def cited_date(ref_source: str) -> str:
    """The date in a PubMed citation (`RefSource`), ISO; empty when it gives none."""
    match = _CITED_DATE.search(ref_source or "")
    if not match:
        return ""
    year, month, day = match.group(1), match.group(2), match.group(3)
    number = _MONTHS.get((month or "").lower())
    if number is None:
        return year
    if day and 1 <= int(day) <= 31:
        return f"{year}-{number:02d}-{int(day):02d}"
    return f"{year}-{number:02d}"


def retraction_notices(record: PubmedRecord) -> tuple[Notice, ...]:
    return tuple(n for n in record.notices if n.ref_type in RETRACTION_REF_TYPES)


def is_retracted(record: PubmedRecord) -> bool:
    """Retracted by its publication type or by a retraction notice."""
    return record.retracted or bool(retraction_notices(record))


def retraction(record: PubmedRecord) -> Retraction | None:
    """The record's retraction, dated by its earliest dated notice, else by its retrieval."""
    if not is_retracted(record):
        return None
    notices = retraction_notices(record)
    dated = sorted((cited_date(n.ref_source), n) for n in notices if cited_date(n.ref_source))
    if dated:
        when, notice = dated[0]
        return Retraction(record.pmid, when, "notice", notice.pmid, notice.ref_source)
    first = notices[0] if notices else None
    return Retraction(
        record.pmid,
        record.retrieved[:10],
        "refresh",
        first.pmid if first else "",
        first.ref_source if first else "",
    )
