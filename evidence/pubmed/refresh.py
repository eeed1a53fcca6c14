"""One protocol's literature refresh: search → fetch → classify → queue, as separate steps.

The CLI (`evidence search --live`) and the nightly flow both use these functions; the flow wraps
each as its own task so it can retry the network steps. A failed fetch raises `FetchFailed`
(so a task's retries fire and no failure is ever cached as a result); batches stored before the
failure stay stored. Queued records still without metadata are fetched again on the next run
(`fetch_list`), and their queue rows gain title and design once they arrive (`update_queue`).
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
    """What a fetch stored. `error` is set only on the outcome a `FetchFailed` carries."""

    fetched: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    error: str = ""


class FetchFailed(RuntimeError):
    """A fetch stopped part-way; `outcome` lists the batches stored before it (they are kept).

    The message is scrubbed of the API key and email."""

    def __init__(self, message: str, outcome: FetchOutcome) -> None:
        super().__init__(message)
        self.outcome = outcome

    def __reduce__(self) -> tuple[type[FetchFailed], tuple[str, FetchOutcome]]:
        # Task runners pickle a task's exception (Prefect results, Dask); keep the outcome.
        return (type(self), (str(self), self.outcome))


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


def fetch_list(cache: Path, queue: Path | None, outcomes: list[IndicationOutcome]) -> list[str]:
    """Tonight's new PMIDs plus every queued PMID the cache still lacks, in numeric order.

    A fetch that failed on an earlier night left its records queued without metadata; listing
    them here fetches them on the next run. `queue` defaults to the queue under `cache`.
    """
    queued = [row.pmid for row in load_queue(cache / QUEUE_FILE if queue is None else queue)]
    return sorted(set(new_pmids(outcomes)) | set(pmids_to_fetch(cache, queued)), key=int)


def fetch(
    client: EutilsClient,
    cache: Path,
    pmids: list[str],
    today: date,
    progress: Callable[[int], None] | None = None,
) -> FetchOutcome:
    """Fetch what the cache lacks, storing each batch as it arrives (source `live`).

    Raises FetchFailed when a batch cannot be fetched; the batches stored before it stay.
    """
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
    except EutilsError as exc:
        out.error = scrub(str(exc), client.config)
        stored = f"; {len(out.fetched)} record(s) stored before it are kept" if out.fetched else ""
        raise FetchFailed(
            f"fetching {len(todo)} PubMed record(s) failed: {out.error}{stored}", out
        ) from None
    out.missing = list(result.missing)
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
    """Add the new records to the queue awaiting screening; drop those now in the data.

    Rows queued earlier without a title or design (their fetch had failed) gain them once
    their record is in the cache; `designs` given here win over those worked out here.
    """
    path = cache / QUEUE_FILE
    queued = load_queue(path)
    titles: dict[str, str] = {}
    for pmid in new_pmids(outcomes) + [r.pmid for r in queued if not r.title]:
        record = read_record(cache, pmid)
        if record is not None:
            titles[pmid] = record.title
    lacking = [r.pmid for r in queued if not r.design and r.pmid not in designs]
    rows = merge_queue(
        queued,
        spec.protocol_id,
        outcomes,
        today=today,
        known=known_pmids(data),
        titles=titles,
        designs={**classify(cache, lacking), **designs},
    )
    write_queue(path, rows)
    return rows
