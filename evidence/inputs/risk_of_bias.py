"""Per-trial risk-of-bias records (RoB 2): the overall judgement, the five domains, the signals.

The file is validated with the other inputs (`evidence.inputs.validate`) before it is read
here, so this module only types the rows; a protocol without the file has no records at all
(None), which is not the same as a trial without a row (absent from the mapping).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from evidence.inputs.schemas import ROB_DOMAINS, ROB_JUDGEMENTS
from evidence.inputs.textfile import read_csv_rows

Judgement = Literal["low", "some_concerns", "high", "no_information"]
# Domain column → the domain's name in words, for reasons and reports.
DOMAIN_NAMES = {
    "domain_randomisation": "randomisation process",
    "domain_deviations": "deviations from intended interventions",
    "domain_missing_data": "missing outcome data",
    "domain_measurement": "measurement of the outcome",
    "domain_selection": "selection of the reported result",
}
SIGNALS = (
    "randomisation_method",
    "allocation_concealment",
    "blinding",
    "analysis_population",
    "attrition",
    "registration",
    "industry_funding",
)


@dataclass(frozen=True)
class Signals:
    """What public pages state about the trial's conduct; None where nothing was seen."""

    randomisation_method: str | None = None
    allocation_concealment: str | None = None
    blinding: str | None = None
    analysis_population: str | None = None
    attrition: str | None = None
    registration: str | None = None
    industry_funding: str | None = None


@dataclass(frozen=True)
class RiskOfBias:
    """One trial's RoB 2 assessment, with the words and pages that support it."""

    study_id: str
    overall: Judgement
    randomisation: Judgement
    deviations: Judgement
    missing_data: Judgement
    measurement: Judgement
    selection: Judgement
    signals: Signals
    source_url: str
    text_seen: str | None = None
    note: str | None = None

    @property
    def domains(self) -> dict[str, Judgement]:
        """Domain name in words → judgement, in RoB 2's order."""
        return {
            DOMAIN_NAMES[col]: getattr(self, col.removeprefix("domain_")) for col in ROB_DOMAINS
        }


def _judgement(value: str, where: str) -> Judgement:
    if value not in ROB_JUDGEMENTS:  # validation refuses this first; never guess
        raise ValueError(f"{where}: {value!r} is not one of {', '.join(ROB_JUDGEMENTS)}")
    return cast(Judgement, value)


def record_of(row: Mapping[str, str], where: str = "risk_of_bias.csv") -> RiskOfBias:
    """A typed record from one row's text (empty cells are None)."""

    def text(col: str) -> str | None:
        value = (row.get(col) or "").strip()
        return value or None

    return RiskOfBias(
        study_id=row["study_id"],
        overall=_judgement(row.get("overall", ""), f"{where}: overall"),
        **{
            col.removeprefix("domain_"): _judgement(row.get(col, ""), f"{where}: {col}")
            for col in ROB_DOMAINS
        },
        signals=Signals(**{s: text(s) for s in SIGNALS}),
        source_url=row.get("source_url", ""),
        text_seen=text("text_seen"),
        note=text("note"),
    )


def load_risk_of_bias(path: Path) -> dict[str, RiskOfBias]:
    """Study id → its record, from a validated risk_of_bias.csv."""
    _, rows = read_csv_rows(Path(path))
    return {r["study_id"]: record_of(r, f"{Path(path).name}:{line}") for line, r in rows}


def high_risk(records: Mapping[str, RiskOfBias] | None) -> frozenset[str]:
    """Trials judged at high risk overall (none when there are no records)."""
    return frozenset(s for s, r in (records or {}).items() if r.overall == "high")
