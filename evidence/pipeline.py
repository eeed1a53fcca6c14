"""The synthesis as plain functions: load → tabulate → pool → rate → report.

Each step takes data and returns data; reading happens in `load`/`load_context` and writing in
`write_outputs`, at the edges. The Prefect flows wrap these same functions.

Under the protocol's run lock, a run first calls `recover_outputs` (finishing a run killed while
publishing, so that it counts as published), then reads the history in `load_context`, and at the
end `write_outputs` publishes three folders, each in one step and in this order: the archive
`PROCESSED/runs/<run-id>/`, the tables `PROCESSED/<protocol>/` (with the run history,
`history.json`), the report `REPORTS/<protocol>/` (with `changelog.md`). A reader of any one of
them sees all of the previous run or all of this one. Nothing written to the tables or the report
depends on the day the run ran (see `evidence.runs.history`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from evidence.inputs import rawdata
from evidence.inputs.protocol import Protocol, load_protocol
from evidence.inputs.risk_of_bias import high_risk
from evidence.inputs.snapshot import Snapshot, load_snapshot
from evidence.io import frame_to_csv_text
from evidence.pubmed.records import PubmedRecord
from evidence.rating.grade import Certainty
from evidence.rating.rules import RuleSet, load_rules
from evidence.report.build import FUNNEL_MIN_K, certainty_keyed, figures, flow, references
from evidence.report.figcache import FOLDER as FIGURES_FOLDER
from evidence.report.figcache import FigureCache
from evidence.report.prisma import PRISMA_FIGURE, prisma_svg
from evidence.report.provenance import package_versions
from evidence.report.render import ReportData, escaped_changes, render_report
from evidence.report.sensitivity import sensitivity_rows, unattached
from evidence.report.sof import findings, pooled_columns
from evidence.report.summary import render_summary
from evidence.runs import history as hist
from evidence.runs.outputs import Folder, Slot, publish, recover_folders
from evidence.runs.workspace import Workspace
from evidence.safepath import UnsafePath, check_id, inside, relative_name
from evidence.synthesis.comparisons import (
    assign_studies,
    assignment_map,
    effects_with_comparisons,
    pooling_candidates,
    unassigned_frame,
    with_comparisons,
)
from evidence.synthesis.dose_response import dose_response, dose_response_shown
from evidence.synthesis.pool import (
    Analysis,
    analyses_frame,
    methods_notes,
    not_estimable,
    pool_protocol,
)
from evidence.synthesis.retracted import (
    RETRACTED_FILE,
    apply_retractions,
    changelog_notes,
    retracted_frame,
)
from evidence.synthesis.tabulate import (
    arm_doses_shown,
    arm_doses_table,
    assign_tiers,
    dose_counts,
    outcomes_by_tier,
)
from evidence.tables.agreement import agreement_frame
from evidence.tables.claims_audit import claims_audit
from evidence.tables.dosage import DosageRules, dosage_frame, typed_facts
from evidence.tables.interactions import InteractionRules, interactions_frame
from evidence.tables.side_effects import side_effects_frame
from evidence.tables.uses import UseRating, certainty_of, rate_uses, uses_frame
from evidence.tables.votes import vote_counts

RUNS_DIR = "runs"
log = logging.getLogger("evidence")


@dataclass(frozen=True)
class Tabulation:
    tiered: pd.DataFrame  # with each row's `comparison` ("" when its study fits none)
    by_tier: pd.DataFrame
    assignments: pd.DataFrame = field(default_factory=pd.DataFrame)  # studies with numbers
    # Every study of an indication → (comparison id, label), or None when it fits none: the one
    # placement that pools, ratings and vote counts all follow.
    assignment: dict[str, tuple[str, str] | None] = field(default_factory=dict)
    effects: pd.DataFrame | None = None  # reported effects with their study's comparison


@dataclass(frozen=True)
class Ratings:
    rules: RuleSet
    uses: list[UseRating]
    certainty: dict[tuple, Certainty]

    @property
    def certainty_levels(self) -> dict[tuple, str]:
        return {k: c.level for k, c in self.certainty.items()}


@dataclass(frozen=True)
class RunContext:
    """What a run knows beyond its inputs: its date, earlier runs, the literature search."""

    run_date: str  # the day it ran: recorded in the local archive only
    history: list[hist.Manifest]
    cached_pmids: set[str]
    queue: list[tuple[str, str, str]]  # (pmid, indication, date found) for this protocol
    last_search: dict[str, str]  # indication → date of the last successful live search
    stale: dict[str, str] = field(default_factory=dict)  # indication → failed search, why
    records: dict[str, PubmedRecord] = field(default_factory=dict)  # the PubMed cache by PMID
    # Cached PubMed records as the PRISMA flow counts them: (pmid, doi, source, retrieved).
    cache_records: list[tuple[str, str, str, str]] = field(default_factory=list)
    data_date: str | None = None  # the newest date the data records (search, queue, PubMed cache)


@dataclass
class RunOutputs:
    """Files a run writes, as path relative to their folder → text, before anything touches
    the disk."""

    processed: dict[str, str] = field(default_factory=dict)  # PROCESSED/<protocol>/
    reports: dict[str, str] = field(default_factory=dict)  # REPORTS/<protocol>/
    archive: dict[str, str] = field(default_factory=dict)  # PROCESSED/runs/<run_id>/
    run_id: str = ""
    protocol: str = ""
    changes_md: str = ""  # what changed since the previous run, in Markdown
    ratings: list[dict[str, str]] = field(default_factory=list)  # indication, level, reasons


def load(ws: Workspace, protocol: str | None) -> Snapshot:
    """The protocol's inputs, less the studies whose cached PubMed record is retracted (when
    the protocol's `exclude_retracted` holds; `evidence.synthesis.retracted`)."""
    path = ws.protocol_path(protocol)
    rawdata.recover(ws.data)  # finish or undo an interrupted change of the data first
    with rawdata.reading(ws.data):  # and let no change start while the inputs are read
        snapshot = load_snapshot(ws.data, load_protocol(path), protocol_path=path)
    return apply_retractions(snapshot, _study_records(ws, snapshot))


