"""Table 3: how often each side effect occurs, by route, from denominators of exposed people.

A frequency needs a denominator of people exposed to the drug. Only drug arms of the designs the
rule set's `harms.incidence_designs` names (trials, cohorts, labels) give one; rows from
`signal_designs` (case series, overdose and withdrawal reports, reviews of cases) and a row's
`signal_outcomes` (people who stopped because of the effect) are listed as signals with their
counts and never become a frequency. Each side effect is split by route, so harms of one route
never set the band of another.

The band (CIOMS, `frequency_bands`) comes from the first source in `harms.band_order` that has
data: `label` (a label's printed percentage), `counts` (pooled incidence, logit random effects,
with at least `min_exposed` participants), `printed` (trials' printed percentages without
denominators), `few_counts` (pooled incidence from fewer participants, flagged). A relative risk
is claimed only against placebo, from at least `rr_min_trials` trials with counts, pooled by
Mantel–Haenszel (fixed effect, raw cells, so zero cells need no correction); with fewer trials
their counts are shown and no RR is stated. Reversibility is read from the rows' own fields.
Dose-dependence compares arms of different daily doses in the route's dose field.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from evidence.inputs.protocol import Protocol, SideEffectRow
from evidence.meta.effect_sizes import escalc
from evidence.meta.fit import rma, rma_mh
from evidence.meta.regression import meta_regression
from evidence.rating.rules import RuleSet
from evidence.tables.common import source_refs
from evidence.tables.harm_rules import HarmRules, harm_rules

DRUG_ARMS = ("treatment", "single")
NO_ROUTE = "route not stated"
PLACEBO = "placebo"  # the data's comparator vocabulary (studies.csv `comparator`)


@dataclass(frozen=True)
class SideEffect:
    row: str
    route: str
    outcomes: tuple[str, ...]
    arms: int
    studies: tuple[str, ...]
    participants: int
    incidence_pct: float | None
    ci_low_pct: float | None
    ci_high_pct: float | None
    band: str
    band_basis: str
    exposed_groups: str
    printed_pct: str
    placebo_comparison: str
    rr: float | None
    rr_ci: tuple[float, float] | None
    rr_k: int
    rr_note: str
    signals: str
    left_out: str
    reversibility: str
    dose_dependence: str


def band_of(pct: float, rules: RuleSet) -> str:
    for band in rules.frequency_bands:
        if pct >= float(band["min"]):
            return str(band["label"])
    return str(rules.frequency_bands[-1]["label"])


def _expit(x: float) -> float:
    return 100.0 / (1.0 + math.exp(-x))


def _num(v: object) -> str:
    return f"{float(v):g}"  # type: ignore[arg-type]


def _has_counts(df: pd.DataFrame) -> pd.Series:
    return df["events"].notna() & df["n"].notna() & (df["n"].astype(float) > 0)


def _derived(df: pd.DataFrame) -> pd.Series:
    return df["derived"].astype(str).str.lower().eq("true")


def _arm_highest(counted: pd.DataFrame) -> pd.DataFrame:
    """Several outcomes of one arm are the same people: keep the arm's highest rate."""
    counted = counted.copy()
    counted["rate"] = counted["events"].astype(float) / counted["n"].astype(float)
    return counted.sort_values(
        ["study_id", "arm", "rate", "outcome"], ascending=[True, True, False, True]
    ).drop_duplicates(["study_id", "arm"])


def _pool_incidence(counted: pd.DataFrame) -> tuple[float, float, float]:
    es = escalc(
        "PLO",
        events=counted["events"].to_numpy(float),
        n=counted["n"].to_numpy(float),
        studies=counted["study_id"].tolist(),
    )
    res = rma(es, method="REML")
    return _expit(res.estimate), _expit(res.ci_low), _expit(res.ci_high)


SIGNAL_FIELDS = ("events", "n", "pct", "design", "study_id", "arm", "outcome")


