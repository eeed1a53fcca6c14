"""PRISMA 2020 flow counts from the pipeline's own records."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PrismaCounts:
    identified_pubmed: int  # PubMed records held (cache and queue)
    identified_other: int  # curated studies with no PubMed record
    new_since_last_run: int  # queue entries found on the latest search date
    awaiting: int  # in the queue: awaiting screening and extraction
    included: int  # studies in the curated data of this protocol
    in_meta_analysis: int  # studies in at least one pooled analysis
    in_vote_count: int  # trials counted by direction only
    last_search: str | None
    live: bool

    def rows(self) -> list[tuple[str, int | str]]:
        return [
            ("Records identified in PubMed", self.identified_pubmed),
            (
                "Records identified from other sources (curated, no PubMed record)",
                self.identified_other,
            ),
            ("New since the last search", self.new_since_last_run),
            ("Awaiting screening and extraction", self.awaiting),
            ("Studies included", self.included),
            ("… in a meta-analysis", self.in_meta_analysis),
            ("… in a vote count by direction of effect", self.in_vote_count),
        ]


def prisma_counts(
    *,
    cached_pmids: set[str],
    queue: list[tuple[str, str]],  # (pmid, found date)
    study_pmids: dict[str, str | None],  # study id → PMID or None
    pooled_studies: set[str],
    voting_trials: set[str],
    last_search: str | None,
) -> PrismaCounts:
    queue_pmids = {p for p, _ in queue}
    latest = max((d for _, d in queue), default=None)
    new = len({p for p, d in queue if latest and d == latest}) if last_search else 0
    return PrismaCounts(
        identified_pubmed=len(cached_pmids | queue_pmids | {p for p in study_pmids.values() if p}),
        identified_other=sum(1 for p in study_pmids.values() if not p),
        new_since_last_run=new,
        awaiting=len(queue_pmids),
        included=len(study_pmids),
        in_meta_analysis=len(pooled_studies),
        in_vote_count=len(voting_trials - pooled_studies),
        last_search=last_search,
        live=last_search is not None,
    )
