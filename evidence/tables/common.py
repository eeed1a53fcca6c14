"""Helpers shared by the regenerated tables."""

from __future__ import annotations

import pandas as pd

LEVEL_WORDS = ("Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient")


def source_refs(studies: pd.DataFrame, ids: list[str] | tuple[str, ...]) -> str:
    """PMID where known, else DOI, else the study id; space-separated, in id order."""
    by_id = studies.set_index("study_id")
    refs = []
    for sid in sorted(set(ids)):
        if sid not in by_id.index:
            continue
        row = by_id.loc[sid]
        if isinstance(row.get("pmid"), str):
            refs.append(f"PMID:{row['pmid']}")
        elif isinstance(row.get("doi"), str):
            refs.append(f"doi:{row['doi']}")
        else:
            refs.append(sid)
    return " ".join(refs)


def article_level(cell: str) -> str:
    """The level word of a printed cell such as 'Strong (RCTs, reviews)'."""
    for word in LEVEL_WORDS:
        if cell.startswith(word.split("/")[0]):
            return word
    return cell
