"""The synthesis as plain functions: load → tabulate → pool → rate → report.

Each step takes data and returns data; `write_outputs` is the only I/O, at the edge. The Prefect
flows wrap these same functions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evidence.io import atomic_write_text, frame_to_csv_text
from evidence.protocol import load_protocol
from evidence.rating.rules import RuleSet, load_rules
from evidence.report.summary import render_summary
from evidence.snapshot import Snapshot, load_snapshot
from evidence.synthesis import Analysis, analyses_frame, pool_protocol
from evidence.tables.agreement import agreement_frame
from evidence.tables.dosage import dosage_frame
from evidence.tables.interactions import interactions_frame
from evidence.tables.side_effects import side_effects_frame
from evidence.tables.uses import UseRating, certainty_of, rate_uses, uses_frame
from evidence.tables.votes import vote_counts
from evidence.tabulate import assign_tiers, outcomes_by_tier
from evidence.workspace import Workspace


@dataclass(frozen=True)
class Tabulation:
    tiered: pd.DataFrame
    by_tier: pd.DataFrame


@dataclass(frozen=True)
class Ratings:
    rules: RuleSet
    uses: list[UseRating]
    certainty: dict[tuple, str]


@dataclass
class RunOutputs:
    """Files a run writes, as relative path → text, before anything touches the disk."""

    processed: dict[str, str] = field(default_factory=dict)
    reports: dict[str, str] = field(default_factory=dict)


def load(ws: Workspace, protocol: str) -> Snapshot:
    path = ws.protocol_path(protocol)
    return load_snapshot(ws.data, load_protocol(path), protocol_path=path)


def tabulate(snapshot: Snapshot) -> Tabulation:
    tiered = assign_tiers(snapshot.outcomes, snapshot.studies, snapshot.protocol)
    return Tabulation(tiered=tiered, by_tier=outcomes_by_tier(tiered))


def pool(snapshot: Snapshot, tab: Tabulation) -> list[Analysis]:
    return pool_protocol(tab.tiered, snapshot.protocol)


def rate(snapshot: Snapshot, analyses: list[Analysis], rules_path: Path) -> Ratings:
    rules = load_rules(rules_path)
    if rules.version != snapshot.protocol.rating.rule_set_version:
        raise ValueError(
            f"{rules_path}: rule set version {rules.version} differs from the protocol's "
            f"rule_set_version {snapshot.protocol.rating.rule_set_version}"
        )
    certainty = {k: c.level for k, c in certainty_of(analyses, rules).items()}
    return Ratings(rules, rate_uses(snapshot, analyses, rules), certainty)


def report(
    snapshot: Snapshot, tab: Tabulation, analyses: list[Analysis], ratings: Ratings
) -> RunOutputs:
    pid = snapshot.protocol.protocol_id
    out = RunOutputs()
    out.processed["outcomes_by_tier.csv"] = frame_to_csv_text(tab.by_tier)
    out.processed["pooled.csv"] = frame_to_csv_text(
        analyses_frame(analyses, ratings.certainty, snapshot.refs), float_format="%.6g"
    )
    rules = ratings.rules
    uses = uses_frame(snapshot, ratings.uses)
    dosage = dosage_frame(
        snapshot.studies, snapshot.outcomes, snapshot.dosing_facts, snapshot.protocol, snapshot.refs
    )
    side, found = side_effects_frame(tab.tiered, snapshot.refs, snapshot.protocol, rules)
    inter = interactions_frame(snapshot, rules)
    out.processed["table_uses.csv"] = frame_to_csv_text(uses)
    out.processed["table_dosage.csv"] = frame_to_csv_text(dosage)
    out.processed["table_side_effects.csv"] = frame_to_csv_text(side)
    out.processed["table_interactions.csv"] = frame_to_csv_text(inter)
    out.processed["vote_counts.csv"] = frame_to_csv_text(vote_counts(snapshot, analyses, rules))
    out.processed["agreement.csv"] = frame_to_csv_text(
        agreement_frame(snapshot, ratings.uses, dosage, found, inter)
    )
    out.reports[f"{pid}/summary.md"] = render_summary(snapshot, tab.by_tier, tab.tiered, uses)
    return out


def write_outputs(ws: Workspace, outputs: RunOutputs) -> list[Path]:
    written = []
    for base, files in ((ws.processed, outputs.processed), (ws.reports, outputs.reports)):
        for rel, text in sorted(files.items()):
            path = Path(base) / rel
            atomic_write_text(path, text)
            written.append(path)
    return written


def synthesize(ws: Workspace, protocol: str) -> list[Path]:
    """The whole synthesis without an orchestrator."""
    snapshot = load(ws, protocol)
    tab = tabulate(snapshot)
    analyses = pool(snapshot, tab)
    ratings = rate(snapshot, analyses, ws.data / snapshot.protocol.rating.rule_set)
    return write_outputs(ws, report(snapshot, tab, analyses, ratings))
