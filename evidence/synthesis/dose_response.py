"""Dose-response: a meta-regression of each drug arm's effect on its daily dose, or why not.

Each drug arm with a known daily dose is compared with its study's control at the latest
timepoint both report. A study's several drug arms share one control, so the control is split
evenly between them (Cochrane Handbook 23.3.4), never counted whole twice. Doses of different
routes are never mixed (their units differ). Whether the data allow the analysis is decided by
the protocol's `dose_response` thresholds; a group that falls short gets a row saying why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from evidence.inputs.protocol import OutcomeSpec, Protocol
from evidence.meta.regression import meta_regression
from evidence.synthesis.pool import (
    BINARY,
    CONTINUOUS,
    Row,
    _merge_groups,
    _na,
    effect_sizes,
    records,
)
from evidence.synthesis.tabulate import DRUG_ROLES

ASSESSED = "assessed"
NOT_ASSESSABLE = "not assessable"
COLUMNS = [
    "indication",
    "comparison",
    "outcome",
    "analysis",
    "measure",
    "route",
    "dose_unit",
    "status",
    "reason",
    "studies",
    "arms",
    "distinct_doses",
    "arms_dose_unknown",
    "derived_doses",
    "method",
    "test",
    "intercept",
    "slope",
    "slope_se",
    "slope_ci_low",
    "slope_ci_high",
    "slope_pval",
    "tau2",
    "study_ids",
]


@dataclass(frozen=True)
class ArmContrasts:
    """Drug arm vs (split) control rows of one outcome, and the arms left out for no dose."""

    rows: pd.DataFrame
    dose_unknown: int


def _timepoint(r: Row) -> float:
    tp = r["timepoint_weeks"]
    return -1.0 if _na(tp) else float(tp)


def _latest_paired(grp: list[Row]) -> list[Row]:
    """The rows at the latest timepoint (missing counts as -1) where a treatment and a control
    arm both report."""
    roles: dict[float, set[object]] = {}
    for r in grp:
        roles.setdefault(_timepoint(r), set()).add(r["arm_role"])
    both = [tp for tp, seen in roles.items() if "control" in seen and "treatment" in seen]
    if not both:
        return []
    latest = max(both)
    return [r for r in grp if _timepoint(r) == latest]


def _usable(r: Row, measure: str) -> bool:
    if measure in BINARY:
        return not _na(r["events"]) and not _na(r["n"])
    if _na(r["mean"]) or _na(r["n"]) or (_na(r["sd"]) and _na(r["se"])):
        return False
    return bool(r["n"] > 1)


# The arm-row columns a contrast reads.
ARM_READS = (
    "study_id", "outcome", "arm", "arm_role", "timepoint_weeks", "dose", "dose_derived",
    "events", "n", "mean", "sd", "se",
)  # fmt: skip


def arm_contrasts(tiered: pd.DataFrame, outcome: str, measure: str) -> ArmContrasts:
    """One row per drug arm with a known dose: its data and its share of the study's control."""
    by_study: dict[str, list[Row]] = {}
    for r in records(tiered, ARM_READS):
        if r["outcome"] == outcome and not _na(r["study_id"]) and _usable(r, measure):
            by_study.setdefault(r["study_id"], []).append(r)
    out: list[dict[str, object]] = []
    unknown = 0
    for study_id in sorted(by_study):
        at = _latest_paired(
            [r for r in by_study[study_id] if r["arm_role"] in ("treatment", "control")]
        )
        treat = [r for r in at if r["arm_role"] == "treatment"]
        ctrl = [r for r in at if r["arm_role"] == "control"]
        if not treat or not ctrl:
            continue
        known = [r for r in treat if not _na(r["dose"])]
        unknown += len(treat) - len(known)
        if not known:
            continue
        share = len(treat)  # every drug arm takes a share, dose known or not
        for arm in known:
            rec: dict[str, object] = {
                "study_id": study_id,
                "arm": arm["arm"],
                "dose": float(arm["dose"]),
                "dose_derived": bool(arm["dose_derived"]),
            }
            if measure in BINARY:
                rec |= {
                    "events_treat": float(arm["events"]),
                    "n_treat": float(arm["n"]),
                    "events_ctrl": float(sum(r["events"] for r in ctrl)) / share,
                    "n_ctrl": float(sum(r["n"] for r in ctrl)) / share,
                }
            else:
                mc, sc, nc, _ = _merge_groups(ctrl)
                mt, st, nt, _ = _merge_groups([arm])
                rec |= {
                    "mean_treat": mt,
                    "sd_treat": st,
                    "n_treat": float(nt),
                    "mean_ctrl": mc,
                    "sd_ctrl": sc,
                    "n_ctrl": nc / share,
                }
            out.append(rec)
    return ArmContrasts(pd.DataFrame(out), unknown)


def _row(base: dict[str, object], **values: object) -> dict[str, object]:
    return {**dict.fromkeys(COLUMNS, None), **base, **values}


def _r(x: float | None, nd: int = 6) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, nd)


