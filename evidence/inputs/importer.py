"""Import a curated evidence set (CSV tables + YAML) into a project's data directory.

Nothing is dropped: every source row arrives with its values unchanged; keys are added as new
columns, and what the pipeline cannot use is listed in an import report beside the data.
"""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from evidence.inputs.textfile import read_csv_rows
from evidence.io import atomic_write_bytes, csv_text
from evidence.safepath import check_id, inside

# Tables that get a `row_id` key, and the column whose value prefixes it.
KEYED_TABLES: dict[str, str] = {
    "outcomes.csv": "study_id",
    "study_effects.csv": "study_id",
    "published_syntheses.csv": "review_id",
    "dosing_facts.csv": "formulation",
}
COPIED_TABLES = ("studies.csv", "pubmed_records.csv", "missing.csv")
# Copied unchanged when the source set has them (older sets do not).
OPTIONAL_TABLES = ("risk_of_bias.csv",)
YAML_FILES = {"claims.yaml": "claims", "citations.yaml": "citations"}
POOLABLE_EFFECTS = {"RR", "OR", "HR", "MD", "SMD", "RD"}
TIERED_UNITS = {"mg/day", "ug/day"}


class ImportConflict(RuntimeError):
    """The destination already holds a different file; importing would overwrite it."""


@dataclass
class ImportReport:
    files: list[tuple[str, str, int, int, str]] = field(default_factory=list)
    limits: list[tuple[str, int, str]] = field(default_factory=list)

    def to_markdown(self, source_label: str) -> str:
        out = [
            "# Import report",
            "",
            f"Source: `{source_label}` (curated evidence set).",
            "Written by `evidence import-evidence`.",
            "",
            "## Files",
            "",
            "| source | destination | rows in | rows out | change |",
            "|---|---|---:|---:|---|",
        ]
        out += [f"| {s} | {d} | {i} | {o} | {c} |" for s, d, i, o, c in self.files]
        out += [
            "",
            "## What the pipeline cannot use as numbers (kept as text, not dropped)",
            "",
            "| file | rows | why |",
            "|---|---:|---|",
        ]
        out += [f"| {f} | {n} | {why} |" for f, n, why in self.limits]
        return "\n".join(out) + "\n"


def add_row_ids(header: list[str], rows: list[dict[str, str]], prefix_col: str) -> list[str]:
    """Stable per-prefix sequence numbers: `addolorato_2002-01`, `addolorato_2002-02`…"""
    seen: Counter[str] = Counter()
    ids = []
    for row in rows:
        prefix = row.get(prefix_col, "") or "row"
        seen[prefix] += 1
        ids.append(f"{prefix}-{seen[prefix]:02d}")
    return ids


def _write_new(path: Path, data: bytes, overwrite: bool) -> None:
    if path.exists() and path.read_bytes() != data and not overwrite:
        raise ImportConflict(
            f"{path}: exists with different content; pass overwrite=True (--force) to replace it"
        )
    atomic_write_bytes(path, data)


