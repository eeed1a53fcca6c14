"""Load a protocol's validated inputs as typed pandas tables."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from evidence.inputs.documents import Citations, Claims
from evidence.inputs.protocol import Protocol
from evidence.inputs.risk_of_bias import RiskOfBias, load_risk_of_bias
from evidence.inputs.screening import Decision, load_decisions
from evidence.inputs.source_hosts import HostMark, load_source_hosts
from evidence.inputs.textfile import parse_number, read_csv_rows
from evidence.inputs.validate import Issue, TableRows, data_file, validate_inputs
from evidence.inputs.yamlfile import load_yaml
from evidence.safepath import inside

if TYPE_CHECKING:
    from evidence.pubmed.notices import Retraction

INT_COLS = {"year", "n_total", "n", "events", "k", "participants"}
FLOAT_COLS = {
    "dose_min",
    "dose_max",
    "duration_weeks",
    "timepoint_weeks",
    "dose_mg_day",
    "dose_ug_day",
    "mean",
    "sd",
    "se",
    "pct",
    "estimate",
    "ci_low",
    "ci_high",
    "i2",
    "value_min",
    "value_max",
}
BOOL_COLS = {"derived", "humans", "animals"}


class InvalidInputs(ValueError):
    """The inputs failed validation; `issues` says where and why."""

    def __init__(self, issues: list[Issue]):
        self.issues = issues
        super().__init__(f"{len(issues)} problem(s) in the inputs:\n" + "\n".join(map(str, issues)))


@dataclass(frozen=True)
class Snapshot:
    protocol: Protocol
    studies: pd.DataFrame
    outcomes: pd.DataFrame
    study_effects: pd.DataFrame
    published_syntheses: pd.DataFrame
    dosing_facts: pd.DataFrame
    pubmed_records: pd.DataFrame
    missing: pd.DataFrame
    claims: Claims | None
    citations: Citations | None
    input_hashes: dict[str, str]
    refs: dict[str, str]  # study id → PMID:n / doi:x / the id, for every table's sources
    # Study id → RoB 2 record; None when the protocol names no risk-of-bias file.
    risk_of_bias: dict[str, RiskOfBias] | None = None
    # Host → its mark (mirror, aggregator, AI-generated); empty when the protocol names no list.
    source_hosts: dict[str, HostMark] = field(default_factory=dict)
    # Screening decisions in file order (a later one supersedes); none without the file.
    screening: list[Decision] = field(default_factory=list)
    # Study id → the retraction of its PubMed record (`evidence.synthesis.retracted`); such a
    # study is gone from the tables above when the protocol's `exclude_retracted` holds.
    retracted: dict[str, Retraction] = field(default_factory=dict)


def _numbers(text: list[str], integer: bool) -> pd.api.extensions.ExtensionArray:
    """The column's numbers, parsed by the same function validation used (`parse_number`)."""
    values = [parse_number(t, integer=integer) if t else None for t in text]
    return pd.array(values, dtype="Int64" if integer else "Float64")


_BOOLS = {"true": True, "false": False}


def _typed(
    path: Path, read: tuple[list[str], list[tuple[int, dict[str, str]]]] | None = None
) -> pd.DataFrame:
    """The table as `validate` read it (`textfile.read_csv_rows`): the same decoding, the same
    rows, the same numbers. Each column is typed from a plain list, once. `read`: the header
    and rows validation read from `path` (so the file is read once, and what was validated
    is what is loaded)."""
    header, rows = read if read is not None else read_csv_rows(path)
    if len(set(header)) != len(header):  # validation refuses these; typed column by column
        return _typed_frame(header, rows)
    columns: dict[str, object] = {}
    for col in header:
        raw = [r.get(col, "") for _, r in rows]
        if col in INT_COLS or col in FLOAT_COLS or col in BOOL_COLS:
            text = [v.strip() for v in raw]
            if col in BOOL_COLS:
                columns[col] = pd.array([_BOOLS.get(t) for t in text], dtype="boolean")
            else:
                columns[col] = _numbers(text, integer=col in INT_COLS)
        else:
            columns[col] = pd.Series([v if v != "" else None for v in raw], dtype=object)
    return pd.DataFrame(columns, columns=header)


def _read(
    validated: TableRows | None, path: Path
) -> tuple[list[str], list[tuple[int, dict[str, str]]]] | None:
    """What validation read of the file at `path`, if it read it whole."""
    if validated is None or not validated.header or validated.path != path:
        return None
    return validated.header, validated.rows


def _typed_frame(header: list[str], rows: list[tuple[int, dict[str, str]]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [[r.get(c, "") for c in header] for _, r in rows], columns=header, dtype=object
    )
    for col in frame.columns:
        text = frame[col].astype(str).str.strip().tolist()
        if col in INT_COLS:
            frame[col] = _numbers(text, integer=True)
        elif col in FLOAT_COLS:
            frame[col] = _numbers(text, integer=False)
        elif col in BOOL_COLS:
            frame[col] = pd.array([_BOOLS.get(t) for t in text], dtype="boolean")
        else:
            frame[col] = frame[col].replace("", None)
    return frame


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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


def load_snapshot(data: Path, protocol: Protocol, protocol_path: Path | None = None) -> Snapshot:
    """Validate, then load. Invalid inputs raise `InvalidInputs` listing every problem."""
    data = Path(data)
    validated, issues = validate_inputs(data, protocol)
    if issues:
        raise InvalidInputs(issues)
    files = protocol.files
    tables = {
        name: _typed(path, _read(validated.get(name), path))
        for name, path in (
            (name, data_file(data, protocol, name))
            for name in (
                "studies",
                "outcomes",
                "study_effects",
                "published_syntheses",
                "dosing_facts",
                "pubmed_records",
                "missing",
            )
        )
    }
    claims = (
        Claims.model_validate(load_yaml(data_file(data, protocol, "claims")))
        if files.claims
        else None
    )
    citations = (
        Citations.model_validate(load_yaml(data_file(data, protocol, "citations")))
        if files.citations
        else None
    )
    risk_of_bias = (
        load_risk_of_bias(data_file(data, protocol, "risk_of_bias")) if files.risk_of_bias else None
    )
    screening = load_decisions(data_file(data, protocol, "screening")) if files.screening else []
    hashed = {
        getattr(files, n): n
        for n in type(files).model_fields
        if getattr(files, n) and (n != "screening" or data_file(data, protocol, n).is_file())
    }
    hashes = {rel: _sha256(data_file(data, protocol, hashed[rel])) for rel in sorted(hashed)}
    if protocol_path is not None:
        hashes[f"protocols/{Path(protocol_path).name}"] = _sha256(Path(protocol_path))
    # The rule set decides the ratings: a change to it is a new run even without a new version.
    rules = inside(data, protocol.rating.rule_set)
    if rules.is_file():
        hashes[protocol.rating.rule_set] = _sha256(rules)
    refs = reference_map(tables["studies"], tables["pubmed_records"])
    hosts = (
        load_source_hosts(data_file(data, protocol, "source_hosts")) if files.source_hosts else {}
    )
    return Snapshot(
        protocol=protocol,
        claims=claims,
        citations=citations,
        input_hashes=hashes,
        refs=refs,
        risk_of_bias=risk_of_bias,
        source_hosts=hosts,
        screening=screening,
        **tables,
    )