def assess(
    tiered: pd.DataFrame,
    protocol: Protocol,
    base: dict[str, object],
    spec: OutcomeSpec,
    exclude_derived: bool = False,
) -> dict[str, object]:
    """One dose-response row for the arms in `tiered` (one indication, comparison and route);
    `exclude_derived` leaves out arms whose dose was computed from a regimen."""
    base = base | {"analysis": "excluding_derived_doses" if exclude_derived else "primary"}
    if spec.measure not in BINARY | CONTINUOUS:
        return _row(base, status=NOT_ASSESSABLE, reason="the outcome has no comparative measure")
    con = arm_contrasts(tiered, spec.id, spec.measure)
    rows = con.rows
    if exclude_derived and not rows.empty:
        rows = rows[~rows["dose_derived"]]
    k = int(rows["study_id"].nunique()) if not rows.empty else 0
    doses = int(rows["dose"].nunique()) if not rows.empty else 0
    counts = {
        "studies": k,
        "arms": len(rows),
        "distinct_doses": doses,
        "arms_dose_unknown": con.dose_unknown,
        "derived_doses": int(rows["dose_derived"].sum()) if not rows.empty else 0,
        "study_ids": " ".join(sorted(set(rows["study_id"]))) if not rows.empty else "",
    }
    rule = protocol.dose_response
    why = ""
    if rule is None:
        why = "the protocol sets no dose-response thresholds"
    elif k < rule.min_studies:
        have = "no study" if k == 0 else f"only {k} stud{'y' if k == 1 else 'ies'}"
        why = (
            f"{have} with a known arm dose and a control (the protocol asks for {rule.min_studies})"
        )
    elif doses < rule.min_doses:
        why = f"only {doses} distinct daily doses (the protocol asks for {rule.min_doses})"
    if why:
        return _row(base, status=NOT_ASSESSABLE, reason=why, **counts)
    method = protocol.rating.model.get("method", "REML")
    test = protocol.rating.model.get("test", "knha")
    es = effect_sizes(rows, spec.measure)
    try:
        res = meta_regression(
            es, moderator=rows["dose"].to_numpy(float), name="dose", method=method, test=test
        )
    except ValueError as exc:
        return _row(
            base, status=NOT_ASSESSABLE, reason=f"the model cannot be fitted: {exc}", **counts
        )
    icpt, slope = res.coefficients
    return _row(
        base,
        status=ASSESSED,
        reason="",
        method=res.method,
        test=res.test,
        intercept=_r(icpt.estimate),
        slope=_r(slope.estimate),
        slope_se=_r(slope.se),
        slope_ci_low=_r(slope.ci_low),
        slope_ci_high=_r(slope.ci_high),
        slope_pval=_r(slope.pval, 8),
        tau2=_r(res.tau2),
        **counts,
    )


# The outcome rows' columns the assessment reads.
READS = (
    "indication",
    "comparison",
    "outcome",
    "study_id",
    "arm",
    "arm_role",
    "route",
    "timepoint_weeks",
    "dose",
    "dose_derived",
    "events",
    "n",
    "mean",
    "sd",
    "se",
)


def dose_response(tiered: pd.DataFrame, protocol: Protocol) -> pd.DataFrame:
    """dose_response.csv: per indication × comparison × outcome × route, a slope per unit of
    daily dose (on the analysis scale) or "not assessable" with the reason."""
    # Only the columns read, same types: every filter below copies its rows.
    tiered = tiered[[c for c in READS if c in tiered.columns]]
    has_comparison = "comparison" in tiered.columns
    out: list[dict[str, object]] = []
    for ind in protocol.indications:
        sub = tiered[tiered["indication"] == ind.id]
        for spec in ind.outcomes:
            rows = sub[sub["outcome"] == spec.id]
            drug = rows[rows["arm_role"].isin(DRUG_ROLES)]
            routes = sorted({r for r in drug["route"].dropna() if r in protocol.dose_tiers})
            comps = sorted(set(rows["comparison"].fillna(""))) if has_comparison else [""]
            if not routes or not comps:
                out.append(
                    _row(
                        {
                            "indication": ind.id,
                            "comparison": "",
                            "outcome": spec.id,
                            "analysis": "primary",
                            "measure": spec.measure,
                            "route": "",
                            "dose_unit": "",
                        },
                        status=NOT_ASSESSABLE,
                        reason="no drug arm on a route with dose tiers reports this outcome",
                        studies=0,
                        arms=0,
                        distinct_doses=0,
                        arms_dose_unknown=0,
                        derived_doses=0,
                        study_ids="",
                    )
                )
                continue
            for comp in comps:
                in_comp = rows[rows["comparison"].fillna("") == comp] if has_comparison else rows
                for route in routes:
                    base = {
                        "indication": ind.id,
                        "comparison": comp,
                        "outcome": spec.id,
                        "measure": spec.measure,
                        "route": route,
                        "dose_unit": protocol.dose_tiers[route].unit,
                    }
                    arms = in_comp[in_comp["route"] == route]
                    first = assess(arms, protocol, base, spec)
                    out.append(first)
                    if first["status"] == ASSESSED and first["derived_doses"]:
                        out.append(assess(arms, protocol, base, spec, exclude_derived=True))
    frame = pd.DataFrame(out, columns=COLUMNS)
    for col in ("studies", "arms", "distinct_doses", "arms_dose_unknown", "derived_doses"):
        frame[col] = frame[col].astype("Int64")
    return frame.reset_index(drop=True)


def dose_response_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The report's dose-response rows: the slope with its interval, or why not assessable."""
    rows = []
    for r in frame.itertuples(index=False):
        if r.status == ASSESSED:
            result = (
                f"slope {r.slope:.4g} per {r.dose_unit} ({r.slope_ci_low:.4g} to "
                f"{r.slope_ci_high:.4g}), p = {r.slope_pval:.3g}"
            )
        else:
            result = f"not assessable, because {r.reason}"
        rows.append(
            {
                "indication": r.indication,
                "comparison": r.comparison,
                "outcome": r.outcome
                + ("" if r.analysis == "primary" else " (derived doses left out)"),
                "route": r.route or "none",
                "studies": r.studies,
                "distinct_doses": r.distinct_doses,
                "arms_dose_unknown": r.arms_dose_unknown,
                "result": result,
            }
        )
    return pd.DataFrame(rows)