def _limits(src: Path) -> list[tuple[str, int, str]]:
    out: list[tuple[str, int, str]] = []

    def rows(name: str) -> list[dict[str, str]]:
        return [r for _, r in read_csv_rows(src / name)[1]]

    outcomes = rows("outcomes.csv")
    no_numbers = [
        r
        for r in outcomes
        if not (r["events"] and r["n"]) and not (r["mean"] and (r["sd"] or r["se"]))
    ]
    out.append(
        (
            "outcomes.csv",
            len(no_numbers),
            "no events with n, and no mean with SD/SE: carried and tabulated, not pooled",
        )
    )
    derived = [r for r in outcomes if r["derived"] == "true"]
    out.append(
        ("outcomes.csv", len(derived), "derived values (flag kept; excludable from analyses)")
    )
    effects = rows("study_effects.csv")
    non_poolable = [r for r in effects if r["measure"] not in POOLABLE_EFFECTS]
    out.append(
        (
            "study_effects.csv",
            len(non_poolable),
            "statistics that are not ratios or differences with a CI (F, p, HR variants, "
            "within-group tests): used for direction-of-effect vote counts only",
        )
    )
    studies = rows("studies.csv")
    per_kg = [r for r in studies if r["dose_unit"] == "mg/kg"]
    out.append(("studies.csv", len(per_kg), "doses in mg/kg: no mg/day dose tier can be assigned"))
    facts = rows("dosing_facts.csv")
    odd_units = [r for r in facts if r["unit"] not in TIERED_UNITS]
    out.append(
        (
            "dosing_facts.csv",
            len(odd_units),
            "units other than mg/day or ug/day (per dose, bolus, %, weeks): shown as printed, "
            "not compared with study doses",
        )
    )
    syntheses = rows("published_syntheses.csv")
    not_pooled = [r for r in syntheses if not (r["estimate"] and r["ci_low"] and r["ci_high"])]
    out.append(
        (
            "published_syntheses.csv",
            len(not_pooled),
            "review results without an estimate and CI (declined to pool, ranges): shown as text",
        )
    )
    missing = rows("missing.csv")
    out.append(("missing.csv", len(missing), "what the curators looked for and did not find"))
    if (src / "risk_of_bias.csv").is_file():
        rob = rows("risk_of_bias.csv")
        unjudged = [r for r in rob if r["overall"] == "no_information"]
        out.append(
            (
                "risk_of_bias.csv",
                len(unjudged),
                "overall judgement no_information: the rule set's policy decides how such a "
                "study counts in the risk-of-bias domain",
            )
        )
    return out


def import_evidence_set(
    src: Path, dest: Path, protocol_id: str, overwrite: bool = False
) -> ImportReport:
    """Copy `src` (curated evidence set) into `dest` (a data directory) under `protocol_id`.

    The id names the claims and citations files, so it is checked before anything is written.
    """
    protocol_id = check_id(protocol_id, "--protocol")
    src, dest = Path(src), Path(dest)
    for folder in YAML_FILES.values():
        inside(dest, folder, f"{protocol_id}.yaml")
    report = ImportReport()
    for name, prefix_col in KEYED_TABLES.items():
        header, numbered = read_csv_rows(src / name)
        rows = [r for _, r in numbered]
        ids = add_row_ids(header, rows, prefix_col)
        new_header = ["row_id", *header]
        body = [[rid, *(r.get(c, "") for c in header)] for rid, r in zip(ids, rows, strict=True)]
        _write_new(dest / name, csv_text(new_header, body, crlf=True).encode(), overwrite)
        report.files.append((name, name, len(rows), len(body), "added column `row_id`"))
    optional = tuple(n for n in OPTIONAL_TABLES if (src / n).is_file())
    for name in (*COPIED_TABLES, *optional):
        header, numbered = read_csv_rows(src / name)
        data = (src / name).read_bytes()
        _write_new(dest / name, data, overwrite)
        report.files.append((name, name, len(numbered), len(numbered), "copied unchanged"))
    for name, folder in YAML_FILES.items():
        target = f"{folder}/{protocol_id}.yaml"
        _write_new(dest / target, (src / name).read_bytes(), overwrite)  # proven inside above
        report.files.append((name, target, 0, 0, "copied unchanged"))
    report.limits = _limits(src)
    return report


def source_digest(src: Path) -> str:
    """A short digest of the source set, so the report says exactly what was imported."""
    h = hashlib.sha256()
    for path in sorted(Path(src).iterdir()):
        if path.is_file():
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:16]


def write_import_report(report: ImportReport, src: Path, dest: Path) -> Path:
    label = f"{Path(src).name}/ (sha256 {source_digest(src)})"
    path = Path(dest) / "IMPORT_REPORT.md"
    atomic_write_bytes(path, report.to_markdown(label).encode())
    return path


__all__ = ["ImportConflict", "ImportReport", "csv", "import_evidence_set", "write_import_report"]
