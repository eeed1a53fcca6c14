"""Incremental searches for new studies, the state that makes them incremental, and the queue.

Each protocol indication is searched by Entrez date from the day before its last successful
search (Entrez dates are whole days and indexing lags, so one day of overlap loses nothing;
duplicates are removed by PMID), and again by MeSH date (`datetype=mhda`) over the same days: a
record that matches the term only once MEDLINE has indexed it (publication type, MeSH headings)
entered PubMed before that, so only its MeSH date falls in a later window. The two answers are
united. The date advances only when both of that indication's searches succeeded.
PMIDs not yet in the curated data join a queue awaiting screening.

The state file is an input that reports quote (a failed search makes them say the results are
stale, and why), so the NCBI key and email never enter it: failures are scrubbed when they are
stored, and the whole state again when it is read, in case an older version stored them.

Indications are searched concurrently (flow tasks, processes), so every change to the state is
a read-modify-write under one lock beside the file (`.search_state.json.lock`, the run lock's
`acquire`), finished by an atomic replace: no watermark or failure record is lost, and readers,
who take no lock, only ever see a whole file.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.io import atomic_write_bytes, csv_text, sheet_uncell
from evidence.pubmed.secrets import HasSecrets, scrub, scrub_all
from evidence.runs.runlock import acquire
from evidence.safepath import entry_inside, is_pmid

if TYPE_CHECKING:
    from evidence.pubmed.client import EutilsClient

STATE_FILE = "search_state.json"
QUEUE_FILE = "queue.csv"
QUEUE_COLUMNS = ("pmid", "protocol", "indication", "found", "title", "design", "design_reason")
OVERLAP_DAYS = 1
# Entrez date, then MeSH date: the first window finds what entered PubMed, the second what
# matches only since it was indexed. A first search (no watermark) needs the first alone.
DATE_TYPES = ("edat", "mhda")
STATE_LOCK_TIMEOUT = 120.0  # seconds a state update waits for another's (each takes milliseconds)


@dataclass(frozen=True)
class IndicationQuery:
    """One indication's PubMed search."""

    id: str
    label: str
    term: str


@dataclass(frozen=True)
class ProtocolSearch:
    """What the PubMed layer needs from a protocol file."""

    protocol_id: str
    queries: tuple[IndicationQuery, ...]
    citations: str | None = None


@dataclass
class IndicationOutcome:
    """One indication's search: what was asked, found and new, or the error that stopped it."""

    indication: str
    term: str
    mindate: date | None
    maxdate: date
    found: tuple[str, ...] = ()
    new: tuple[str, ...] = ()
    windows: int = 0
    error: str = ""
    by_mesh_date: tuple[str, ...] = ()  # found only by the MeSH-date window

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class QueueRow:
    pmid: str
    protocol: str
    indication: str
    found: str
    title: str = ""
    design: str = ""  # from PubMed's publication types and MeSH, for screening
    design_reason: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "pmid": self.pmid,
            "protocol": self.protocol,
            "indication": self.indication,
            "found": self.found,
            "title": self.title,
            "design": self.design,
            "design_reason": self.design_reason,
        }


def indication_term(query: str, trial_filter: str = "") -> str:
    """The esearch term: the indication's query, narrowed by the protocol's trial filter."""
    query = " ".join(query.split())
    trial_filter = " ".join(trial_filter.split())
    return f"({query}) AND {trial_filter}" if trial_filter else query


def load_protocol_search(path: Path) -> ProtocolSearch:
    """Indications and their terms from a protocol file (validated as a whole)."""
    from evidence.inputs.protocol import load_protocol

    proto = load_protocol(path)
    return ProtocolSearch(
        protocol_id=proto.protocol_id,
        queries=tuple(
            IndicationQuery(i.id, i.label, indication_term(i.pubmed_query, proto.trial_filter))
            for i in proto.indications
        ),
        citations=proto.files.citations,
    )


# ---------------------------------------------------------------------------- state


