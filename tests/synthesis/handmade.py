"""Small hand-made protocols, studies and arm rows for the synthesis tests."""

from __future__ import annotations

from typing import Any

import pandas as pd

from evidence.inputs.protocol import Protocol, parse_protocol
from evidence.synthesis.comparisons import assign_studies, with_comparisons

PLACEBO_ORAL = {
    "id": "oral_vs_placebo",
    "label": "oral drug vs placebo",
    "routes": ["oral"],
    "comparator": "placebo",
    "designs": ["rct", "crossover_rct"],
}
ACTIVE_ORAL = {
    "id": "oral_vs_active",
    "label": "oral drug vs another drug",
    "routes": ["oral"],
    "comparator": "active",
    "designs": ["rct", "crossover_rct"],
}
PLACEBO_IT = {
    "id": "it_vs_placebo",
    "label": "intrathecal drug vs placebo",
    "routes": ["intrathecal"],
    "comparator": "placebo",
    "designs": ["rct", "crossover_rct"],
}


def protocol(
    comparisons: list[dict[str, Any]] | None = None,
    measure: str = "RR",
    **extra: Any,
) -> Protocol:
    """A one-indication protocol `ind` with one outcome `o` and the given comparisons."""
    data: dict[str, Any] = {
        "protocol_id": "handmade",
        "version": "1",
        "title": "t",
        "drug": {"name": "drugx", "pubmed_term": "drugx"},
        "indications": [
            {
                "id": "ind",
                "label": "Indication",
                "pubmed_query": "q",
                "outcomes": [{"id": "o", "measure": measure, "benefit": "higher", "label": "O"}],
                "comparisons": comparisons
                if comparisons is not None
                else [PLACEBO_ORAL, ACTIVE_ORAL, PLACEBO_IT],
            }
        ],
        "dose_tiers": {
            "oral": {
                "unit": "mg/day",
                "field": "dose_mg_day",
                "tiers": [{"label": "low", "max": 60}, {"label": "high"}],
            }
        },
        "rating": {"rule_set": "rules/r.yaml", "rule_set_version": "1"},
        "small_k": {"test": "adhoc", "k2_test": "z"},
    }
    data.update(extra)
    return parse_protocol(data, "handmade.yaml")


def study(
    sid: str,
    design: str = "rct",
    route: str = "oral",
    comparator: str = "placebo",
    population: str = "adults",
    duration: float | None = 12,
    year: int = 2000,
) -> dict[str, Any]:
    return {
        "study_id": sid,
        "indication": "ind",
        "design": design,
        "route": route,
        "comparator": comparator,
        "population": population,
        "duration_weeks": duration,
        "year": year,
    }


def arm(
    sid: str,
    role: str,
    tier: str = "low",
    events: int | None = None,
    n: int | None = None,
    mean: float | None = None,
    sd: float | None = None,
    derived: bool = False,
    pct: float | None = None,
) -> dict[str, Any]:
    return {
        "study_id": sid,
        "outcome": "o",
        "arm_role": role,
        "dose_tier": tier,
        "events": events,
        "n": n,
        "mean": mean,
        "sd": sd,
        "se": None,
        "timepoint_weeks": None,
        "derived": derived,
        "pct": pct,
        "arm": f"{role}-{tier}",
    }


def tiered(studies: list[dict[str, Any]], arms: list[dict[str, Any]], proto: Protocol):
    """Arm rows joined to their study's fields and assigned comparison, as the pipeline does."""
    st = pd.DataFrame(studies)
    df = pd.DataFrame(arms).merge(
        st[["study_id", "indication", "design", "route", "comparator", "year"]],
        on="study_id",
        how="left",
    )
    for c in ("events", "n"):
        df[c] = df[c].astype("Int64")
    for c in ("mean", "sd", "se", "timepoint_weeks", "pct"):
        df[c] = df[c].astype("Float64")
    df["derived"] = df["derived"].astype("boolean")
    assignments = assign_studies(st, proto)
    return with_comparisons(df, assignments), assignments
