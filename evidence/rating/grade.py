"""GRADE certainty of one pooled outcome, with the reason for each domain's judgement."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from evidence.rating.domains import DomainJudgement

LEVELS = ("Very low", "Low", "Moderate", "High")


@dataclass(frozen=True)
class Certainty:
    level: str
    start: str
    domains: tuple[tuple[str, int, str], ...]  # (domain, levels lowered, reason)

    def footnotes(self) -> str:
        return "; ".join(f"{d}: {why}" for d, _, why in self.domains)


def grade_outcome(
    rules: dict[str, Any],
    *,
    randomised: bool,
    k: int,
    estimate: float,
    ci_low: float,
    ci_high: float,
    pi_low: float | None,
    pi_high: float | None,
    i2: float | None,
    participants: int,
    binary: bool,
    egger_p: float | None = None,
    indirect: bool = False,
    egger_note: str = "",
    risk_of_bias: DomainJudgement | None = None,
    indirectness: DomainJudgement | None = None,
) -> Certainty:
    """Start from the design, lower once per serious concern (twice where very serious).

    `egger_note` says why Egger's test could not be computed; publication bias is then not
    assessed (never "not significant", which would claim a test that did not run).
    `risk_of_bias` and `indirectness`, judged from the pool's studies elsewhere, replace the
    defaults of those two domains when given.
    """
    start = rules["start"]["randomised" if randomised else "observational"]
    domains: list[tuple[str, int, str]] = []
    if risk_of_bias is None:
        domains.append(("risk of bias", 0, "not assessed: no risk-of-bias judgements recorded"))
    else:
        domains.append(("risk of bias", risk_of_bias.downgrade, risk_of_bias.reason))

    inc = rules["inconsistency"]
    if k < 2 or i2 is None:
        domains.append(("inconsistency", 0, "single study: not assessable"))
    elif i2 >= inc["very_serious_i2"]:
        domains.append(("inconsistency", 2, f"I² {i2:.0f}% ≥ {inc['very_serious_i2']}%"))
    elif i2 >= inc["serious_i2"]:
        domains.append(("inconsistency", 1, f"I² {i2:.0f}% ≥ {inc['serious_i2']}%"))
    elif (
        pi_low is not None
        and pi_high is not None
        and pi_low < 0 < pi_high
        and not (ci_low < 0 < ci_high)
    ):
        domains.append(("inconsistency", 1, "prediction interval includes no effect"))
    else:
        domains.append(("inconsistency", 0, f"I² {i2:.0f}%"))

    imp = rules["imprecision"]
    ois_rule = imp["optimal_information_size"]
    ois = ois_rule["binary" if binary else "continuous"]
    if isinstance(ois, dict):  # version 3: computed (see `optimal_information_size`)
        z = 1.959963984540054 + 0.8416212335729143
        ois = math.ceil(4 * z * z / 0.2**2) if not binary else 300
    crosses = ci_low < 0 < ci_high
    small = participants < ois
    reasons = []
    if crosses:
        reasons.append("CI includes no effect")
    if small:
        reasons.append(f"{participants} participants < optimal information size {ois}")
    domains.append(
        (
            "imprecision",
            min(2, int(crosses) + int(small)),
            "; ".join(reasons) or f"CI excludes no effect; {participants} participants",
        )
    )

    pb = rules["publication_bias"]
    if k < pb["min_k"]:
        domains.append(("publication bias", 0, f"not assessed: k = {k} < {pb['min_k']}"))
    elif egger_note:
        domains.append(("publication bias", 0, f"not assessed: Egger test {egger_note}"))
    elif egger_p is not None and egger_p < pb.get("egger_p", pb.get("p", 0.10)):
        domains.append(("publication bias", 1, f"Egger test p = {egger_p:.3f}"))
    else:
        domains.append(("publication bias", 0, "Egger test not significant"))

    if indirectness is not None:
        domains.append(("indirectness", indirectness.downgrade, indirectness.reason))
    else:
        domains.append(
            (
                "indirectness",
                1 if indirect else 0,
                "outcome flagged indirect in the protocol" if indirect else "direct",
            )
        )
    lowered = sum(d[1] for d in domains)
    level = LEVELS[max(0, LEVELS.index(start) - lowered)]
    return Certainty(level, start, tuple(domains))
