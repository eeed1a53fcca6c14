"""Find PMIDs for curated studies and cited papers that have none, without guessing.

A DOI is looked up first (`"DOI"[doi]`); failing that, the title's distinctive words with the
first author and year (`[ti]`, `[1au]` then `[au]`, `[dp]`). Exactly one hit is a match and says
how it was made; several hits are listed as ambiguous and none as missing. Offline, the targets
are only listed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evidence.pubmed.secrets import scrub
from evidence.pubmed.snapshot import read_studies, study_pmids
from evidence.safepath import PMID_RULE, ascii_digits, is_pmid

if TYPE_CHECKING:
    from evidence.pubmed.client import EutilsClient

RESOLUTION_COLUMNS = (
    "study_id",
    "status",
    "method",
    "pmid",
    "candidates",
    "citations",
    "query",
    "detail",
)
STATUSES = ("matched", "ambiguous", "missing", "error", "unresolvable", "offline")
_STOPWORDS = frozenset(
    "a an and are as at by for from in into is it its of on or the to with without versus vs "
    "was were be been this that these those than their after before during between".split()
)
_MAX_TITLE_WORDS = 10
_CANDIDATES = 20


@dataclass(frozen=True)
class Target:
    """Something to find in PubMed: a study (or cited paper) without a PMID."""

    study_id: str
    doi: str = ""
    title: str = ""
    first_author: str = ""
    year: str = ""
    citations: tuple[int, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """The outcome for one target; `method` is `doi` or `title_author_year` when matched."""

    study_id: str
    status: str
    method: str = ""
    pmid: str = ""
    candidates: tuple[str, ...] = ()
    citations: tuple[int, ...] = ()
    query: str = ""
    detail: str = ""

    def row(self) -> dict[str, str]:
        return {
            "study_id": self.study_id,
            "status": self.status,
            "method": self.method,
            "pmid": self.pmid,
            "candidates": " ".join(self.candidates),
            "citations": " ".join(str(c) for c in self.citations),
            "query": self.query,
            "detail": self.detail,
        }


def _citation_candidates(path: Path | None) -> list[tuple[int, dict[str, Any]]]:
    if path is None or not Path(path).is_file():
        return []
    from evidence.inputs.yamlfile import load_yaml

    data = load_yaml(path) or {}
    out: list[tuple[int, dict[str, Any]]] = []
    for citation in data.get("citations") or []:
        number = citation.get("number")
        for candidate in citation.get("candidates") or []:
            if isinstance(candidate, dict) and isinstance(number, int):
                out.append((number, candidate))
    return out


def resolution_targets(data_dir: Path, citations_path: Path | None = None) -> list[Target]:
    """Studies without a PMID, plus cited candidate papers without one, each once.

    A PMID in studies.csv, pubmed_records.csv or the citation file counts as known.
    """
    studies = {s.study_id: s for s in read_studies(data_dir)}
    have = study_pmids(data_dir)
    cited: dict[str, set[int]] = {}
    cited_doi: dict[str, str] = {}
    for number, candidate in _citation_candidates(citations_path):
        study_id = str(candidate.get("study_id") or "").strip()
        if not study_id:
            continue
        pmid = candidate.get("pmid")
        if pmid not in (None, ""):
            # a quoted string, exactly a PMID: unquoted YAML turns 0123 into 83 and 1_0 into 10
            if not is_pmid(pmid):
                raise ValueError(
                    f"{citations_path}: citation {number}, candidate {study_id}: pmid {pmid!r} "
                    f"refused; {PMID_RULE} (quoted in YAML)"
                )
            have.setdefault(study_id, pmid)
            continue
        cited.setdefault(study_id, set()).add(number)
        if candidate.get("doi"):
            cited_doi.setdefault(study_id, str(candidate["doi"]).strip())
    targets: list[Target] = []
    for study_id in sorted(set(studies) | set(cited)):
        if study_id in have:
            continue
        study = studies.get(study_id)
        targets.append(
            Target(
                study_id=study_id,
                doi=(study.doi if study else "") or cited_doi.get(study_id, ""),
                title=study.title if study else "",
                first_author=study.first_author if study else "",
                year=study.year if study else "",
                citations=tuple(sorted(cited.get(study_id, ()))),
            )
        )
    return targets


def doi_term(doi: str) -> str:
    """An esearch term for one DOI (quoted, since DOIs hold brackets and slashes)."""
    return f'"{doi.strip().replace(chr(34), "")}"[doi]'


def title_words(title: str) -> list[str]:
    """The title's distinctive words, in order: lower-case, no stop words, no punctuation."""
    words = re.sub(r"[^0-9a-z]+", " ", title.casefold()).split()
    seen: list[str] = []
    for word in words:
        if len(word) > 2 and word not in _STOPWORDS and word not in seen:
            seen.append(word)
    return seen[:_MAX_TITLE_WORDS]


