"""The YAML inputs beside the tables: the article's claims and its citation map."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class ClaimRow(_Doc):
    sources: list[int] = Field(default_factory=list)


class ClaimTable(_Doc):
    caption: str
    columns: list[str]
    rows: list[dict[str, object]]


class Claims(_Doc):
    article: dict[str, object]
    tables: dict[str, ClaimTable]


class Candidate(_Doc):
    rank: int
    study_id: str
    pmid: str | None = None
    doi: str | None = None
    confidence: str | None = None
    source_urls: list[str] = Field(default_factory=list)


class Citation(_Doc):
    number: int
    best_guess_confidence: str | None = None
    claims: list[str] = Field(default_factory=list)
    candidates: list[Candidate] = Field(default_factory=list)


class Citations(_Doc):
    article: str
    citations: list[Citation]

    def best(self, number: int) -> Candidate | None:
        """The top-ranked candidate for a citation number, if any."""
        for c in self.citations:
            if c.number == number and c.candidates:
                return min(c.candidates, key=lambda x: x.rank)
        return None
