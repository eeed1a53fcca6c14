"""Screening decisions: who included or excluded which record, when and why (DATA/screening.csv).

The file is a log. A decision is never edited: a later row for the same record supersedes the
earlier one, so every change of mind stays on record. A record is a cached or queued PubMed
record (`pmid:<PMID>`) or a row of studies.csv (`study:<study_id>`); the two name one record when
the study carries that PMID, and the PRISMA flow merges them as duplicates.

Decisions follow the PRISMA 2020 stages: `exclude` at title/abstract screening, `not_retrieved`
when the report was sought and not obtained, `exclude_report` after the report was assessed,
`include` for a study in the review. Both exclusions need a reason from the protocol's
`screening.exclusion_reasons`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.inputs.textfile import read_csv_rows
from evidence.io import csv_text
from evidence.safepath import ID_RE, PMID_RE

if TYPE_CHECKING:
    from evidence.inputs.protocol import Protocol

SCREENING_FILE = "screening.csv"
COLUMNS = ("record", "decision", "reason", "reviewer", "date", "note")
INCLUDE, EXCLUDE, NOT_RETRIEVED, EXCLUDE_REPORT = (
    "include",
    "exclude",
    "not_retrieved",
    "exclude_report",
)
DECISIONS = (INCLUDE, EXCLUDE, NOT_RETRIEVED, EXCLUDE_REPORT)
NEEDS_REASON = (EXCLUDE, EXCLUDE_REPORT)
# The reviewer of decisions read from studies.csv rather than made by a person here.
IMPORTED_REVIEWER = "imported: studies.csv"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ScreeningError(ValueError):
    """A decision that cannot be recorded, naming the record and what is wrong."""


@dataclass(frozen=True)
class Decision:
    record: str
    decision: str
    reason: str
    reviewer: str
    date: str
    note: str = ""
    line: int = 0  # line in screening.csv (0: not yet written)

    def cells(self) -> list[str]:
        return [self.record, self.decision, self.reason, self.reviewer, self.date, self.note]


def pmid_record(pmid: str) -> str:
    return f"pmid:{pmid}"


def study_record(study_id: str) -> str:
    return f"study:{study_id}"


def record_problem(record: str) -> str | None:
    """Why `record` is not a record id, or None when it is one."""
    kind, _, value = record.partition(":")
    if kind == "pmid" and PMID_RE.fullmatch(value):
        return None
    if kind == "study" and ID_RE.fullmatch(value):
        return None
    return "expected pmid:<PMID> or study:<study_id>"


def date_problem(text: str) -> str | None:
    if not _DATE.fullmatch(text):
        return "expected an ISO date (YYYY-MM-DD)"
    try:
        date.fromisoformat(text)
    except ValueError:
        return "expected an ISO date (YYYY-MM-DD) that exists"
    return None


def load_decisions(path: Path) -> list[Decision]:
    """Every decision in file order; none when there is no file yet."""
    path = Path(path)
    if not path.is_file():
        return []
    _, rows = read_csv_rows(path)
    return [
        Decision(
            record=r.get("record", ""),
            decision=r.get("decision", ""),
            reason=r.get("reason", ""),
            reviewer=r.get("reviewer", ""),
            date=r.get("date", ""),
            note=r.get("note", ""),
            line=line,
        )
        for line, r in rows
    ]


def current(decisions: Iterable[Decision]) -> dict[str, Decision]:
    """The decision in force for each record: the last one written."""
    out: dict[str, Decision] = {}
    for d in decisions:
        out[d.record] = d
    return out


def problems(
    d: Decision,
    reasons: Mapping[str, str],
    known: set[str],
    earlier: Decision | None = None,
) -> list[tuple[str, str, str]]:
    """(field, found, expected) for each problem of one decision, given the one it supersedes."""
    out: list[tuple[str, str, str]] = []
    if why := record_problem(d.record):
        out.append(("record", d.record, why))
    elif d.record not in known:
        kind = "a cached or queued PubMed record" if d.record.startswith("pmid:") else "a study"
        out.append(("record", d.record, f"expected {kind} of this data folder"))
    if d.decision not in DECISIONS:
        out.append(("decision", d.decision, f"expected one of: {', '.join(DECISIONS)}"))
    if d.decision in NEEDS_REASON:
        if d.reason not in reasons:
            listed = ", ".join(reasons) or "(the protocol lists none)"
            out.append(("reason", d.reason, f"expected a screening.exclusion_reasons id: {listed}"))
    elif d.reason:
        out.append(("reason", d.reason, f"expected no reason for decision {d.decision}"))
    if not d.reviewer.strip():
        out.append(("reviewer", d.reviewer, "expected who decided"))
    if why := date_problem(d.date):
        out.append(("date", d.date, why))
    elif earlier is not None and not date_problem(earlier.date) and d.date < earlier.date:
        out.append(
            (
                "date",
                d.date,
                f"expected no earlier than the decision it supersedes "
                f"(line {earlier.line}, {earlier.date}): decisions are appended in order",
            )
        )
    return out


def decisions_csv(decisions: Iterable[Decision]) -> str:
    """The file's text, CRLF like the other inputs. Inputs are written verbatim (no `'`)."""
    return csv_text(COLUMNS, [d.cells() for d in decisions], crlf=True)


def appended(existing: str, new: Iterable[Decision]) -> str:
    """The file with `new` appended and nothing before them touched (append-only)."""
    rows = [d.cells() for d in new]
    if not existing:
        return csv_text(COLUMNS, rows, crlf=True)
    sep = "" if existing.endswith("\n") else "\r\n"
    return existing + sep + csv_text(COLUMNS, rows, crlf=True).split("\r\n", 1)[1]


def imported_inclusions(
    study_ids: Iterable[str], decided: set[str], when: str, already: Iterable[str] = ()
) -> list[Decision]:
    """An include decision for every study of studies.csv that has none yet: the curated data
    state that the study is in the review, and the reviewer field says where that came from."""
    skip = set(decided) | set(already)
    return [
        Decision(study_record(s), INCLUDE, "", IMPORTED_REVIEWER, when)
        for s in study_ids
        if study_record(s) not in skip
    ]


def record_decisions(
    data: Path,
    protocol: Protocol,
    new: list[Decision],
    *,
    cache: Path | None = None,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
) -> list[tuple[int, str, str, str]]:
    """Append `new` to the protocol's screening file under DATA's lock, all or none.

    Returns the problems, as (position in `new`, field, found, expected); with any, nothing is
    written. What is already in the file is kept byte for byte (the file only grows)."""
    from evidence.inputs import rawdata
    from evidence.inputs.validate import TableRows, data_file, known_records

    if not protocol.files.screening:
        raise ScreeningError(
            f"protocols/{protocol.protocol_id}.yaml: no files.screening; name the screening "
            "file (e.g. screening.csv) in the protocol first"
        )
    data = Path(data)
    with rawdata.changing(data, wait=wait, on_wait=on_wait, timeout=wait_timeout):
        path = data_file(data, protocol, "screening")
        existing = path.read_bytes().decode("utf-8") if path.is_file() else ""
        tables = {
            name: TableRows(name, p, read_csv_rows(p)[1])
            for name, p in (
                ("studies", data_file(data, protocol, "studies")),
                ("pubmed_records", data_file(data, protocol, "pubmed_records")),
            )
        }
        earlier = load_decisions(path)
        known = known_records(
            data,
            protocol,
            tables,
            Path(cache or data / "pubmed"),
            [d.record for d in (*earlier, *new)],
        )
        before = current(earlier)
        found: list[tuple[int, str, str, str]] = []
        for i, d in enumerate(new):
            found += [
                (i, *p)
                for p in problems(d, protocol.screening.reasons, known, before.get(d.record))
            ]
            before[d.record] = d
        if found or not new:
            return found
        rawdata.replace(data, {path: appended(existing, new)})
    return []