def _study_records(ws: Workspace, snapshot: Snapshot) -> dict[str, PubmedRecord]:
    """The cached PubMed records of the snapshot's studies' PMIDs (one query of the store)."""
    from evidence.pubmed.cache import read_records

    pmids = [r.removeprefix("PMID:") for r in snapshot.refs.values() if r.startswith("PMID:")]
    return read_records(ws.pubmed_cache, pmids)


def protocol_pmids(snapshot: Snapshot, queue: list[tuple[str, str, str]]) -> set[str]:
    """The PMIDs a protocol's run reads from the store: those its studies and PubMed record pages
    name (retracted studies included) and its queue. The store may hold far more (other
    protocols' records, a baseline mirror); a run never reads those, so its time does not grow
    with the store."""
    out = {pmid for pmid, _, _ in queue}
    for frame in (snapshot.studies, snapshot.pubmed_records):
        if frame is not None and "pmid" in frame:
            out |= {p for p in frame["pmid"] if isinstance(p, str) and p}
    out |= {r.removeprefix("PMID:") for r in snapshot.refs.values() if r.startswith("PMID:")}
    out |= {r.pmid for r in snapshot.retracted.values()}
    return out


def load_context(ws: Workspace, snapshot: Snapshot) -> RunContext:
    from evidence.pubmed.cache import read_records
    from evidence.pubmed.search import QUEUE_FILE, STATE_FILE, load_queue, load_state

    pid = snapshot.protocol.protocol_id
    state = load_state(ws.pubmed_cache / STATE_FILE).get(pid, {})
    queue = [
        (r.pmid, r.indication, r.found)
        for r in load_queue(ws.pubmed_cache / QUEUE_FILE)
        if r.protocol == pid
    ]
    last_search = {
        k: str(v.get("last_search"))
        for k, v in sorted(state.items())
        if isinstance(v, dict) and v.get("last_search")
    }
    records = read_records(ws.pubmed_cache, protocol_pmids(snapshot, queue))
    cache = [(r.pmid, r.doi, r.source, r.retrieved) for r in records.values()]
    retrieved = [r.retrieved for r in records.values()]
    return RunContext(
        run_date=hist.run_date(),
        history=hist.load_history(ws.tables(pid) / hist.HISTORY, pid),
        cached_pmids=set(records),
        records=records,
        cache_records=cache,
        queue=queue,
        last_search=last_search,
        data_date=hist.data_date([*last_search.values(), *(f for _, _, f in queue), *retrieved]),
        stale={
            k: f"the search of {v['last_failure'].get('date')} failed: "
            f"{v['last_failure'].get('error', '')}"
            for k, v in sorted(state.items())
            if isinstance(v, dict) and isinstance(v.get("last_failure"), dict)
        },
    )


