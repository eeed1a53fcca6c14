"""Helpers shared by the regenerated tables."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict

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


class RuleSection(BaseModel):
    """A rule-set section a table reads (harms, interactions, dosage): a misspelt key is an
    error, not a silently ignored rule, and the rules cannot change during a run."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def check_pattern(pattern: str) -> None:
    """Refuse a rule's regular expression that does not compile, quoting it."""
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"pattern {pattern!r} does not compile: {exc}") from None
