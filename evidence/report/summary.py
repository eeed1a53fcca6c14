"""The run summary in Markdown: what was synthesised from which inputs."""

from __future__ import annotations

import pandas as pd

from evidence.inputs.snapshot import Snapshot
from evidence.report.markup import md_code, md_inline


def _md_table(frame: pd.DataFrame) -> str:
    """Header and cells escaped as in the full report (column names can be tier labels)."""
    head = "| " + " | ".join(md_inline(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(md_inline(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def render_summary(
    snapshot: Snapshot,
    by_tier: pd.DataFrame,
    tiered: pd.DataFrame,
    uses: pd.DataFrame | None = None,
) -> str:
    """A short Markdown summary; no wall-clock, so reruns on the same inputs are identical."""
    p = snapshot.protocol
    studies = snapshot.studies
    lines = [
        f"# {md_inline(p.title)}",
        "",
        f"Protocol {md_code(p.protocol_id)} version {md_inline(p.version)}; "
        f"rating rule set {md_inline(p.rating.rule_set_version)}.",
        "",
        "## Inputs",
        "",
        f"- {len(studies)} studies, {len(snapshot.outcomes)} arm-level outcome rows "
        f"({int(snapshot.outcomes['derived'].fillna(False).sum())} with derived values), "
        f"{len(snapshot.study_effects)} study-level effects, "
        f"{len(snapshot.published_syntheses)} published synthesis results.",
        "",
    ]
    if uses is not None and not uses.empty:
        lines += ["## Evidence levels", ""]
        lines.append(_md_table(uses[["indication", "evidence_level", "reasons"]]))
        lines.append("")
    lines += ["## Studies by indication and design", ""]
    counts = (
        studies.groupby(["indication", "design"])
        .size()
        .rename("studies")
        .reset_index()
        .sort_values(["indication", "design"])
    )
    lines.append(_md_table(counts))
    lines += ["", "## Outcome rows by indication and dose tier", ""]
    tier_counts = (
        tiered.groupby(["indication", "dose_tier"])
        .size()
        .unstack(fill_value=0)
        .sort_index()
        .reset_index()
    )
    lines.append(_md_table(tier_counts))
    primary = {(i.id, o.id) for i in p.indications for o in i.outcomes}
    prim = by_tier[
        [(a, b) in primary for a, b in zip(by_tier.indication, by_tier.outcome, strict=True)]
    ]
    lines += ["", "## Primary outcomes of the protocol, by dose tier and arm role", ""]
    lines.append(_md_table(prim.drop(columns=["arms_with_events", "arms_with_mean_sd"])))
    lines += ["", "## Input files (sha256)", ""]
    hashes = snapshot.input_hashes.items()
    lines += [f"- {md_code(name)}: {md_code(digest[:16])}" for name, digest in hashes]
    return "\n".join(lines) + "\n"
