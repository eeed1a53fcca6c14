"""The protocol's run history: which runs had new inputs, what each changed, and why.

History lives in two places:

- `PROCESSED/<protocol>/history.json` (tracked with the tables): one entry per run whose inputs
  differed from the run before it, oldest first, each with what it changed, as recorded then.
  A run on the latest entry's inputs appends nothing, so a rerun, a quiet night, or a fresh
  clone's first run on the committed data leaves it byte-identical. Nothing in it depends on
  the wall clock: a run is named by its place in the history and its inputs' digest, and dated
  by its data (`data_date`), not by the day it ran.
- `PROCESSED/runs/<run-id>/` (local, not tracked): the run's tables and its manifest with the
  day it last ran (`run_date`), for `evidence diff`.

A run is identified by a digest of what determines its results (input files, protocol and
rule-set versions, the package version, the PubMed queue and which searches ran or failed,
not their days). The report's "what changed"
compares a run with the history entry before its own, which by construction had other inputs:
it stays right after any number of quiet nights, and a return to earlier inputs (A → B → A) is a
new entry compared with B.

An archive appears under `runs/` only once its run has passed its commit point
(`evidence.runs.outputs.publish`), and a run killed after that point is finished by the next run
before that one reads the history: every archived run is a published run.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
HISTORY = "history.json"  # in PROCESSED/<protocol>/, tracked
DEFAULT_TOLERANCE = 0.05  # on the analysis scale: log ratio or mean difference
RATIO = frozenset({"RR", "OR", "HR", "IRR", "ROM"})  # pooled on the log scale
LOGIT = frozenset({"PLO"})  # a proportion pooled on the logit scale
PROPORTION = frozenset({"PR"})  # a proportion pooled as is
LOCAL_ONLY = ("run_date", "packages", "input_hashes")  # kept in the archive, not the history


def run_date() -> str:
    """The day a run ran: EVIDENCE_RUN_DATE if set (YYYY-MM-DD), else today in UTC.

    It is recorded only in the local archive; tracked outputs show the data's date instead.
    """
    value = os.environ.get("EVIDENCE_RUN_DATE")
    if value:
        datetime.strptime(value, "%Y-%m-%d")
        return value
    return datetime.now(UTC).date().isoformat()


def data_date(dates: list[str | None]) -> str | None:
    """The newest ISO date (YYYY-MM-DD) the data records, or None when it records none."""
    valid = []
    for d in dates:
        try:
            valid.append(datetime.strptime(str(d)[:10], "%Y-%m-%d").date().isoformat())
        except ValueError:
            continue
    return max(valid, default=None)


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
    ratings: dict[str, dict[str, str]]  # indication → {level, reasons[, label]}
    certainty: dict[str, str]
    pooled: dict[str, dict[str, Any]]  # key → measure, k, estimate, ci_low, ci_high[, label]
    last_search: dict[str, str] = field(default_factory=dict)
    sequence: int = 0
    previous_run: str | None = None
    data_date: str | None = None  # the newest date the data records
    certainty_domains: dict[str, dict[str, str]] = field(default_factory=dict)  # key → domain
    same_inputs_as: str | None = None  # an earlier entry whose inputs this run's equal
    changes: str = ""  # what this run changed, in Markdown, as recorded when it first ran
    # Study id → "PMID:n: retracted on <date> (notice ...)..." for studies whose PubMed record
    # is retracted; kept in the history only when there is one (older entries have none).
    retracted: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True, indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Manifest:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in names})

    def entry(self) -> dict[str, Any]:
        """The manifest as the tracked history keeps it: nothing local to one machine or day."""
        return {
            k: v
            for k, v in asdict(self).items()
            if k not in LOCAL_ONLY and not (k == "retracted" and not v)
        }


def load_history(path: Path, protocol: str) -> list[Manifest]:
    """The protocol's history entries, oldest first; none when the file does not exist yet.

    A history that cannot be read stops the run with the file named, rather than being
    replaced by a new one that would lose it.
    """
    path = Path(path)
    if not path.is_file():
        return []
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if raw.get("protocol") != protocol:
            raise ValueError(f"it is the history of {raw.get('protocol')!r}, not {protocol!r}")
        entries = [
            Manifest.from_dict(e | {"run_date": "", "packages": {}, "input_hashes": {}})
            for e in raw["runs"]
        ]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"{path}: not a readable run history ({exc}); fix or move it") from None
    return sorted(entries, key=lambda m: m.sequence)


def history_json(protocol: str, entries: list[Manifest]) -> str:
    runs = [m.entry() for m in sorted(entries, key=lambda m: m.sequence)]
    return (
        json.dumps(
            {"protocol": protocol, "runs": runs}, sort_keys=True, indent=1, ensure_ascii=False
        )
        + "\n"
    )


def load_archive(runs_dir: Path, protocol: str) -> list[Manifest]:
    """The protocol's archived manifests under `runs/` (local), oldest first."""
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
    """Name `current` and find the run it is compared with; True when it repeats the latest.

    A run on the latest entry's inputs is that entry again (same id, same comparison); any
    other run is a new entry after the latest, compared with it.
    """
    latest = history[-1] if history else None
    if latest is not None and latest.inputs_digest == current.inputs_digest:
        current.run_id, current.sequence = latest.run_id, latest.sequence
        current.previous_run, current.same_inputs_as = latest.previous_run, latest.same_inputs_as
        current.changes = latest.changes
        prev = next((m for m in history if m.run_id == latest.previous_run), None)
        return current, prev, True
    current.sequence = latest.sequence + 1 if latest else 1
    current.run_id = f"{current.sequence:04d}-{current.inputs_digest[:10]}"
    current.previous_run = latest.run_id if latest else None
    current.same_inputs_as = next(
        (m.run_id for m in reversed(history) if m.inputs_digest == current.inputs_digest), None
    )
    return current, latest, False


