"""The normalized PubMed record every source (live efetch, saved files, the snapshot) turns into.

One shape for all sources means the cache, the classifier and the reports never care where a
record came from; `source` and `retrieved` say that instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any, Literal, NamedTuple

from evidence.safepath import PMID_RULE, is_pmid

Source = Literal["live", "file", "snapshot"]
SOURCES: tuple[str, ...] = ("live", "file", "snapshot")

# Reference types of CommentsCorrections that change how a record may be used: retractions,
# errata, expressions of concern and republications. Comments and citations are left out.
NOTICE_REF_TYPES: frozenset[str] = frozenset(
    {
        "RetractionIn",
        "RetractionOf",
        "PartialRetractionIn",
        "PartialRetractionOf",
        "RetractedandRepublishedIn",
        "RetractedandRepublishedFrom",
        "ErratumIn",
        "ErratumFor",
        "ExpressionOfConcernIn",
        "ExpressionOfConcernFor",
        "CorrectedandRepublishedIn",
        "CorrectedandRepublishedFrom",
    }
)
RETRACTION_REF_TYPES: frozenset[str] = frozenset(
    {"RetractionIn", "PartialRetractionIn", "RetractedandRepublishedIn"}
)
ERRATUM_REF_TYPES: frozenset[str] = frozenset({"ErratumIn", "CorrectedandRepublishedIn"})


# The small value types are NamedTuples: immutable like the record, and cheap to create by the
# hundred per record when parsing large files.


class PublicationType(NamedTuple):
    """A PubMed publication type; `ui` is the MeSH PT id, empty when the source gave a name only."""

    name: str
    ui: str = ""


class MeshHeading(NamedTuple):
    """A MeSH descriptor with its qualifiers; `ui` is empty when the source gave a name only."""

    descriptor: str
    ui: str = ""
    major: bool = False
    qualifiers: tuple[str, ...] = ()


class Notice(NamedTuple):
    """A retraction, erratum or similar link (CommentsCorrections) to another PubMed record."""

    ref_type: str
    ref_source: str = ""
    pmid: str = ""


@dataclass(frozen=True)
class PubmedRecord:
    """One PubMed citation, normalized.

    Dates are ISO text (`YYYY`, `YYYY-MM` or `YYYY-MM-DD`); `pub_date` keeps a free-text
    MedlineDate as printed when the issue date has no structure. `humans`/`animals` are the MeSH
    check tags; None means the record carries no MeSH indexing to decide from.
    """

    pmid: str
    title: str = ""
    abstract: str = ""
    journal: str = ""
    journal_abbrev: str = ""
    year: int | None = None
    pub_date: str = ""
    entrez_date: str = ""
    authors: tuple[str, ...] = ()
    publication_types: tuple[PublicationType, ...] = ()
    mesh_headings: tuple[MeshHeading, ...] = ()
    humans: bool | None = None
    animals: bool | None = None
    doi: str = ""
    pmc: str = ""
    languages: tuple[str, ...] = ()
    notices: tuple[Notice, ...] = ()
    retracted: bool = False
    status: str = ""
    kind: str = "article"
    study_id: str = ""
    source_url: str = ""
    note: str = ""
    source: str = ""
    retrieved: str = ""

    def __post_init__(self) -> None:
        if not is_pmid(self.pmid):
            raise ValueError(f"PMID {self.pmid!r} refused: {PMID_RULE}")
        if self.source and self.source not in SOURCES:
            raise ValueError(f"source must be one of {SOURCES}, got {self.source!r}")

    @property
    def publication_type_names(self) -> tuple[str, ...]:
        return tuple(pt.name for pt in self.publication_types)

    @property
    def has_erratum(self) -> bool:
        return any(n.ref_type in ERRATUM_REF_TYPES for n in self.notices)

    @property
    def first_author(self) -> str:
        return self.authors[0] if self.authors else ""

    def with_provenance(self, source: str, retrieved: str) -> PubmedRecord:
        """The same record stamped with where and when it was obtained."""
        return replace(self, source=source, retrieved=retrieved)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: nested values become dicts, tuples become lists."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PubmedRecord:
        """Inverse of `to_dict`; unknown keys are ignored so older code reads newer caches."""
        known = {f.name for f in fields(cls)}
        kw: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        kw["pmid"] = str(kw.get("pmid", ""))
        for key in ("authors", "languages"):
            if key in kw:
                kw[key] = tuple(kw[key] or ())
        if "publication_types" in kw:
            kw["publication_types"] = tuple(
                PublicationType(**pt) for pt in kw["publication_types"] or ()
            )
        if "mesh_headings" in kw:
            kw["mesh_headings"] = tuple(
                MeshHeading(
                    descriptor=m["descriptor"],
                    ui=m.get("ui", ""),
                    major=bool(m.get("major", False)),
                    qualifiers=tuple(m.get("qualifiers", ())),
                )
                for m in kw["mesh_headings"] or ()
            )
        if "notices" in kw:
            kw["notices"] = tuple(Notice(**n) for n in kw["notices"] or ())
        return cls(**kw)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        return {k: _plain(v) for k, v in value._asdict().items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value