def load_state(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{protocol: {indication: {"last_search": ISO date, "count": n, "term": text}}}, scrubbed
    of credentials (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        return {}
    data = scrub_all(json.loads(path.read_text(encoding="utf-8")))
    return data if isinstance(data, dict) else {}


def last_search(state: Mapping[str, Any], protocol: str, indication: str) -> str | None:
    entry = state.get(protocol, {}).get(indication, {})
    value = entry.get("last_search") if isinstance(entry, dict) else None
    return str(value) if value else None


def state_lock_path(path: Path) -> Path:
    """The lock guarding one state file: a hidden file beside it (gitignored)."""
    path = Path(path)
    return entry_inside(path.parent, f".{path.name}.lock")


@contextmanager
def state_lock(path: Path, timeout: float | None = None) -> Iterator[None]:
    """Hold the state file's lock, waiting up to `timeout` seconds (STATE_LOCK_TIMEOUT) for it.

    flock locks belong to the open file, and each call opens its own, so threads of one process
    exclude each other as processes do; the OS drops the lock if its holder dies."""
    lock = state_lock_path(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    limit = STATE_LOCK_TIMEOUT if timeout is None else timeout
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        acquire(
            fd,
            shared=False,
            wait=True,
            timeout=limit,
            busy=lambda: (
                f"{path}: another search held its lock ({lock.name}) for more than "
                f"{limit:g} s; nothing was changed"
            ),
            poll=0.01,
        )
        yield
    finally:
        os.close(fd)  # closing drops the lock


def update_state(
    path: Path,
    change: Callable[[dict[str, dict[str, dict[str, Any]]]], None],
    timeout: float | None = None,
) -> None:
    """Apply `change` to the state as it is now, under the lock, and replace the file atomically."""
    path = Path(path)
    with state_lock(path, timeout):
        state = load_state(path)
        change(state)
        text = json.dumps(state, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))


def record_success(
    path: Path, protocol: str, indication: str, day: date, *, count: int, term: str
) -> None:
    """Advance one indication's watermark; other entries survive (see the module docstring)."""

    def change(state: dict[str, dict[str, dict[str, Any]]]) -> None:
        state.setdefault(protocol, {})[indication] = {
            "last_search": day.isoformat(),
            "count": count,
            "term": term,
        }

    update_state(path, change)


def record_failure(
    path: Path,
    protocol: str,
    indication: str,
    day: date,
    error: str,
    config: HasSecrets | None = None,
) -> None:
    """Note a failed search without moving the watermark, so reports can say it is stale.

    The error is scrubbed whole before it is cut, so no fragment of a credential survives."""
    failure = {"date": day.isoformat(), "error": scrub(error, config)[:300]}

    def change(state: dict[str, dict[str, dict[str, Any]]]) -> None:
        state.setdefault(protocol, {}).setdefault(indication, {})["last_failure"] = failure

    update_state(path, change)


def search_window(last: str | None, since: date | None, today: date) -> tuple[date | None, date]:
    """(mindate, maxdate): `since` if given, else the last search minus the overlap, else all."""
    if since is not None:
        return since, today
    if last:
        return date.fromisoformat(last) - timedelta(days=OVERLAP_DAYS), today
    return None, today


def run_search(
    client: EutilsClient,
    search: ProtocolSearch,
    *,
    known: set[str],
    state_path: Path,
    today: date,
    since: date | None = None,
) -> list[IndicationOutcome]:
    """Search every indication; a failed one keeps its old watermark and is reported."""
    from evidence.pubmed.client import EutilsError

    state = load_state(state_path)
    outcomes: list[IndicationOutcome] = []
    for query in search.queries:
        mindate, maxdate = search_window(
            last_search(state, search.protocol_id, query.id), since, today
        )
        outcome = IndicationOutcome(query.id, query.term, mindate, maxdate)
        try:
            results = [
                client.search(query.term, mindate=mindate, maxdate=maxdate, datetype=kind)
                for kind in (DATE_TYPES if mindate is not None else DATE_TYPES[:1])
            ]
        except EutilsError as exc:
            outcome.error = scrub(str(exc), client.config)
            record_failure(
                state_path, search.protocol_id, query.id, today, outcome.error, client.config
            )
            outcomes.append(outcome)
            continue
        found = dict.fromkeys(p for r in results for p in r.ids)
        outcome.found = tuple(found)
        outcome.windows = sum(len(r.windows) for r in results)
        by_entrez_date = set(results[0].ids)
        outcome.by_mesh_date = tuple(p for p in found if p not in by_entrez_date)
        outcome.new = tuple(sorted((p for p in found if p not in known), key=int))
        record_success(
            state_path, search.protocol_id, query.id, maxdate, count=len(found), term=query.term
        )
        outcomes.append(outcome)
    return outcomes


# ---------------------------------------------------------------------------- queue


def load_queue(path: Path) -> list[QueueRow]:
    path = Path(path)
    if not path.is_file():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return [
            QueueRow(
                pmid=row.get("pmid", ""),
                protocol=row.get("protocol", ""),
                indication=row.get("indication", ""),
                found=row.get("found", ""),
                title=sheet_uncell(row.get("title", "")),
                design=row.get("design", ""),
                design_reason=sheet_uncell(row.get("design_reason", "")),
            )
            for row in csv.DictReader(handle)
            if is_pmid(row.get("pmid"))
        ]


def _sort_key(row: QueueRow) -> tuple[str, str, int]:
    return (row.protocol, row.indication, int(row.pmid))


def merge_queue(
    rows: Iterable[QueueRow],
    protocol: str,
    outcomes: Iterable[IndicationOutcome],
    *,
    today: date,
    known: set[str],
    titles: Mapping[str, str],
    designs: Mapping[str, tuple[str, str]] | None = None,
) -> list[QueueRow]:
    """The queue after a search: old rows keep their found date, new PMIDs join, curated leave."""
    merged: dict[tuple[str, str, str], QueueRow] = {
        (r.protocol, r.indication, r.pmid): r for r in rows
    }
    for outcome in outcomes:
        for pmid in outcome.new:
            key = (protocol, outcome.indication, pmid)
            if key not in merged:
                merged[key] = QueueRow(pmid, protocol, outcome.indication, today.isoformat())
    out = []
    for row in merged.values():
        if row.pmid in known:
            continue
        row.title = titles.get(row.pmid, row.title)
        row.design, row.design_reason = (designs or {}).get(
            row.pmid, (row.design, row.design_reason)
        )
        out.append(row)
    return sorted(out, key=_sort_key)


def queue_csv(rows: Iterable[QueueRow]) -> str:
    """The screening queue, which reviewers open in a spreadsheet: PubMed's text cells are made
    inert (`io.sheet_cell`) and `load_queue` reads them back exactly (`io.sheet_uncell`)."""
    records = [row.as_dict() for row in sorted(rows, key=_sort_key)]
    return csv_text(
        QUEUE_COLUMNS, [[r.get(c, "") for c in QUEUE_COLUMNS] for r in records], neutralise=True
    )


def write_queue(path: Path, rows: Iterable[QueueRow]) -> None:
    atomic_write_bytes(Path(path), queue_csv(rows).encode("utf-8"))