def natural(p: dict[str, Any]) -> str:
    """A pooled result on its natural scale: ratios exponentiated, proportions in percent."""
    m = p.get("measure", "")

    def scale(x: float) -> str:
        if m in RATIO:
            return f"{math.exp(x):.2f}"
        if m in LOGIT:
            return f"{100 / (1 + math.exp(-x)):.1f}%"
        if m in PROPORTION:
            return f"{100 * x:.1f}%"
        return f"{x:.2f}"

    name = "proportion" if m in LOGIT | PROPORTION else m
    body = f"{scale(p['estimate'])} ({scale(p['ci_low'])} to {scale(p['ci_high'])})"
    return f"{name} {body}, k={p['k']}".strip()


@dataclass(frozen=True)
class Changes:
    old_run: str | None
    new_run: str
    new_studies: tuple[str, ...] = ()
    removed_studies: tuple[str, ...] = ()
    moved: tuple[tuple[str, str, str], ...] = ()  # analysis, old, new
    new_analyses: tuple[str, ...] = ()
    ratings: tuple[tuple[str, str, str, str], ...] = ()  # indication, old, new, why
    certainty: tuple[tuple[str, str, str, str], ...] = ()  # analysis, old, new, why
    tolerance: float = DEFAULT_TOLERANCE
    removed_analyses: tuple[str, ...] = ()
    retracted: tuple[str, ...] = ()  # "<study>: PMID:n: retracted on <date> ..." newly seen

    @property
    def nothing(self) -> bool:
        return not (
            self.new_studies
            or self.removed_studies
            or self.retracted
            or self.moved
            or self.new_analyses
            or self.removed_analyses
            or self.ratings
            or self.certainty
        )

    def to_markdown(self) -> str:
        if self.old_run is None:
            return f"Run `{self.new_run}` is the first run of this protocol: nothing to compare.\n"
        head = (
            f"Compared with run `{self.old_run}`, the last run whose inputs differ (estimates "
            f"move when they change by more than {self.tolerance:g} on the analysis scale, or "
            "k changes; they are shown on their natural scale).\n"
        )
        if self.nothing:
            return head + "\nNothing changed.\n"
        out = [head]
        if self.new_studies:
            out += ["", "New studies:", *[f"- {s}" for s in self.new_studies]]
        if self.retracted:
            out += ["", "Studies retracted:", *[f"- {s}" for s in self.retracted]]
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
        if self.removed_analyses:
            out += ["", "Pooled analyses no longer estimable:"]
            out += [f"- {a}" for a in self.removed_analyses]
        if self.certainty:
            out += ["", "Certainty that changed:"]
            out += [f"- {a}: {o} → {n}. Why: {r}" for a, o, n, r in self.certainty]
        return "\n".join(out) + "\n"


def _label(m: Manifest, key: str) -> str:
    p = m.pooled.get(key, {})
    return str(p.get("label") or key)


def _rating_why(old: dict[str, str], new: dict[str, str]) -> str:
    if old.get("reasons") and old.get("reasons") != new.get("reasons"):
        return f"{new.get('reasons', '')} (before: {old['reasons']})"
    return str(new.get("reasons", ""))


