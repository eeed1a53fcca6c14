"""Helpers shared by the regenerated tables."""

from __future__ import annotations

LEVEL_WORDS = ("Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient")


def source_refs(refs: dict[str, str], ids: list[str] | tuple[str, ...]) -> str:
    """PMID where known, else DOI, else the study id; space-separated, in id order."""
    return " ".join(refs[sid] for sid in sorted(set(ids)) if sid in refs)


def article_level(cell: str) -> str:
    """The level word of a printed cell such as 'Strong (RCTs, reviews)'."""
    for word in LEVEL_WORDS:
        if cell.startswith(word.split("/")[0]):
            return word
    return cell
