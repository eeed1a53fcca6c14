"""From a PubMed record to rows a reviewer completes, and from completed rows into the tables.

The template carries everything PubMed knows (ids, title, journal, year, design, the protocol's
outcomes for the indication); numbers stay empty for the reviewer. Adding checks the merged
tables with the same validation as every run and appends only when they are clean, to both
tables as one change (see `evidence.inputs.rawdata`). Where the protocol keeps risk-of-bias
judgements, the template has a third file, risk_of_bias.csv, with the trial's row to complete
in the same step (RoB 2 domains and signals, the vocabularies of `evidence validate`); a row left
without any judgement or signal is not added, and a trial already judged is never overwritten
(validation refuses a second row for it). A template lives in DATA/extraction/PMID/, and
only a PMID of digits names that folder.

The template is opened in a spreadsheet, so its text cells are neutralised (`evidence.io.
sheet_cell`: a PubMed title such as `=HYPERLINK(...)` is written `'=HYPERLINK(...)`); reading it
back removes exactly that prefix (`sheet_uncell`), so data/raw receives the text as PubMed gave
it, verbatim.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evidence.inputs import rawdata
from evidence.inputs.protocol import Protocol
from evidence.inputs.textfile import read_csv_rows
from evidence.inputs.validate import Issue, validate_inputs
from evidence.io import atomic_write_text, csv_text, sheet_uncell
from evidence.pubmed.classify import classify_design
from evidence.pubmed.records import PubmedRecord
from evidence.safepath import UnsafePath, check_pmid, inside

EXTRACTION_DIR = "extraction"
ARM_ROLES = ("treatment", "control")


def template_folder(data: Path, pmid: str) -> Path:
    """DATA/extraction/PMID, refused unless PMID is digits and the folder lies directly in there.

    `inside` resolves symlinks, so neither a linked extraction folder nor a linked PMID folder
    can lead a template's files anywhere else.
    """
    pmid = check_pmid(pmid, "--pmid")
    base = inside(data, EXTRACTION_DIR)
    if inside(data, EXTRACTION_DIR, pmid).parent != base:
        raise UnsafePath(f"{EXTRACTION_DIR}/{pmid}: would leave {base}: refused")
    return Path(data) / EXTRACTION_DIR / pmid


def pubmed_url(pmid: str) -> str:
    return f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/"


def study_id_for(record: PubmedRecord, taken: set[str]) -> str:
    """`surname_year`, ASCII, lower case; a letter suffix when the id is taken."""
    name = record.first_author.split(" ")[0] if record.first_author else f"pmid{record.pmid}"
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "_", ascii_name.lower()).strip("_") or f"pmid{record.pmid}"
    base = f"{base}_{record.year}" if record.year else base
    sid, n = base, 0
    while sid in taken:
        n += 1
        sid = f"{base}_{chr(ord('a') + n)}"
    return sid


@dataclass(frozen=True)
class Template:
    study: dict[str, str]
    outcomes: list[dict[str, str]]
    risk_of_bias: dict[str, str] | None = None  # None: the protocol keeps no judgements


ROB_FILE = "risk_of_bias.csv"
# Risk-of-bias columns the template leaves for the reviewer; a row with none filled is skipped.
ROB_ASSESSED = (
    "randomisation_method",
    "allocation_concealment",
    "blinding",
    "analysis_population",
    "attrition",
    "registration",
    "industry_funding",
    "domain_randomisation",
    "domain_deviations",
    "domain_missing_data",
    "domain_measurement",
    "domain_selection",
    "overall",
)


def make_template(
    record: PubmedRecord,
    protocol: Protocol,
    indication: str,
    study_columns: list[str],
    outcome_columns: list[str],
    taken: set[str],
    rob_columns: list[str] | None = None,
) -> Template:
    design, why = classify_design(record)
    sid = study_id_for(record, taken)
    species = "human" if record.humans else ("animal" if record.animals else "")
    url = pubmed_url(record.pmid)
    study = dict.fromkeys(study_columns, "")
    study |= {
        "study_id": sid,
        "first_author": record.first_author,
        "year": str(record.year or ""),
        "title": record.title,
        "journal": record.journal_abbrev or record.journal,
        "pmid": record.pmid,
        "doi": record.doi,
        "design": design,
        "species": species,
        "indication": indication,
        "source_urls": url,
        "notes": f"Prefilled from PubMed record {record.pmid} ({record.source or 'cache'}, "
        f"retrieved {record.retrieved or 'unknown'}); design from PubMed: {why}. "
        "Check every field against the paper.",
    }
    rows = []
    spec = protocol.indication(indication)
    for n, (outcome, role) in enumerate(
        ((o, r) for o in spec.outcomes for r in ARM_ROLES), start=1
    ):
        row = dict.fromkeys(outcome_columns, "")
        row |= {
            "row_id": f"{sid}-{n:02d}",
            "study_id": sid,
            "outcome": outcome.id,
            "outcome_definition": outcome.label,
            "arm": role,
            "arm_role": role,
            "derived": "false",
            "source_url": url,
        }
        rows.append(row)
    rob = None
    if rob_columns is not None:
        rob = dict.fromkeys(rob_columns, "") | {"study_id": sid, "source_url": url}
    return Template(study, rows, rob)


def _csv(columns: list[str], rows: list[dict[str, str]], neutralise: bool = False) -> str:
    """CRLF CSV text; `neutralise` for the templates people open, never for data/raw."""
    body = [[r.get(c, "") for c in columns] for r in rows]
    return csv_text(columns, body, crlf=True, neutralise=neutralise)


def template_rows(path: Path) -> list[dict[str, str]]:
    """A template's rows as the program wrote them: the spreadsheet-safe prefix removed."""
    return [{k: sheet_uncell(v) for k, v in r.items()} for _, r in read_csv_rows(path)[1]]


