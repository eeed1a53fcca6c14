"""Every run's outputs kept under `runs/<run-id>/`, and what changed between two runs.

A run is identified by its date and a digest of what determines its results (input files,
protocol and rule-set versions, the package version). Rerunning on the same inputs reuses the
run and its comparison, so its reports stay byte-identical; the changelog then says so.

An archive appears under `runs/` only once its run has passed its commit point
(`evidence.runs.outputs.publish`), and a run killed after that point is finished by the next run
before that one reads the history: every archived run is a published run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
DEFAULT_TOLERANCE = 0.05  # on the analysis scale: log ratio or mean difference


def run_date() -> str:
    """The run's recorded date: EVIDENCE_RUN_DATE if set (YYYY-MM-DD), else today in UTC."""
    value = os.environ.get("EVIDENCE_RUN_DATE")
    if value:
        datetime.strptime(value, "%Y-%m-%d")
        return value
    return datetime.now(UTC).date().isoformat()


def digest(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class Manifest:
    run_id: str
    run_date: str
    protocol: str
    protocol_version: str
    rule_set_version: str
    inputs_digest: str
    input_hashes: dict[str, str]
    packages: dict[str, str]
    studies: dict[str, str]  # study id → reference
    ratings: dict[str, dict[str, str]]  # indication → {level, reasons}
    certainty: dict[str, str]
    pooled: dict[str, dict[str, Any]]
    last_search: dict[str, str] = field(default_factory=dict)
    sequence: int = 0
    previous_run: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls(**json.loads(text))


def load_history(runs_dir: Path, protocol: str) -> list[Manifest]:
    """The protocol's archived runs, oldest first."""
    out = []
    for path in sorted(Path(runs_dir).glob(f"*/{MANIFEST}")):
        try:
            m = Manifest.from_json(path.read_text(encoding="utf-8"))
        except (ValueError, TypeError):
            continue  # an unreadable archive is skipped, never overwritten
        if m.protocol == protocol:
            out.append(m)
    return sorted(out, key=lambda m: (m.sequence, m.run_id))


def place(current: Manifest, history: list[Manifest]) -> tuple[Manifest, Manifest | None, bool]:
    """Give `current` its sequence and previous run; True when it repeats the latest run."""
    latest = history[-1] if history else None
    if latest is not None and latest.run_id == current.run_id:
        current.sequence, current.previous_run = latest.sequence, latest.previous_run
        prev = next((m for m in history if m.run_id == latest.previous_run), None)
        return current, prev, True
    current.sequence = latest.sequence + 1 if latest else 1
    current.previous_run = latest.run_id if latest else None
    return current, latest, False


@dataclass(frozen=True)
class Changes:
    old_run: str | None
    new_run: str
    new_studies: tuple[str, ...] = ()
    removed_studies: tuple[str, ...] = ()
    moved: tuple[tuple[str, str, str], ...] = ()  # analysis, old, new
    new_analyses: tuple[str, ...] = ()
    ratings: tuple[tuple[str, str, str, str], ...] = ()  # indication, old, new, reasons
    certainty: tuple[tuple[str, str, str], ...] = ()
    tolerance: float = DEFAULT_TOLERANCE

    @property
    def nothing(self) -> bool:
        return not (
            self.new_studies
            or self.removed_studies
            or self.moved
            or self.new_analyses
            or self.ratings
            or self.certainty
        )

    def to_markdown(self) -> str:
        if self.old_run is None:
            return f"Run `{self.new_run}` is the first run of this protocol: nothing to compare.\n"
        head = (
            f"Compared with run `{self.old_run}` (estimates move when they change by more "
            f"than {self.tolerance:g} on the analysis scale, or k changes).\n"
        )
        if self.nothing:
            return head + "\nNothing changed.\n"
        out = [head]
        if self.new_studies:
            out += ["", "New studies:", *[f"- {s}" for s in self.new_studies]]
        if self.removed_studies:
            out += ["", "Studies no longer included:", *[f"- {s}" for s in self.removed_studies]]
        if self.ratings:
            out += ["", "Evidence levels that changed:"]
            out += [f"- {i}: {o} → {n}. Why: {r}" for i, o, n, r in self.ratings]
        if self.moved:
            out += ["", "Pooled estimates that moved:"]
            out += [f"- {a}: {o} → {n}" for a, o, n in self.moved]
        if self.new_analyses:
            out += ["", "New pooled analyses:", *[f"- {a}" for a in self.new_analyses]]
        if self.certainty:
            out += ["", "Certainty that changed:"]
            out += [f"- {a}: {o} → {n}" for a, o, n in self.certainty]
        return "\n".join(out) + "\n"


def _fmt(p: dict[str, Any]) -> str:
    return f"{p['estimate']:.4g} ({p['ci_low']:.4g} to {p['ci_high']:.4g}), k={p['k']}"


def compare(old: Manifest | None, new: Manifest, tolerance: float = DEFAULT_TOLERANCE) -> Changes:
    if old is None:
        return Changes(None, new.run_id, tolerance=tolerance)
    moved = []
    for key, p in sorted(new.pooled.items()):
        q = old.pooled.get(key)
        if q is None:
            continue
        if q["k"] != p["k"] or any(
            abs(p[c] - q[c]) > tolerance for c in ("estimate", "ci_low", "ci_high")
        ):
            moved.append((key, _fmt(q), _fmt(p)))
    ratings = [
        (ind, old.ratings[ind]["level"], r["level"], r["reasons"])
        for ind, r in sorted(new.ratings.items())
        if ind in old.ratings and old.ratings[ind]["level"] != r["level"]
    ]
    certainty = [
        (k, old.certainty[k], v)
        for k, v in sorted(new.certainty.items())
        if k in old.certainty and old.certainty[k] != v
    ]
    return Changes(
        old.run_id,
        new.run_id,
        new_studies=tuple(
            f"{s} ({new.studies[s]})" for s in sorted(set(new.studies) - set(old.studies))
        ),
        removed_studies=tuple(sorted(set(old.studies) - set(new.studies))),
        moved=tuple(moved),
        new_analyses=tuple(sorted(set(new.pooled) - set(old.pooled))),
        ratings=tuple(ratings),
        certainty=tuple(certainty),
        tolerance=tolerance,
    )


def changelog(
    current: Manifest,
    latest_before: Manifest | None,
    repeated: bool,
    changes: Changes,
    history: list[Manifest],
) -> str:
    """changelog.md: this run against the run before it, then every archived run."""
    lines = [f"# Changelog: {current.protocol}", ""]
    if repeated:
        lines += [
            f"Run `{current.run_id}` ({current.run_date}) repeated on identical inputs: "
            "nothing changed since the last run. What that run changed:",
            "",
        ]
    lines += [f"## Run `{current.run_id}` ({current.run_date})", "", changes.to_markdown()]
    lines += ["## All runs", ""]
    runs = {m.run_id: m for m in history} | {current.run_id: current}
    for m in sorted(runs.values(), key=lambda m: (m.sequence, m.run_id), reverse=True):
        prev = f", after `{m.previous_run}`" if m.previous_run else ""
        lines.append(f"- `{m.run_id}` ({m.run_date}{prev})")
    return "\n".join(lines) + "\n"