def _records(df: pd.DataFrame, fields: Iterable[str]) -> list[dict[str, object]]:
    """The rows as dicts of the named fields (a row by row read without pandas per row)."""
    names = list(fields)
    columns = (df[c] for c in names)
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _signal_text(r: dict[str, object]) -> str:
    if pd.notna(r["events"]) and pd.notna(r["n"]):
        value = f"{_num(r['events'])} of {_num(r['n'])}"
    elif pd.notna(r["events"]):
        value = f"{_num(r['events'])} (no denominator printed)"
    elif pd.notna(r["pct"]):
        value = f"{_num(r['pct'])}% as printed (count not printed)"
    else:
        value = "no count printed"
    design = r["design"] if isinstance(r["design"], str) else "design not stated"
    return f"{r['study_id']} ({design}; {r['arm']}): {r['outcome']} {value}"


def _by_study(study_ids: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Each study's row positions, in row order, studies sorted (as `groupby(sort=True)`)."""
    where: dict[str, list[int]] = {}
    for i, sid in enumerate(study_ids):
        if isinstance(sid, str):
            where.setdefault(sid, []).append(i)
    return [(sid, np.array(where[sid], dtype=np.intp)) for sid in sorted(where)]


def _placebo_pairs(rows: pd.DataFrame, hr: HarmRules) -> tuple[list[tuple], list[str]]:
    """Placebo-controlled studies' (study, a, n1, c, n2) counts and printed percentage pairs."""
    pairs: list[tuple] = []
    printed: list[str] = []
    design = rows["design"]
    # A label's controlled-study percentages carry no comparator field: its control arm is named.
    placebo = rows[
        design.isin(hr.incidence_designs)
        & ((rows["comparator"] == PLACEBO) | design.isin(hr.label_designs))
    ]
    if placebo.empty:
        return pairs, printed
    role = placebo["arm_role"].to_numpy()
    counts = _has_counts(placebo).to_numpy(bool)
    derived = _derived(placebo).to_numpy(bool)
    arm = placebo["arm"].astype(str)
    named = arm.str.lower().str.contains(PLACEBO, regex=False).to_numpy(bool)
    on_placebo = placebo["comparator"].eq(PLACEBO).to_numpy(bool)
    has_pct = placebo["pct"].notna().to_numpy(bool)
    events, n = placebo["events"].to_numpy(float), placebo["n"].to_numpy(float)
    pct, arm_text = placebo["pct"].to_numpy(), arm.to_numpy()
    for sid, at in _by_study(placebo["study_id"].to_numpy()):
        t_all, c_all = at[role[at] == "treatment"], at[role[at] == "control"]
        t, c = t_all[counts[t_all]], c_all[counts[c_all]]
        if len(c) > 1:
            # A placebo trial's other control arms (active drugs) are no placebo: keep the
            # arms the data name after the comparator, so no other comparison enters the RR.
            c = c[named[c]]
        if hr.exclude_derived:
            t, c = t[~derived[t]], c[~derived[c]]
        if len(t) and len(c) and on_placebo[at].all():
            pairs.append((sid, events[t].sum(), n[t].sum(), events[c].sum(), n[c].sum()))
            continue
        tp, cp = t_all[has_pct[t_all]], c_all[has_pct[c_all]]
        if len(tp) and len(cp):
            arms = "/".join(sorted(set(arm_text[cp])))
            printed.append(
                f"{'/'.join(_num(x) for x in pct[tp])}% vs "
                f"{'/'.join(_num(x) for x in pct[cp])}% ({sid}: {arms}; printed)"
            )
    return pairs, printed


def _relative_risk(
    pairs: list[tuple], hr: HarmRules, crossover: list[str]
) -> tuple[float | None, tuple[float, float] | None, str]:
    k = len(pairs)
    if k == 0:
        return None, None, "no placebo-controlled trial with counts"
    if k < hr.rr_min_trials:
        return (
            None,
            None,
            (
                f"no RR claimed: {k} placebo-controlled trial(s) with counts, "
                f"the rule set asks for {hr.rr_min_trials}"
            ),
        )
    a = np.array([p[1:] for p in pairs], dtype=float)
    try:
        res = rma_mh(
            a[:, 0], a[:, 1], a[:, 2], a[:, 3], measure="RR", studies=[p[0] for p in pairs]
        )
    except ValueError as e:
        return None, None, f"no RR: {e}"
    ci = (math.exp(res.ci_low), math.exp(res.ci_high))
    note = f"Mantel–Haenszel RR, {k} trials"
    if crossover:
        note += f"; crossover trials' periods taken as parallel groups ({', '.join(crossover)})"
    return math.exp(res.estimate), ci, note


def _dose_dependence(counted: pd.DataFrame, route: str, protocol: Protocol) -> str:
    spec = protocol.dose_tiers.get(route)
    if spec is None:
        return "not assessable: the protocol gives no daily-dose field for this route"
    dosed = counted[counted[spec.field].notna()].copy()
    dosed["dose"] = dosed[spec.field].astype(float)
    within = []
    for sid, grp in dosed.groupby("study_id", sort=True):
        if grp["dose"].nunique() >= 2:
            parts = ", ".join(
                f"{_num(r.events)}/{_num(r.n)} at {_num(r.dose)} {spec.unit}"
                for r in grp.sort_values("dose").itertuples()
            )
            within.append(f"{sid}: {parts}")
    if len(dosed) >= 3 and dosed["dose"].nunique() >= 2:
        es = escalc("PLO", events=dosed["events"].to_numpy(float), n=dosed["n"].to_numpy(float))
        fit = meta_regression(es, moderator=dosed["dose"].to_numpy(float), name="dose")
        slope = fit.coefficients[1]
        verdict = "dose-dependent" if slope.pval < 0.05 and slope.estimate > 0 else "no dose trend"
        head = (
            f"{verdict}: logit slope {slope.estimate:.3f} per {spec.unit} "
            f"(p = {slope.pval:.3f}, {len(dosed)} arms)"
        )
        return "; ".join([head, *within])
    if within:
        return "arms at different doses (too few to test): " + "; ".join(within)
    return (
        f"not assessable: {len(dosed)} arm(s) with counts and a daily dose; no arms differ in dose"
    )


def _reversibility(rows: pd.DataFrame, rev: pd.DataFrame, hr: HarmRules) -> str:
    """What the data say about recovery: matched terms in the rows' fields, recovery outcomes."""
    found: dict[str, set[str]] = {}
    for definition, note, study in zip(
        rows["outcome_definition"], rows["note"], rows["study_id"], strict=True
    ):
        text = " ".join(str(x) for x in (definition, note) if isinstance(x, str)).lower()
        for t in hr.reversibility_terms:
            if t.term.lower() in text:
                found.setdefault(t.says, set()).add(str(study))
    parts = [f"{says} ({', '.join(sorted(ids))})" for says, ids in sorted(found.items())]
    if rev.empty:
        return "; ".join(parts) if parts else "not reported"
    rev = rev.sort_values(["study_id", "outcome"])
    cols = ("events", "n", "pct", "mean", "outcome_definition", "outcome", "study_id")
    for events, n, pct, mean, definition, outcome, study in zip(
        *(rev[c] for c in cols), strict=True
    ):
        if pd.notna(events) and pd.notna(n):
            value = f"{_num(events)} of {_num(n)}"
        elif pd.notna(pct):
            value = f"{_num(pct)}%"
        elif pd.notna(mean):
            value = f"mean {_num(mean)}"
        else:
            continue
        label = definition if isinstance(definition, str) else outcome
        parts.append(f"{label}: {value} ({study})")
    return "; ".join(parts) if parts else "not reported"


def _band(
    order: Iterable[str],
    label_pct: pd.DataFrame,
    counted: pd.DataFrame,
    printed: pd.DataFrame,
    pooled: tuple[float, float, float] | None,
    hr: HarmRules,
    rules: RuleSet,
) -> tuple[str, str]:
    exposed = int(counted["n"].sum()) if not counted.empty else 0
    derived = sorted(set(counted.loc[_derived(counted), "study_id"])) if exposed else []
    flag = f"; includes derived counts ({', '.join(derived)})" if derived else ""
    for source in order:
        if source == "label" and not label_pct.empty:
            pct = float(label_pct["pct"].median())
            ids = ", ".join(sorted(set(label_pct["study_id"])))
            return band_of(pct, rules), f"label: {pct:g}% ({ids})"
        if source == "counts" and pooled is not None and exposed >= hr.min_exposed:
            return band_of(pooled[0], rules), f"pooled counts, {exposed} exposed{flag}"
        if source == "printed" and not printed.empty:
            pct = float(printed["pct"].median())
            ids = ", ".join(sorted(set(printed["study_id"])))
            return (
                band_of(pct, rules),
                f"printed percentages without denominators, median {pct:g}% ({ids})",
            )
        if source == "few_counts" and pooled is not None:
            return (
                band_of(pooled[0], rules),
                f"pooled counts from only {exposed} exposed (fewer than {hr.min_exposed}){flag}",
            )
    return "not assessable", "no incidence from exposed participants"


def _route_row(
    spec: SideEffectRow,
    route: str,
    rows: pd.DataFrame,
    rev: pd.DataFrame,
    protocol: Protocol,
    rules: RuleSet,
    hr: HarmRules,
) -> SideEffect:
    # Row masks as arrays, each subset taken once: a pandas filter per step cost more than the
    # table's arithmetic.
    design = rows["design"]
    is_signal = (
        design.isin(hr.signal_designs) | rows["outcome"].isin(spec.signal_outcomes)
    ).to_numpy(bool)
    incidence = design.isin(hr.incidence_designs).to_numpy(bool) & ~is_signal
    # Designs in neither list (reviews, animal work) give neither a frequency nor a signal.
    stray = rows[~design.isin(hr.incidence_designs).to_numpy(bool) & ~is_signal].fillna(
        {"design": ""}
    )
    drug = incidence & rows["arm_role"].isin(DRUG_ARMS).to_numpy(bool)
    counts = _has_counts(rows).to_numpy(bool)
    has_events = rows["events"].notna().to_numpy(bool)
    keep = drug & counts
    if hr.exclude_derived:
        keep &= ~_derived(rows).to_numpy(bool)
    with_counts = rows[keep]
    counted = _arm_highest(with_counts) if not with_counts.empty else with_counts
    pct_only_rows = drug & ~has_events & rows["pct"].notna().to_numpy(bool)
    label = design.isin(hr.label_designs).to_numpy(bool)
    pct_only = rows[pct_only_rows]
    label_pct = rows[pct_only_rows & label]
    printed = rows[pct_only_rows & ~label]
    # Counts without a denominator cannot give a rate: they are listed beside the signals.
    no_denominator = rows[drug & has_events & ~counts]
    signal_rows = pd.concat([rows[is_signal], no_denominator]).sort_values(["study_id", "row_id"])
    pooled = _pool_incidence(counted) if not counted.empty else None
    band, basis = _band(hr.band_order, label_pct, counted, printed, pooled, hr, rules)
    pairs, printed_pairs = _placebo_pairs(rows[~is_signal], hr)
    paired = {p[0] for p in pairs}
    crossover = sorted(
        set(
            rows.loc[
                rows["study_id"].isin(paired) & rows["design"].isin(hr.crossover_designs),
                "study_id",
            ]
        )
    )
    rr, rr_ci, rr_note = _relative_risk(pairs, hr, crossover)
    placebo = [f"{_num(p[1])}/{_num(p[2])} vs {_num(p[3])}/{_num(p[4])} ({p[0]})" for p in pairs]
    dose = (
        _dose_dependence(counted, route, protocol)
        if not counted.empty
        else "not assessable: no counts from exposed participants"
    )
    groups = sorted(
        {
            f"{a} ({s})"
            for used in (counted, label_pct, printed)
            for a, s in zip(used["arm"], used["study_id"], strict=True)
        }
    )
    return SideEffect(
        row=spec.row,
        route=route,
        outcomes=tuple(spec.outcomes),
        arms=len(counted),
        studies=tuple(sorted(set(rows["study_id"]) | set(rev["study_id"]))),
        participants=int(counted["n"].sum()) if not counted.empty else 0,
        incidence_pct=None if pooled is None else pooled[0],
        ci_low_pct=None if pooled is None else pooled[1],
        ci_high_pct=None if pooled is None else pooled[2],
        band=band,
        band_basis=basis,
        exposed_groups="; ".join(groups),
        printed_pct=", ".join(
            f"{_num(p)}% ({s})" for p, s in zip(pct_only["pct"], pct_only["study_id"], strict=True)
        ),
        placebo_comparison="; ".join(placebo + printed_pairs),
        rr=rr,
        rr_ci=rr_ci,
        rr_k=len(pairs),
        rr_note=rr_note,
        signals="; ".join(map(_signal_text, _records(signal_rows, SIGNAL_FIELDS))),
        left_out=", ".join(
            f"{sid} ({d})"
            for sid, d in sorted(set(zip(stray["study_id"], stray["design"], strict=True)))
        ),
        reversibility=_reversibility(rows, rev, hr),
        dose_dependence=dose,
    )


def _route_of(v: object) -> str:
    return v if isinstance(v, str) and v else NO_ROUTE


def side_effect_rows(
    spec: SideEffectRow, tiered: pd.DataFrame, protocol: Protocol, rules: RuleSet
) -> list[SideEffect]:
    """One entry per route with data for this side effect (one `not assessable` when none)."""
    hr = harm_rules(rules.harms, rules.rule_set)
    listed = set(spec.outcomes) | set(spec.signal_outcomes)
    rows = tiered[tiered["outcome"].isin(listed)].copy()
    rev = tiered[tiered["outcome"].isin(spec.reversibility_outcomes)].copy()
    rows["route_key"] = [_route_of(v) for v in rows["route"]]
    rev["route_key"] = [_route_of(v) for v in rev["route"]]
    routes = sorted(set(rows["route_key"]) | set(rev["route_key"]))
    if not routes:
        routes = [""]
    return [
        _route_row(
            spec,
            route,
            rows[rows["route_key"] == route],
            rev[rev["route_key"] == route],
            protocol,
            rules,
            hr,
        )
        for route in routes
    ]


def primary(found: list[SideEffect], row: str) -> SideEffect | None:
    """The entry compared with the review's row: the route with the most exposed participants."""
    mine = [s for s in found if s.row == row]
    if not mine:
        return None
    return sorted(
        mine, key=lambda s: (s.band == "not assessable", -s.participants, -len(s.studies), s.route)
    )[0]


# The outcome rows' columns this table reads (besides the protocol's daily-dose fields).
COLUMNS = (
    "row_id",
    "study_id",
    "outcome",
    "outcome_definition",
    "arm",
    "arm_role",
    "n",
    "events",
    "mean",
    "pct",
    "derived",
    "note",
    "design",
    "route",
    "comparator",
)


def harm_columns(tiered: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """The columns the table reads, numbers as plain floats (missing → NaN).

    Every filter below copies its rows; on the full, wide table of typed columns that copying
    was most of the table's time. The values and what counts as missing are the same."""
    dose_fields = [t.field for t in protocol.dose_tiers.values()]
    cols = [c for c in dict.fromkeys([*COLUMNS, *dose_fields]) if c in tiered.columns]
    narrow: dict[str, object] = {}
    for c in cols:
        col = tiered[c]
        if pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            narrow[c] = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            narrow[c] = col  # text as it is (object columns stay object: quicker to filter)
    return pd.DataFrame(narrow, index=tiered.index, columns=cols)


def side_effects_frame(
    tiered: pd.DataFrame, refs: dict[str, str], protocol: Protocol, rules: RuleSet
) -> tuple[pd.DataFrame, list[SideEffect]]:
    narrow = harm_columns(tiered, protocol)
    found = [
        s for spec in protocol.side_effects for s in side_effect_rows(spec, narrow, protocol, rules)
    ]
    rows = []
    for s in found:
        rows.append(
            {
                "side_effect": s.row,
                "route": s.route,
                "outcomes": " ".join(s.outcomes),
                "arms_with_counts": s.arms,
                "participants": s.participants,
                "incidence_pct": None if s.incidence_pct is None else round(s.incidence_pct, 2),
                "ci_low_pct": None if s.ci_low_pct is None else round(s.ci_low_pct, 2),
                "ci_high_pct": None if s.ci_high_pct is None else round(s.ci_high_pct, 2),
                "frequency": s.band,
                "frequency_basis": s.band_basis,
                "exposed_groups": s.exposed_groups,
                "printed_percentages": s.printed_pct,
                "placebo_comparison": s.placebo_comparison,
                "rr_vs_placebo": None if s.rr is None else round(s.rr, 3),
                "rr_ci": "" if s.rr_ci is None else f"{s.rr_ci[0]:.2f}–{s.rr_ci[1]:.2f}",
                "rr_k": s.rr_k,
                "rr_note": s.rr_note,
                "signals": s.signals,
                "left_out": s.left_out,
                "reversibility": s.reversibility,
                "dose_dependence": s.dose_dependence,
                "sources": source_refs(refs, s.studies),
            }
        )
    return pd.DataFrame(rows), found
