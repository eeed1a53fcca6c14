"""Helpers shared by the regenerated tables."""

from __future__ import annotations

import pandas as pd

LEVEL_WORDS = ("Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient")


def reference_map(
    studies: pd.DataFrame, pubmed_records: pd.DataFrame | None = None
) -> dict[str, str]:
    """Study id → `PMID:n` (studies.csv, else a PubMed record page), else `doi:x`, else the id."""
    extra: dict[str, str] = {}
    if pubmed_records is not None and not pubmed_records.empty:
        for sid, pmid in zip(pubmed_records["study_id"], pubmed_records["pmid"], strict=True):
            if isinstance(pmid, str):
                extra.setdefault(sid, pmid)
    out = {}
    for sid, pmid, doi in zip(studies["study_id"], studies["pmid"], studies["doi"], strict=True):
        pmid = pmid if isinstance(pmid, str) else extra.get(sid)
        out[sid] = f"PMID:{pmid}" if pmid else (f"doi:{doi}" if isinstance(doi, str) else sid)
    return out


def source_refs(refs: dict[str, str], ids: list[str] | tuple[str, ...]) -> str:
    """PMID where known, else DOI, else the study id; space-separated, in id order."""
    return " ".join(refs[sid] for sid in sorted(set(ids)) if sid in refs)


def article_level(cell: str) -> str:
    """The level word of a printed cell such as 'Strong (RCTs, reviews)'."""
    for word in LEVEL_WORDS:
        if cell.startswith(word.split("/")[0]):
            return word
    return cell
