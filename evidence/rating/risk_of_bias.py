"""GRADE's risk-of-bias domain for one pool, from the weight its trials hold and their RoB 2
overall judgements.

GRADE looks at how much of the information comes from trials with limitations rather than at
how many trials have them, so the shares here are shares of the pool's weight. The thresholds
and the policy for trials without information are data (the rule set's `grade.risk_of_bias`);
every reason names the shares and, where it applied, the policy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

from evidence.inputs.risk_of_bias import RiskOfBias
from evidence.rating.domains import DomainJudgement

DOMAIN = "risk of bias"
Effective = Literal["low", "some_concerns", "high"]
POLICIES: tuple[Effective, ...] = ("some_concerns", "high", "low")
_WORDS = {"low": "low risk", "some_concerns": "some concerns", "high": "high risk"}
# Why a trial's judgement came from the policy instead of its own row.
NO_INFORMATION = "no information"
NO_ROW = "no risk-of-bias row"


class RiskOfBiasRulesError(ValueError):
    """The rule set's `grade.risk_of_bias` section cannot be used; the message names the key."""


@dataclass(frozen=True)
class RobRules:
    """When a pool's trials lower certainty, and how a trial without information counts."""

    serious_share: float = 0.5
    very_serious_high_share: float = 0.5
    no_information: Effective = "some_concerns"

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> RobRules:
        where = "grade.risk_of_bias"
        known = {"serious_share", "very_serious_high_share", "no_information"}
        if unknown := sorted(set(section) - known):
            raise RiskOfBiasRulesError(
                f"{where}: unknown key(s) {unknown}; expected {sorted(known)}"
            )
        out = {}
        for key in ("serious_share", "very_serious_high_share"):
            value = section.get(key, getattr(cls, key))
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (0 < value <= 1)
            ):
                raise RiskOfBiasRulesError(
                    f"{where}.{key}: found {value!r}; expected a share of the weight in (0, 1]"
                )
            out[key] = float(value)
        policy = section.get("no_information", cls.no_information)
        if policy not in POLICIES:
            raise RiskOfBiasRulesError(
                f"{where}.no_information: found {policy!r}; expected one of {', '.join(POLICIES)}"
            )
        return cls(out["serious_share"], out["very_serious_high_share"], cast(Effective, policy))


def rules_of(grade: Mapping[str, Any]) -> RobRules | None:
    """The rule set's policy, or None for older rule sets that judged no risk of bias."""
    section = grade.get("risk_of_bias")
    return RobRules.from_section(section) if isinstance(section, Mapping) else None


def _shares(studies: Sequence[str], weights: Sequence[float] | None) -> list[float]:
    """Each study's share of the pool's weight; equal shares when no usable weights exist."""
    ws = [float(w) for w in weights] if weights is not None else []
    if len(ws) != len(studies) or not all(math.isfinite(w) and w >= 0 for w in ws):
        ws = [1.0] * len(studies)
    total = sum(ws)
    return [w / total for w in ws] if total > 0 else [1.0 / len(studies)] * len(studies)


def _pct(share: float, threshold: float) -> str:
    """A share in percent, with a decimal when rounding would hide which side of the
    threshold it lies."""
    text = f"{100 * share:.0f}%"
    if f"{100 * share:.0f}" == f"{100 * threshold:.0f}" and not math.isclose(share, threshold):
        text = f"{100 * share:.1f}%"
    return text


def _terms(groups: list[str], substituted: set[str], policy: Effective) -> str:
    """`high risk, some concerns or no information (treated as some concerns by policy)`."""
    words = [_WORDS[g] for g in groups]
    words += [f"{why} (treated as {_WORDS[policy]} by policy)" for why in sorted(substituted)]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def judge_risk_of_bias(
    studies: Sequence[str],
    weights: Sequence[float] | None,
    records: Mapping[str, RiskOfBias],
    rules: RobRules,
) -> DomainJudgement:
    """The domain's judgement for a pool of `studies` holding `weights` (any scale)."""
    if not studies:
        return DomainJudgement(DOMAIN, "not judgeable", "no study in the pool")
    shares = _shares(studies, weights)
    k = len(studies)
    policy = rules.no_information
    effective: list[Effective] = []
    why: list[str | None] = []  # how a policy-made judgement arose, None for a trial's own
    for sid in studies:
        rec = records.get(sid)
        if rec is None:
            effective.append(policy)
            why.append(NO_ROW)
        elif rec.overall == "no_information":
            effective.append(policy)
            why.append(NO_INFORMATION)
        else:
            effective.append(cast(Effective, rec.overall))
            why.append(None)

    def tally(accept: set[str]) -> tuple[int, float, list[str], set[str]]:
        idx = [i for i, e in enumerate(effective) if e in accept]
        own = [g for g in ("high", "some_concerns", "low") if g in accept]
        own = [g for g in own if any(effective[i] == g and why[i] is None for i in idx)]
        subst = {w for i in idx if (w := why[i]) is not None}
        return len(idx), sum(shares[i] for i in idx), own, subst

    unassessed = sum(w == NO_ROW for w in why)
    preface = ""
    if unassessed == k:
        preface = (
            f"no study of the pool has a risk-of-bias assessment; as the policy says, each "
            f"counts as {_WORDS[policy]}: "
        )
    n_high, high_share, high_groups, high_subst = tally({"high"})
    n_conc, conc_share, conc_groups, conc_subst = tally({"high", "some_concerns"})
    if n_high and high_share >= rules.very_serious_high_share:
        judgement = "very serious"
        core = (
            f"{n_high} of {k} studies, {_pct(high_share, rules.very_serious_high_share)} of the "
            f"weight: {_terms(high_groups, high_subst, policy)} "
            f"(≥ {_pct(rules.very_serious_high_share, rules.very_serious_high_share)})"
        )
    elif n_conc and conc_share >= rules.serious_share:
        judgement = "serious"
        core = (
            f"{n_conc} of {k} studies, {_pct(conc_share, rules.serious_share)} of the weight: "
            f"{_terms(conc_groups, conc_subst, policy)} "
            f"(≥ {_pct(rules.serious_share, rules.serious_share)})"
        )
    else:
        judgement = "no concern"
        n_low, low_share, low_groups, low_subst = tally({"low"})
        core = (
            f"{n_low} of {k} studies, {_pct(low_share, 1 - rules.serious_share)} of the weight: "
            f"{_terms(low_groups, low_subst, policy)}; high risk or some concerns: "
            f"{_pct(conc_share, rules.serious_share)} "
            f"(< {_pct(rules.serious_share, rules.serious_share)})"
        )
    if judgement == "serious" and n_high:
        core += f"; high risk alone: {_pct(high_share, rules.very_serious_high_share)}"
    return DomainJudgement(DOMAIN, judgement, preface + core)


def pool_risk_of_bias(
    studies: Sequence[str],
    weights: Sequence[float] | None,
    records: Mapping[str, RiskOfBias] | None,
    grade: Mapping[str, Any],
) -> DomainJudgement | None:
    """The judgement, or None when the protocol holds no risk-of-bias file or the rule set
    judges no risk of bias (the grading then says the domain was not assessed)."""
    rules = rules_of(grade)
    if records is None or rules is None:
        return None
    return judge_risk_of_bias(studies, weights, records, rules)