def _certainty_why(old: dict[str, str], new: dict[str, str]) -> str:
    """The GRADE domains whose judgement moved, each with its new reason."""
    moved = []
    for domain, text in sorted(new.items()):
        before = old.get(domain)
        judged, _, reason = text.partition(": ")
        if before is None or before.partition(": ")[0] != judged:
            was = before.partition(": ")[0] if before else "not recorded"
            moved.append(
                f"{domain} {was} → {judged} ({reason})" if reason else f"{domain} {was} → {judged}"
            )
    return "; ".join(moved) or "no domain's judgement moved (the starting level or count did)"


def compare(old: Manifest | None, new: Manifest, tolerance: float = DEFAULT_TOLERANCE) -> Changes:
    if old is None:
        return Changes(None, new.run_id, tolerance=tolerance)
    moved = []
    for key, p in sorted(new.pooled.items(), key=lambda kv: _label(new, kv[0])):
        q = old.pooled.get(key)
        if q is None:
            continue
        if q["k"] != p["k"] or any(
            abs(p[c] - q[c]) > tolerance for c in ("estimate", "ci_low", "ci_high")
        ):
            moved.append((_label(new, key), natural(q), natural(p)))
    ratings = [
        (
            r.get("label") or ind,
            old.ratings[ind]["level"],
            r["level"],
            _rating_why(old.ratings[ind], r),
        )
        for ind, r in sorted(new.ratings.items())
        if ind in old.ratings and old.ratings[ind]["level"] != r["level"]
    ]
    certainty = [
        (
            _label(new, k),
            old.certainty[k],
            v,
            _certainty_why(old.certainty_domains.get(k, {}), new.certainty_domains.get(k, {})),
        )
        for k, v in sorted(new.certainty.items(), key=lambda kv: _label(new, kv[0]))
        if k in old.certainty and old.certainty[k] != v
    ]
    return Changes(
        old.run_id,
        new.run_id,
        new_studies=tuple(
            f"{s} ({new.studies[s]})" for s in sorted(set(new.studies) - set(old.studies))
        ),
        removed_studies=tuple(
            f"{s} ({old.studies[s]})"
            for s in sorted(set(old.studies) - set(new.studies) - set(new.retracted))
        ),
        retracted=tuple(
            f"{s}: {note}" for s, note in sorted(new.retracted.items()) if s not in old.retracted
        ),
        moved=tuple(moved),
        new_analyses=tuple(
            sorted(
                f"{_label(new, k)}: {natural(new.pooled[k])}"
                for k in set(new.pooled) - set(old.pooled)
            )
        ),
        removed_analyses=tuple(sorted(_label(old, k) for k in set(old.pooled) - set(new.pooled))),
        ratings=tuple(ratings),
        certainty=tuple(certainty),
        tolerance=tolerance,
    )


@dataclass(frozen=True)
class Step:
    """A run placed in its protocol's history."""

    run: Manifest  # named, with its sequence and the run before it
    changes: Changes  # against the last run whose inputs differ
    entries: list[Manifest]  # the history after this run, oldest first
    repeated: bool  # True when it ran on the latest entry's inputs (nothing appended)


def advance(
    current: Manifest,
    history: list[Manifest],
    tolerance: float = DEFAULT_TOLERANCE,
    escape: Callable[[Changes], Changes] = lambda c: c,
) -> Step:
    """Place a run and, when its inputs are new, append it with its changes (`escape`d for
    Markdown) as they read now; the recorded text is never rewritten afterwards."""
    run, previous, repeated = place(current, history)
    changes = compare(previous, run, tolerance)
    entries = list(history)
    if not repeated:
        run.changes = escape(changes).to_markdown()
        entries.append(run)
    return Step(run, changes, entries, repeated)


def _title(m: Manifest) -> str:
    dated = f", data of {m.data_date}" if m.data_date else ""
    return (
        f"## Run {m.sequence}: `{m.run_id}` (protocol {m.protocol_version}, rule set "
        f"{m.rule_set_version}{dated})"
    )


def changelog(protocol: str, entries: list[Manifest]) -> str:
    """changelog.md: every history entry with what it changed when it ran, newest first."""
    lines = [
        f"# Changelog: {protocol}",
        "",
        "One entry per run whose inputs differed from the run before it, newest first; a run on "
        "the same inputs as the latest entry adds nothing.",
        "",
    ]
    for m in sorted(entries, key=lambda m: m.sequence, reverse=True):
        lines += [_title(m), ""]
        if m.same_inputs_as:
            lines += [f"Its inputs are those of run `{m.same_inputs_as}` again.", ""]
        lines += [m.changes.rstrip("\n"), ""]
    return "\n".join(lines)