def tabulate(snapshot: Snapshot) -> Tabulation:
    p = snapshot.protocol
    candidates = pooling_candidates(snapshot.studies, snapshot.outcomes, snapshot.study_effects, p)
    everyone = assign_studies(snapshot.studies, p)
    assignments = everyone[everyone["study_id"].isin(candidates)].reset_index(drop=True)
    tiered = with_comparisons(assign_tiers(snapshot.outcomes, snapshot.studies, p), assignments)
    effects = effects_with_comparisons(snapshot.study_effects, snapshot.studies, assignments)
    return Tabulation(
        tiered=tiered,
        by_tier=outcomes_by_tier(tiered),
        assignments=assignments,
        assignment=assignment_map(everyone),
        effects=effects,
    )


def pool(snapshot: Snapshot, tab: Tabulation) -> list[Analysis]:
    return pool_protocol(
        tab.tiered, snapshot.protocol, tab.effects, high_risk(snapshot.risk_of_bias)
    )


def rules_file(rules_path: Path | str, rule_set: str) -> Path:
    """`rules_path` (`DATA/<rating.rule_set>`), proven to stay inside that DATA folder.

    The caller passes the joined path; its tail must be the protocol's `rule_set` and the
    folder before it is the base the file may not leave (symlinks included).
    """
    rel = relative_name(rule_set, "rating.rule_set").parts
    path = Path(rules_path)
    if path.parts[-len(rel) :] != rel:
        raise UnsafePath(f"{rules_path}: not the protocol's rating.rule_set {rule_set!r}")
    return inside(Path(*path.parts[: -len(rel)]), *rel)


def rate(
    snapshot: Snapshot, tab: Tabulation, analyses: list[Analysis], rules_path: Path
) -> Ratings:
    """Rate with the protocol's rule set, read from `rules_path` = DATA/<rating.rule_set>;
    trials rated by their reported direction sit in the comparison the pools place them in."""
    rules = load_rules(rules_file(rules_path, snapshot.protocol.rating.rule_set))
    if rules.version != snapshot.protocol.rating.rule_set_version:
        raise ValueError(
            f"{rules_path}: rule set version {rules.version} differs from the protocol's "
            f"rule_set_version {snapshot.protocol.rating.rule_set_version}"
        )
    return Ratings(
        rules,
        rate_uses(snapshot, analyses, rules, tab.assignment),
        certainty_of(analyses, rules, snapshot),
    )


def _manifest(
    snapshot: Snapshot, analyses: list[Analysis], ratings: Ratings, ctx: RunContext
) -> hist.Manifest:
    p = snapshot.protocol
    packages = package_versions()
    determinants = {
        "inputs": snapshot.input_hashes,
        "protocol": p.version,
        "rules": ratings.rules.version,
        "evidence": packages["evidence"],
        "queue": sorted(ctx.queue),
        # which searches ran and which failed, not on what day: a night whose search finds
        # nothing new is a quiet night, not a new run
        "searched": sorted(ctx.last_search),
        "stale": sorted(ctx.stale),
    }
    retracted = changelog_notes(snapshot)
    # which studies are retracted, not the wording of their notes (a later fetch may re-date
    # one); and only when some are, so the digest of a run without retractions stays as it was
    if retracted:
        determinants["retracted"] = sorted(retracted)
    digest = hist.digest(determinants)
    pooled = {
        "|".join(a.key): {
            "label": analysis_label(p, a),
            "measure": a.result.measure,
            "k": a.result.k,
            "estimate": round(a.result.estimate, 8),
            "ci_low": round(a.result.ci_low, 8),
            "ci_high": round(a.result.ci_high, 8),
        }
        for a in analyses
    }
    studies = {s: snapshot.refs[s] for s in sorted(snapshot.refs)}
    labels = {i.id: i.label for i in p.indications}
    return hist.Manifest(
        run_id="",  # named by `hist.place`, from its place in the history
        run_date=ctx.run_date,
        protocol=p.protocol_id,
        protocol_version=p.version,
        rule_set_version=ratings.rules.version,
        inputs_digest=digest,
        input_hashes=dict(snapshot.input_hashes),
        packages=packages,
        studies=studies,
        ratings={
            u.indication: {
                "label": labels.get(u.indication, u.indication),
                "level": u.rating.level,
                "reasons": u.rating.reasons,
            }
            for u in ratings.uses
        },
        certainty=certainty_keyed(ratings.certainty),
        pooled=pooled,
        last_search=dict(ctx.last_search),
        data_date=ctx.data_date,
        certainty_domains={
            "|".join(k): {d.domain: f"{d.judgement}: {d.reason}" for d in c.domains}
            for k, c in sorted(ratings.certainty.items())
        },
        retracted=retracted,
    )


