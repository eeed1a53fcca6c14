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
from evidence.report.summary import render_summary
from evidence.snapshot import Snapshot, load_snapshot
from evidence.tabulate import assign_tiers, outcomes_by_tier
from evidence.workspace import Workspace


@dataclass(frozen=True)
class Tabulation:
    tiered: pd.DataFrame
    by_tier: pd.DataFrame


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


def report(snapshot: Snapshot, tab: Tabulation) -> RunOutputs:
    pid = snapshot.protocol.protocol_id
    out = RunOutputs()
    out.processed["outcomes_by_tier.csv"] = frame_to_csv_text(tab.by_tier)
    out.reports[f"{pid}/summary.md"] = render_summary(snapshot, tab.by_tier, tab.tiered)
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
    return write_outputs(ws, report(snapshot, tab))
