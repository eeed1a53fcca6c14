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


def _studies(n: int) -> str:
    return f"{n} study" if n == 1 else f"{n} studies"


def judge_risk_of_bias(
    studies: Sequence[str],
    weights: Sequence[float] | None,
    records: Mapping[str, RiskOfBias],
    rules: RobRules,
) -> DomainJudgement:
    """The domain's judgement for a pool of `studies` holding `weights` (any scale).

    A trial counts by its overall judgement; one with no information, or without a row, counts
    as the policy says. Very serious when trials at high risk hold at least
    `very_serious_high_share` of the weight, else serious when trials at high risk or with some
    concerns hold at least `serious_share`, else no concern.
    """
    if not studies:
        return DomainJudgement(DOMAIN, "not judgeable", "no study in the pool")
    shares = _shares(studies, weights)
    k = len(studies)
    policy = rules.no_information
    # Each trial's category as recorded (or why it has none) and the judgement it counts as.
    category: list[str] = []
    effective: list[Effective] = []
    for sid in studies:
        rec = records.get(sid)
        if rec is None:
            category.append(NO_ROW)
            effective.append(policy)
        elif rec.overall == "no_information":
            category.append(NO_INFORMATION)
            effective.append(policy)
        else:
            category.append(_WORDS[rec.overall])
            effective.append(cast(Effective, rec.overall))

    def share(accept: set[str]) -> tuple[int, float]:
        idx = [i for i, e in enumerate(effective) if e in accept]
        return len(idx), sum(shares[i] for i in idx)

    n_high, high = share({"high"})
    n_conc, conc = share({"high", "some_concerns"})
    t_very, t_serious = rules.very_serious_high_share, rules.serious_share
    if n_high and high >= t_very:
        judgement = "very serious"
        core = (
            f"{n_high} of {_studies(k)}, {_pct(high, t_very)} of the weight, count as at high "
            f"risk (≥ {_pct(t_very, t_very)})"
        )
    elif n_conc and conc >= t_serious:
        judgement = "serious"
        core = (
            f"{n_conc} of {_studies(k)}, {_pct(conc, t_serious)} of the weight, count as at "
            f"high risk or with some concerns (≥ {_pct(t_serious, t_serious)})"
        )
        if n_high:
            core += f"; at high risk {_pct(high, t_very)} (< {_pct(t_very, t_very)})"
    else:
        judgement = "no concern"
        core = (
            f"studies counting as at high risk or with some concerns hold "
            f"{_pct(conc, t_serious)} of the weight (< {_pct(t_serious, t_serious)})"
        )
    order = [_WORDS["high"], _WORDS["some_concerns"], _WORDS["low"], NO_INFORMATION, NO_ROW]
    parts = []
    for cat in order:
        idx = [i for i, c in enumerate(category) if c == cat]
        if not idx:
            continue
        how = f"; treated as {_WORDS[policy]} by policy" if cat in (NO_INFORMATION, NO_ROW) else ""
        parts.append(f"{cat} {_studies(len(idx))} ({_pct(sum(shares[i] for i in idx), 2)}{how})")
    preface = ""
    if all(c == NO_ROW for c in category):
        preface = (
            f"no study of the pool has a risk-of-bias assessment; by policy each counts as "
            f"{_WORDS[policy]}: "
        )
    return DomainJudgement(DOMAIN, judgement, f"{preface}{core}; by judgement: {', '.join(parts)}")


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
