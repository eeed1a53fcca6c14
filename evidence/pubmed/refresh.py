"""One protocol's literature refresh: search → fetch → classify → queue, as separate steps.

The CLI (`evidence search --live`) and the nightly flow both use these functions; the flow wraps
each as its own task so it can retry the network steps.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from evidence.pubmed.cache import pmids_to_fetch, read_record, write_records
from evidence.pubmed.classify import classify_design
from evidence.pubmed.client import EutilsClient, EutilsError
from evidence.pubmed.records import PubmedRecord
from evidence.pubmed.search import (
    QUEUE_FILE,
    STATE_FILE,
    IndicationOutcome,
    ProtocolSearch,
    QueueRow,
    load_queue,
    merge_queue,
    run_search,
    write_queue,
)
from evidence.pubmed.secrets import scrub
from evidence.pubmed.snapshot import known_pmids


@dataclass
class FetchOutcome:
    fetched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str = ""


def search(
    client: EutilsClient,
    cache: Path,
    data: Path,
    spec: ProtocolSearch,
    today: date,
    since: date | None = None,
) -> list[IndicationOutcome]:
    """Search each indication since its last successful search; failures keep the watermark."""
    return run_search(
        client,
        spec,
        known=known_pmids(data),
        state_path=cache / STATE_FILE,
        today=today,
        since=since,
    )


def new_pmids(outcomes: list[IndicationOutcome]) -> list[str]:
    return sorted({p for o in outcomes for p in o.new}, key=int)


def fetch(
    client: EutilsClient,
    cache: Path,
    pmids: list[str],
    today: date,
    progress: Callable[[int], None] | None = None,
) -> FetchOutcome:
    """Fetch what the cache lacks, storing each batch as it arrives (source `live`)."""
    todo = pmids_to_fetch(cache, pmids)
    out = FetchOutcome()
    if not todo:
        return out

    def store(records: list[PubmedRecord]) -> None:
        write_records(
            cache, [r.with_provenance("live", today.isoformat()) for r in records], force=True
        )
        out.fetched += [r.pmid for r in records]

    try:
        result = client.fetch(todo, on_batch=store, progress=progress)
        out.missing = list(result.missing)
    except EutilsError as exc:
        out.error = scrub(str(exc), client.config)
    return out


def classify(cache: Path, pmids: list[str]) -> dict[str, tuple[str, str]]:
    """PubMed's design for each cached record, to help screening (the curated design wins later)."""
    out = {}
    for pmid in pmids:
        record = read_record(cache, pmid)
        if record is not None:
            out[pmid] = classify_design(record)
    return out


def update_queue(
    cache: Path,
    data: Path,
    spec: ProtocolSearch,
    outcomes: list[IndicationOutcome],
    today: date,
    designs: dict[str, tuple[str, str]],
) -> list[QueueRow]:
    """Add the new records to the queue awaiting screening; drop those now in the data."""
    titles = {}
    for pmid in new_pmids(outcomes):
        record = read_record(cache, pmid)
        if record is not None:
            titles[pmid] = record.title
    path = cache / QUEUE_FILE
    rows = merge_queue(
        load_queue(path),
        spec.protocol_id,
        outcomes,
        today=today,
        known=known_pmids(data),
        titles=titles,
        designs=designs,
    )
    write_queue(path, rows)
    return rows