def analysis_label(p: Protocol, a: Analysis) -> str:
    """An analysis in the protocol's words: indication, comparison, outcome, then tier and
    sensitivity analysis when they are not the overall primary pool."""
    indication = next((i.label for i in p.indications if i.id == a.indication), a.indication)
    extra = [f"dose tier {a.tier}"] if a.tier != "all" else []
    extra += [a.analysis.replace("_", " ")] if a.analysis != "primary" else []
    comparison = a.comparison_label or a.comparison
    text = f"{indication}, {comparison}: {a.outcome.label}"
    return f"{text} ({'; '.join(extra)})" if extra else text


def report(
    snapshot: Snapshot,
    tab: Tabulation,
    analyses: list[Analysis],
    ratings: Ratings,
    ctx: RunContext,
    figure_cache: Path | None = None,
) -> RunOutputs:
    """Every table and the report, in memory. `figure_cache` is the folder of already drawn
    figures (`figure_cache_folder(ws)`); without one every figure is drawn."""
    p = snapshot.protocol
    pid = p.protocol_id
    rules = ratings.rules
    out = RunOutputs()
    uses = uses_frame(snapshot, ratings.uses)
    dosage_rules = DosageRules.from_section(rules.dosage)
    facts = typed_facts(snapshot.dosing_facts, dosage_rules)
    dosage = dosage_frame(
        snapshot.studies, snapshot.outcomes, facts, p, snapshot.refs, dosage_rules
    )
    side, found = side_effects_frame(tab.tiered, snapshot.refs, p, rules)
    inter = interactions_frame(snapshot, InteractionRules.from_section(rules.interactions))
    votes = vote_counts(snapshot, analyses, rules, tab.assignment)
    unassigned = unassigned_frame(tab.assignments)
    agreement = agreement_frame(snapshot, ratings.uses, dosage, found, inter, facts, dosage_rules)
    audit = claims_audit(snapshot, analyses, rules, ratings.uses, found, facts, inter)
    arm_doses = arm_doses_table(tab.tiered)
    doses = dose_response(tab.tiered, p)
    pooled = analyses_frame(
        analyses,
        ratings.certainty_levels,
        snapshot.refs,
        pooled_columns(analyses, ratings.certainty, rules),
        not_estimable(analyses, high_risk(snapshot.risk_of_bias)),
    )
    sensitivity = sensitivity_rows(pooled)
    sof_rows = findings(analyses, ratings.certainty, rules, sensitivity)
    out.processed = {
        "outcomes_by_tier.csv": frame_to_csv_text(tab.by_tier),
        "arm_doses.csv": frame_to_csv_text(arm_doses),
        "dose_response.csv": frame_to_csv_text(doses),
        "pooled.csv": frame_to_csv_text(pooled),
        "unassigned.csv": frame_to_csv_text(unassigned),
        "table_uses.csv": frame_to_csv_text(uses),
        "table_dosage.csv": frame_to_csv_text(dosage),
        "table_side_effects.csv": frame_to_csv_text(side),
        "table_interactions.csv": frame_to_csv_text(inter),
        "vote_counts.csv": frame_to_csv_text(votes),
        "agreement.csv": frame_to_csv_text(agreement),
        **({"claims_audit.csv": frame_to_csv_text(audit)} if audit is not None else {}),
    }
    if snapshot.retracted:  # only then: a run without retractions writes the tables it did
        retracted_refs = {s: f"PMID:{r.pmid}" for s, r in snapshot.retracted.items()}
        out.processed[RETRACTED_FILE] = frame_to_csv_text(
            retracted_frame(snapshot, {**retracted_refs, **snapshot.refs})
        )
    manifest = _manifest(snapshot, analyses, ratings, ctx)
    step = hist.advance(manifest, ctx.history, p.change_tolerance, escaped_changes)
    manifest, changes, entries = step.run, step.changes, step.entries
    out.processed[hist.HISTORY] = hist.history_json(pid, entries)
    pub_bias = rules.grade.get("publication_bias") or {}
    min_k = int(pub_bias.get("min_k", FUNNEL_MIN_K))
    figs = figures(snapshot, analyses, min_k, FigureCache(figure_cache))
    prisma = flow(
        snapshot,
        analyses,
        votes,
        ctx.cache_records,
        ctx.queue,
        max(ctx.last_search.values(), default=None),
    )
    data = ReportData(
        title=p.title,
        protocol=pid,
        protocol_version=p.version,
        rule_set_version=rules.version,
        run=manifest,
        changes=changes,
        uses=uses,
        findings=sof_rows,
        other_sensitivity=unattached(sensitivity, {s.key for f in sof_rows for s in f.sensitivity}),
        figures=figs,
        dosage=dosage,
        side_effects=side,
        interactions=inter,
        votes=votes,
        agreement=agreement,
        claims_audit=audit,
        prisma=prisma,
        references=references(snapshot, ctx.records),
        indications=[(i.id, i.label) for i in p.indications],
        last_search=ctx.last_search,
        stale=ctx.stale,
        unassigned=unassigned,
        methods=methods_notes(
            p,
            None
            if snapshot.risk_of_bias is None
            else {s: r.overall for s, r in snapshot.risk_of_bias.items()},
        ),
        dose_response=dose_response_shown(doses),
        dose_counts=dose_counts(arm_doses),
        arm_doses=arm_doses_shown(arm_doses),
    )
    html, markdown = render_report(data)
    out.reports = {
        "index.html": html,
        "report.md": markdown,
        "summary.md": render_summary(snapshot, tab.by_tier, tab.tiered, uses),
        "changelog.md": hist.changelog(pid, entries),
        **{f"figures/{f.key}.svg": f.svg for f in figs},
        f"figures/{PRISMA_FIGURE}.svg": prisma_svg(prisma),
    }
    tables = {k: v for k, v in out.processed.items() if k != hist.HISTORY}
    out.archive = {**tables, hist.MANIFEST: manifest.to_json()}
    out.run_id = manifest.run_id
    out.protocol = pid
    out.changes_md = escaped_changes(changes).to_markdown()
    out.ratings = [
        {"indication": u.indication, "evidence_level": u.rating.level, "reasons": u.rating.reasons}
        for u in ratings.uses
    ]
    return out