def title_author_year_term(title: str, author: str = "", year: str = "", field: str = "1au") -> str:
    """An esearch term from title words, an author (`Surname Initials`) and a year."""
    parts = [f"{w}[ti]" for w in title_words(title)]
    author = re.sub(r"\bet al\.?", "", author).replace(",", " ").strip()
    if author:
        parts.append(f"{' '.join(author.split())}[{field}]")
    if ascii_digits(year.strip()):
        parts.append(f"{year.strip()}[dp]")
    return " AND ".join(parts)


def offline_resolutions(targets: Iterable[Target]) -> list[Resolution]:
    """What an offline run can say: each target is unresolved, with what it could be found by."""
    out = []
    for t in targets:
        if t.doi:
            how = f"DOI {t.doi}"
        elif t.title:
            how = "title/author/year"
        else:
            how = ""
        detail = (
            f"no search made (offline); can be looked up by {how}"
            if how
            else ("no DOI and no title to look it up by")
        )
        status = "offline" if how else "unresolvable"
        out.append(Resolution(t.study_id, status, citations=t.citations, detail=detail))
    return out


def _lookup(client: EutilsClient, term: str) -> tuple[tuple[str, ...], int, str]:
    """(candidate PMIDs, hit count, note); a phrase NCBI cannot find counts as zero hits."""
    from evidence.pubmed.client import EutilsQueryError

    try:
        page = client.esearch(term, retmax=_CANDIDATES, usehistory=False)
    except EutilsQueryError as exc:
        if exc.phrase_not_found:
            return (), 0, scrub(str(exc), client.config)
        raise
    return page.ids, page.count, ""


def resolve_target(client: EutilsClient, target: Target) -> Resolution:
    """Look one target up live; never picks among several hits."""
    from evidence.pubmed.client import EutilsError

    base = {"study_id": target.study_id, "citations": target.citations}
    attempts: list[tuple[str, str]] = []
    if target.doi:
        attempts.append(("doi", doi_term(target.doi)))
    if title_words(target.title):
        attempts.append(
            (
                "title_author_year",
                title_author_year_term(target.title, target.first_author, target.year, "1au"),
            )
        )
        if target.first_author:
            attempts.append(
                (
                    "title_author_year",
                    title_author_year_term(target.title, target.first_author, target.year, "au"),
                )
            )
    if not attempts:
        return Resolution(**base, status="unresolvable", detail="no DOI and no title")
    notes: list[str] = []
    term = ""
    try:
        for method, term in attempts:
            ids, count, note = _lookup(client, term)
            if note:
                notes.append(note)
            if count == 1 and ids:
                return Resolution(**base, status="matched", method=method, pmid=ids[0], query=term)
            if count > 1:
                return Resolution(
                    **base,
                    status="ambiguous",
                    method=method,
                    candidates=ids,
                    query=term,
                    detail=f"{count} records match; none chosen",
                )
    except EutilsError as exc:
        return Resolution(**base, status="error", query=term, detail=scrub(str(exc), client.config))
    return Resolution(
        **base,
        status="missing",
        query=" | ".join(t for _, t in attempts),
        detail="; ".join(notes) or "no record matches",
    )


def resolve(client: EutilsClient, targets: Iterable[Target]) -> list[Resolution]:
    return [resolve_target(client, t) for t in targets]


def resolutions_csv(resolutions: Iterable[Resolution]) -> str:
    """The resolutions as CSV for reviewers, text cells spreadsheet-safe (`io.sheet_cell`)."""
    from evidence.io import csv_text

    rows = [res.row() for res in sorted(resolutions, key=lambda r: r.study_id)]
    return csv_text(
        RESOLUTION_COLUMNS,
        [[r.get(c, "") for c in RESOLUTION_COLUMNS] for r in rows],
        neutralise=True,
    )
