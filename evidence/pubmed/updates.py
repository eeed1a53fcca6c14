"""The modification-date pass: cached records that PubMed changed since the last pass, re-fetched.

A retraction, an erratum or an expression of concern reaches PubMed as a change to the record it
concerns (a CommentsCorrections link, a publication type), which moves that record's
modification date. So each pass asks esearch which cached PMIDs were modified in the window
since the last pass: the PMIDs go in the term as `<pmid>[uid]` clauses joined by OR, a batch
at a time (`UID_BATCH`; long terms are POSTed), with `datetype=mdat`, `mindate` the day before
the last pass (dates are whole days) and `maxdate` today. Those found are fetched again and
replace their cache entries (source `live`, retrieved today).

Which records: those the protocols cite or keep live (`pmids_to_check`): every record fetched
live or bundled as the snapshot, and the cached records the data's studies (studies.csv,
pubmed_records.csv) and the screening queue name, whatever their source. A baseline mirror's
other records (source `file`) are not asked about: importing NLM's daily update files keeps
them current, and asking about a million PMIDs would cost 5,000 requests a night.

The pass's watermark lives in `<cache>/refresh_state.json` (`{"last_update": "YYYY-MM-DD"}`),
written under a lock beside it and replaced atomically; it advances only when every batch was
searched and fetched. Before the first pass the window opens the day before the oldest
`retrieved` date among those records, since a record cannot have changed unseen before it was
received.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from evidence.io import atomic_write_bytes
from evidence.pubmed import store as pubmed_store
from evidence.pubmed.cache import write_records
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.search import OVERLAP_DAYS, QUEUE_FILE, load_queue, state_lock
from evidence.pubmed.secrets import scrub

if TYPE_CHECKING:
    from evidence.pubmed.client import EutilsClient

UPDATE_STATE_FILE = "refresh_state.json"
UID_BATCH = 200  # PMIDs per esearch term: far below the 10,000-ID cap, a few kB POSTed


@dataclass
class UpdateOutcome:
    """One modification-date pass: its window, what changed and was re-fetched, or why not."""

    mindate: date | None
    maxdate: date
    checked: int = 0  # cached PMIDs asked about
    modified: list[str] = field(default_factory=list)  # PubMed says they changed in the window
    refreshed: list[str] = field(default_factory=list)  # re-fetched and stored
    missing: list[str] = field(default_factory=list)  # modified, but efetch no longer returns them
    error: str = ""
    done_today: bool = False  # a pass had already completed today: nothing was asked

    @property
    def ok(self) -> bool:
        return not self.error


def uid_term(pmids: Sequence[str]) -> str:
    """An esearch term matching exactly these PMIDs."""
    return " OR ".join(f"{p}[uid]" for p in pmids)


def last_update(cache: Path) -> str | None:
    path = Path(cache) / UPDATE_STATE_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        value = data.get("last_update") if isinstance(data, dict) else None
        return date.fromisoformat(str(value)).isoformat() if value else None
    except ValueError as exc:
        raise ValueError(
            f"{path}: not a readable refresh state ({exc}); fix or remove it"
        ) from None


def record_update(cache: Path, day: date) -> None:
    path = Path(cache) / UPDATE_STATE_FILE
    with state_lock(path):
        text = json.dumps({"last_update": day.isoformat()}, indent=2) + "\n"
        atomic_write_bytes(path, text.encode("utf-8"))


def update_window(last: str | None, retrieved: Sequence[str], today: date) -> date | None:
    """mindate of the pass: the day before the last pass, else before the oldest retrieval."""
    if last:
        return date.fromisoformat(last) - timedelta(days=OVERLAP_DAYS)
    days = []
    for value in retrieved:
        try:
            days.append(date.fromisoformat(str(value)[:10]))
        except ValueError:
            continue
    return min(days) - timedelta(days=OVERLAP_DAYS) if days else None


def cited_pmids(cache: Path, data: Path | None = None) -> set[str]:
    """The PMIDs the protocols reference: the data's studies and PubMed record rows, and the
    screening queue beside the cache. `data` defaults to the cache's parent (the workspace
    keeps the cache in DATA/pubmed); a folder without studies.csv cites none of its own."""
    from evidence.pubmed.snapshot import STUDIES, known_pmids

    data = Path(cache).parent if data is None else Path(data)
    out = known_pmids(data) if (data / STUDIES).is_file() else set()
    return out | {row.pmid for row in load_queue(Path(cache) / QUEUE_FILE)}


def pmids_to_check(cache: Path, cited: Iterable[str]) -> dict[str, str]:
    """PMID -> retrieval date of the cached records a pass asks about (see the module
    docstring), in numeric order."""
    with pubmed_store.reading(cache) as con:
        return pubmed_store.watched(con, cited)


def requests_for(pmids: int, batch: int = UID_BATCH) -> int:
    """esearch requests a pass makes for this many PMIDs."""
    return -(-pmids // max(1, batch))


def update_cached(
    client: EutilsClient,
    cache: Path,
    today: date,
    *,
    data: Path | None = None,
    batch: int = UID_BATCH,
    again: bool = False,
) -> UpdateOutcome:
    """Re-fetch the cached records PubMed modified since the last pass; see the module docstring.
    `data` is the folder of the protocols' studies (default: the cache's parent).

    The pass is the store's, not a protocol's: once one has completed today, another the same
    day asks nothing (`done_today`) unless `again`, since tomorrow's window (from the day before
    the last pass) covers the rest of today. A nightly run of every protocol on one store thus
    makes one pass, not one per protocol.

    A failure (search or fetch) is returned in `error`, the watermark stays, and records already
    re-fetched stay stored: the next pass asks again from the same day.
    """
    from evidence.pubmed.client import EutilsError

    cache = Path(cache)
    last = last_update(cache)
    if last == today.isoformat() and not again:
        return UpdateOutcome(today, today, done_today=True)
    watched = pmids_to_check(cache, cited_pmids(cache, data))
    pmids = list(watched)
    oldest = min((r for r in watched.values() if r), default=None)
    mindate = update_window(last, [oldest] if oldest else [], today)
    if mindate is not None and mindate > today:
        mindate = today
    out = UpdateOutcome(mindate, today, checked=len(pmids))
    if not pmids or mindate is None:  # nothing cached: nothing can have changed unseen
        record_update(cache, today)
        return out

    def store(records: list[PubmedRecord]) -> None:
        write_records(
            cache, [r.with_provenance("live", today.isoformat()) for r in records], force=True
        )
        out.refreshed += [r.pmid for r in records]

    step = max(1, batch)
    try:
        for start in range(0, len(pmids), step):
            part = pmids[start : start + step]
            found = client.search(uid_term(part), mindate=mindate, maxdate=today, datetype="mdat")
            wanted = set(part)
            out.modified += [p for p in found.ids if p in wanted]
        out.modified.sort(key=int)
        if out.modified:
            result = client.fetch(out.modified, on_batch=store)
            out.missing = list(result.missing)
    except EutilsError as exc:
        out.error = scrub(str(exc), client.config)
        return out
    out.refreshed.sort(key=int)
    record_update(cache, today)
    return out