def write_template(
    folder: Path,
    t: Template,
    study_cols: list[str],
    outcome_cols: list[str],
    rob_cols: list[str] | None = None,
) -> tuple[Path, ...]:
    folder.mkdir(parents=True, exist_ok=True)
    s, o, r = folder / "studies.csv", folder / "outcomes.csv", folder / ROB_FILE
    with_rob = t.risk_of_bias is not None and rob_cols is not None
    for path in (s, o, r) if with_rob else (s, o):
        if path.exists():
            raise FileExistsError(f"{path}: a template is already here; complete or remove it")
    atomic_write_text(s, _csv(study_cols, [t.study], neutralise=True))
    atomic_write_text(o, _csv(outcome_cols, t.outcomes, neutralise=True))
    if not with_rob:
        return s, o
    assert t.risk_of_bias is not None and rob_cols is not None
    atomic_write_text(r, _csv(rob_cols, [t.risk_of_bias], neutralise=True))
    return s, o, r


NUMBERS = ("n", "events", "mean", "sd", "se", "pct")


def completed_rows(path: Path) -> list[dict[str, str]]:
    """Outcome rows the reviewer filled in: at least one number."""
    return [r for r in template_rows(path) if any(r.get(c, "").strip() for c in NUMBERS)]


def completed_rob_rows(folder: Path) -> list[dict[str, str]]:
    """The template's risk-of-bias rows the reviewer filled in (any judgement or signal);
    none when the template has no such file."""
    if not (folder / ROB_FILE).exists() and not (folder / ROB_FILE).is_symlink():
        return []
    rows = template_rows(inside(folder, ROB_FILE))
    return [r for r in rows if any(r.get(c, "").strip() for c in ROB_ASSESSED)]


def add_extraction(
    data: Path,
    protocol: Protocol,
    folder: Path,
    *,
    wait: bool = False,
    on_wait: Callable[[str], None] | None = None,
    wait_timeout: float | None = None,
) -> tuple[int, list[Issue]]:
    """Append a completed template's study and filled outcome rows, if the result validates.

    Under DATA's lock (two additions never interleave) and from a recovered state; both tables
    change together or neither does.
    """
    data = Path(data)
    files = protocol.files
    # A template file that is a link must not lead the addition to read a file elsewhere.
    studies = template_rows(inside(folder, "studies.csv"))
    outcomes = completed_rows(inside(folder, "outcomes.csv"))
    rob = completed_rob_rows(folder) if files.risk_of_bias else []
    with rawdata.changing(data, wait=wait, on_wait=on_wait, timeout=wait_timeout):
        merged: dict[Path, str] = {}
        with tempfile.TemporaryDirectory() as tmp:
            trial = Path(tmp) / "data"
            skip = shutil.ignore_patterns("pubmed", EXTRACTION_DIR, *rawdata.BOOKKEEPING)
            shutil.copytree(data, trial, ignore=skip)
            changes = [(files.studies, studies), (files.outcomes, outcomes)]
            if files.risk_of_bias and rob:
                changes.append((files.risk_of_bias, rob))
            for name, new in changes:
                header, _ = read_csv_rows(data / name)
                text = (data / name).read_bytes().decode("utf-8")  # keep the CRLF line ends
                sep = "" if text.endswith("\n") else "\r\n"
                merged[data / name] = text + sep + _csv(header, new).split("\r\n", 1)[1]
                (trial / name).write_text(merged[data / name], encoding="utf-8", newline="")
            _, issues = validate_inputs(trial, protocol, cache=data / "pubmed")
            if issues:
                return 0, issues
        rawdata.replace(data, merged)
    return len(outcomes), []