def figure_cache_folder(ws: Workspace) -> Path | None:
    """Where runs keep the figures they drew, shared by every protocol (local, untracked);
    none when PROCESSED is inside the data folder, which a run never writes to."""
    return None if _inside_data(ws) else Path(ws.processed) / FIGURES_FOLDER


def _inside_data(ws: Workspace) -> Path | None:
    """The output folder that lies inside the data folder, if any: inputs are never outputs."""
    data = Path(ws.data).resolve()
    for out in (Path(ws.processed), Path(ws.reports)):
        if out.resolve() == data or data in out.resolve().parents:
            return out
    return None


def protocol_id(ws: Workspace, protocol: str | None) -> str:
    """The id of the protocol a run is about, before anything else is read: it names the
    run lock and the folders the run may write."""
    path = ws.protocol_path(protocol)
    return check_id(load_protocol(path).protocol_id, f"{path}: protocol_id")


def output_slots(ws: Workspace, protocol_id: str) -> list[Slot]:
    """Where a protocol's outputs go, in publishing order: archive, tables, report."""
    pid = check_id(protocol_id, "protocol_id")
    return [
        Slot("archive", ws.processed, parent=RUNS_DIR),
        Slot("tables", ws.processed, leaf=pid),
        Slot("report", ws.reports, leaf=pid),
    ]


def recover_outputs(ws: Workspace, protocol_id: str) -> list[str]:
    """Finish or discard an interrupted publication of the protocol's outputs.

    Call under the protocol's run lock and before `load_context`, so the history read next is
    the published one. Returns what was done, in words.
    """
    return recover_folders(protocol_id, output_slots(ws, protocol_id))


def write_outputs(ws: Workspace, outputs: RunOutputs) -> list[Path]:
    """Publish the run's archive, tables and report, each folder in one step."""
    pid = check_id(outputs.protocol, "protocol_id")
    if (out := _inside_data(ws)) is not None:
        raise UnsafePath(f"{out}: outputs must not be written inside the data folder {ws.data}")
    archive, tables, report_slot = output_slots(ws, pid)
    notes = publish(
        pid,
        [
            Folder(archive, outputs.run_id, outputs.archive),
            Folder(tables, pid, outputs.processed),
            Folder(report_slot, pid, outputs.reports),
        ],
    )
    for note in notes:
        log.warning(note)
    return sorted(
        [ws.tables(pid) / r for r in outputs.processed]
        + [Path(ws.reports) / pid / r for r in outputs.reports]
    )


def synthesize(ws: Workspace, protocol: str | None) -> list[Path]:
    """The whole synthesis without an orchestrator; the caller holds the protocol's run lock."""
    for note in recover_outputs(ws, protocol_id(ws, protocol)):
        log.warning(note)
    snapshot = load(ws, protocol)
    ctx = load_context(ws, snapshot)
    tab = tabulate(snapshot)
    analyses = pool(snapshot, tab)
    ratings = rate(snapshot, tab, analyses, ws.data / snapshot.protocol.rating.rule_set)
    return write_outputs(ws, report(snapshot, tab, analyses, ratings, ctx, figure_cache_folder(ws)))
