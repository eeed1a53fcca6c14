"""Seed records for the PubMed cache from the curated snapshot tables.

Until NCBI can be asked, the best metadata for a study is what curators copied from PubMed
pages: `studies.csv` (one row per study) and `pubmed_records.csv` (PubMed page fields for some
of them). Each study with a PMID becomes a `source="snapshot"` record; a later live fetch
replaces it with NCBI's own. The retrieval date is a parameter so rebuilding gives the same bytes.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from evidence.pubmed.records import MeshHeading, PublicationType, PubmedRecord
from evidence.pubmed.vocab import mesh_ui, publication_type_ui
from evidence.safepath import PMID_RULE, ascii_digits, is_pmid

SNAPSHOT_DATE = "2026-11-25"
STUDIES = "studies.csv"
PUBMED_RECORDS = "pubmed_records.csv"


@dataclass(frozen=True)
class Study:
    """The studies.csv fields the PubMed layer uses."""

    study_id: str
    first_author: str = ""
    year: str = ""
    title: str = ""
    journal: str = ""
    pmid: str = ""
    doi: str = ""
    design: str = ""


@dataclass(frozen=True)
class Unfilled:
    """A study the snapshot could not turn into a record, and why."""

    study_id: str
    title: str
    reason: str


def read_rows(path: Path) -> list[dict[str, str]]:
    """CSV rows as text; a missing file reads as no rows.

    A `pmid` cell is blank or exactly a PMID (never cleaned up): anything else is refused here,
    naming file, line and field, before it can reach the cache, a file name or a report.
    """
    if not path.is_file():
        return []
    rows: list[dict[str, str]] = []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            pmid = row.get("pmid") or ""
            if pmid.strip() and not is_pmid(pmid):
                raise ValueError(
                    f"{path}: line {reader.line_num}, field pmid: {pmid!r} refused; {PMID_RULE}"
                )
            rows.append({k: (v or "").strip() for k, v in row.items() if k})
    return rows


def read_studies(data_dir: Path) -> list[Study]:
    path = Path(data_dir) / STUDIES
    if not path.is_file():
        raise FileNotFoundError(f"{path}: not found (the PubMed layer reads studies from --data)")
    return [
        Study(
            study_id=row.get("study_id", ""),
            first_author=row.get("first_author", ""),
            year=row.get("year", ""),
            title=row.get("title", ""),
            journal=row.get("journal", ""),
            pmid=row.get("pmid", ""),
            doi=row.get("doi", ""),
            design=row.get("design", ""),
        )
        for row in read_rows(path)
        if row.get("study_id")
    ]


def read_pubmed_rows(data_dir: Path) -> dict[str, dict[str, str]]:
    """pubmed_records.csv rows by study_id (rows without a PMID are skipped)."""
    rows = read_rows(Path(data_dir) / PUBMED_RECORDS)
    return {r["study_id"]: r for r in rows if r.get("study_id") and is_pmid(r.get("pmid"))}


def known_pmids(data_dir: Path) -> set[str]:
    """Every PMID the curated data already holds (studies.csv and pubmed_records.csv)."""
    out = {s.pmid for s in read_studies(data_dir) if is_pmid(s.pmid)}
    out |= {r["pmid"] for r in read_rows(Path(data_dir) / PUBMED_RECORDS) if is_pmid(r.get("pmid"))}
    return out


def study_pmids(data_dir: Path) -> dict[str, str]:
    """study_id -> PMID, from studies.csv, else from pubmed_records.csv."""
    extra = read_pubmed_rows(data_dir)
    out: dict[str, str] = {}
    for study in read_studies(data_dir):
        pmid = study.pmid if is_pmid(study.pmid) else extra.get(study.study_id, {}).get("pmid", "")
        if pmid:
            out[study.study_id] = pmid
    return out


def _bool(value: str) -> bool | None:
    value = value.strip().lower()
    if value in {"true", "yes", "y", "1"}:
        return True
    if value in {"false", "no", "n", "0"}:
        return False
    return None


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(";") if part.strip()]


def _year(value: str) -> int | None:
    value = value.strip()
    return int(value) if ascii_digits(value) else None


def snapshot_records(
    data_dir: Path, retrieved: str = SNAPSHOT_DATE
) -> tuple[list[PubmedRecord], list[Unfilled]]:
    """Records for every study with a PMID, and the studies that have none.

    pubmed_records.csv fields (copied from PubMed pages) win over studies.csv fields.
    """
    extra = read_pubmed_rows(data_dir)
    records: dict[str, PubmedRecord] = {}
    unfilled: list[Unfilled] = []
    for study in read_studies(data_dir):
        page = extra.get(study.study_id, {})
        pmid = study.pmid if is_pmid(study.pmid) else page.get("pmid", "")
        if not pmid:
            reason = "no PMID in studies.csv or pubmed_records.csv"
            if study.doi:
                reason += f"; DOI {study.doi} can be resolved live"
            elif study.title:
                reason += "; title/author/year can be resolved live"
            else:
                reason += "; nothing to resolve it by"
            unfilled.append(Unfilled(study.study_id, study.title, reason))
            continue
        if page.get("pmid") != pmid:
            page = {}  # a page about another PMID says nothing about this one
        if pmid in records:
            continue  # two curated rows for one PMID: the first one names the record
        ptypes = tuple(
            PublicationType(n, publication_type_ui(n))
            for n in _split(page.get("publication_types", ""))
        )
        mesh = tuple(MeshHeading(n, mesh_ui(n)) for n in _split(page.get("mesh_headings", "")))
        records[pmid] = PubmedRecord(
            pmid=pmid,
            title=page.get("title") or study.title,
            journal=page.get("journal") or study.journal,
            year=_year(page.get("year", "")) or _year(study.year),
            authors=(study.first_author,) if study.first_author else (),
            publication_types=ptypes,
            mesh_headings=mesh,
            humans=_bool(page.get("humans", "")),
            animals=_bool(page.get("animals", "")),
            doi=page.get("doi") or study.doi,
            study_id=study.study_id,
            source_url=page.get("source_url", ""),
            note=page.get("note", ""),
            source="snapshot",
            retrieved=retrieved,
        )
    return sorted(records.values(), key=lambda r: int(r.pmid)), unfilled
