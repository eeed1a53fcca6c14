"""GRADE imprecision: the CI against decision thresholds, and the optimal information size.

Following GRADE's guidance (guidelines 6; guidance 34), the CI is set against the thresholds
that would change a decision: the protocol's `decision_threshold` of the outcome (or its MID for
a continuous outcome), mirrored for harm. Crossing one threshold is serious, both very serious.
Without thresholds the fallback is whether the CI includes no effect, and the reason says so.
The optimal information size (OIS) is the sample one adequately powered trial would need; a pool
below it is imprecise even with a CI clear of the thresholds, and far below it very seriously.
The worse of the two criteria decides (they do not add up).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from evidence.inputs.protocol import DecisionThreshold, Mid
from evidence.rating.domains import DomainJudgement

DOMAIN = "imprecision"
_ORDER = ("no concern", "serious", "very serious")


@dataclass(frozen=True)
class Thresholds:
    """Decision thresholds on the analysis scale (log for ratios): harm side, benefit side."""

    low: float
    high: float
    text: str  # the thresholds on the outcome's scale and where they come from


@dataclass(frozen=True)
class InformationSize:
    ois: int | None
    how: str  # how it was computed, or why it could not be


def optimal_information_size(
    rules: dict[str, Any], binary: bool, control_risk: float | None, benefit: str
) -> InformationSize:
    """Total participants for one trial at the rule set's alpha and power.

    Binary: two proportions, the control risk and a relative change of `relative_change` in
    the direction of benefit; continuous: a standardised difference d, 4(z_a + z_b)^2 / d^2.
    A version-2 rule set gives fixed totals instead.
    """
    spec = rules["optimal_information_size"]
    kind = "binary" if binary else "continuous"
    rule = spec[kind]
    if not isinstance(rule, dict):
        return InformationSize(int(rule), f"fixed total from the rule set ({kind})")
    alpha, power = float(spec["alpha"]), float(spec["power"])
    z = NormalDist().inv_cdf(1 - alpha / 2) + NormalDist().inv_cdf(power)
    where = f"two-sided alpha {alpha:g}, power {power:g}"
    if not binary:
        d = float(rule["standardised_difference"])
        return InformationSize(
            math.ceil(4 * z * z / (d * d)), f"to detect a standardised difference of {d:g}, {where}"
        )
    if control_risk is None or not 0 < control_risk < 1:
        return InformationSize(None, "OIS not computable: no control-arm risk in the pool")
    rel = float(rule["relative_change"])
    p0 = control_risk
    p1 = p0 * (1 + rel) if benefit == "higher" else p0 * (1 - rel)
    if not 0 < p1 < 1:
        p1 = p0 * (1 - rel)
    per_arm = z * z * (p0 * (1 - p0) + p1 * (1 - p1)) / (p0 - p1) ** 2
    change = "increase" if p1 > p0 else "reduction"
    return InformationSize(
        2 * math.ceil(per_arm),
        f"to detect a {rel:.0%} relative {change} from a control risk of {p0:.1%}, {where}",
    )


def decision_thresholds(
    measure: str,
    threshold: DecisionThreshold | None,
    mid: Mid | None,
    control_risk: float | None,
) -> tuple[Thresholds | None, str]:
    """The thresholds on the analysis scale, or None and why (then: crosses no effect)."""
    ratio = measure in ("RR", "OR")
    if threshold is None and mid is not None and measure == "MD":
        m = mid.value
        return Thresholds(-m, m, f"±{m:g} (the MID; {mid.source})"), ""
    if threshold is None:
        return None, "no decision threshold in the protocol"
    if threshold.effect is not None:
        e = threshold.effect
        if ratio:
            if e == 1:
                return None, "decision threshold of ratio 1 is no effect itself"
            t = abs(math.log(e))
            return Thresholds(
                -t, t, f"{measure} {math.exp(-t):.2f} and {math.exp(t):.2f} ({threshold.source})"
            ), ""
        if measure in ("MD", "SMD", "RD"):
            return Thresholds(-e, e, f"±{e:g} ({threshold.source})"), ""
        return None, f"no decision threshold for measure {measure}"
    d = float(threshold.per_1000 or 0) / 1000
    if measure == "RD":
        return Thresholds(-d, d, f"±{d * 1000:g} per 1,000 ({threshold.source})"), ""
    if not ratio:
        return None, "a threshold per 1,000 needs a binary outcome"
    if control_risk is None or not 0 < control_risk < 1:
        return None, "the threshold per 1,000 needs a control risk, and the pool has none"
    cr = control_risk
    hi, lo = min(cr + d, 0.999999), max(cr - d, 1e-6)
    if measure == "RR":
        up, down = math.log(hi / cr), math.log(lo / cr)
    else:
        odds = cr / (1 - cr)
        up, down = math.log(hi / (1 - hi) / odds), math.log(lo / (1 - lo) / odds)
    text = (
        f"±{d * 1000:g} per 1,000 from a control risk of {cr:.1%}: {measure} "
        f"{math.exp(down):.2f} and {math.exp(up):.2f} ({threshold.source})"
    )
    return Thresholds(down, up, text), ""


def judge_imprecision(
    rules: dict[str, Any],
    *,
    ci_low: float,
    ci_high: float,
    participants: int,
    information: InformationSize,
    thresholds: Thresholds | None,
    no_threshold_why: str = "no decision threshold in the protocol",
    show: Any = lambda x: f"{x:.2f}",
) -> DomainJudgement:
    """The worse of the CI criterion and the OIS criterion; the reason gives both."""
    ci = f"95% CI {show(ci_low)} to {show(ci_high)}"
    if thresholds is not None:
        crossed = sum(ci_low < t < ci_high for t in (thresholds.low, thresholds.high))
        ci_level = (
            "no concern"
            if crossed == 0
            else rules.get("ci_crosses_one_threshold", "serious")
            if crossed == 1
            else rules.get("ci_crosses_both_thresholds", "very serious")
        )
        which = ("neither decision threshold", "one decision threshold", "both decision thresholds")
        ci_text = f"{ci} crosses {which[crossed]} ({thresholds.text})"
    else:
        crosses = ci_low < 0 < ci_high
        ci_level = rules.get("ci_crosses_null", "serious") if crosses else "no concern"
        ci_text = (
            f"{ci} {'includes' if crosses else 'excludes'} no effect "
            f"({no_threshold_why}: judged against no effect)"
        )
    if information.ois is None:
        ois_level, ois_text = "no concern", information.how
    else:
        share = float(rules.get("very_serious_below_share", 0.0))
        ois = information.ois
        if participants < share * ois:
            ois_level = "very serious"
            ois_text = f"{participants} participants < {share:g} × OIS {ois}"
        elif participants < ois:
            ois_level = "serious"
            ois_text = f"{participants} participants < OIS {ois}"
        else:
            ois_level = "no concern"
            ois_text = f"{participants} participants ≥ OIS {ois}"
        ois_text += f" ({information.how})"
    level = max(ci_level, ois_level, key=_ORDER.index)
    return DomainJudgement(DOMAIN, level, f"{ci_text}; {ois_text}")
