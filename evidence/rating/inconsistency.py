"""GRADE inconsistency: how much the studies' effects disagree, from I² and the prediction interval.

I² says how much of the spread is beyond chance, but with few studies it is itself very
uncertain, so its Q-profile 95% CI is shown; the prediction interval (the Cochrane Handbook's
form, t with k - 2 df) says where a new study's effect may lie: if it spans no effect while the
pooled CI does not, the studies disagree about the direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from evidence.rating.domains import DomainJudgement

DOMAIN = "inconsistency"


@dataclass(frozen=True)
class Heterogeneity:
    """What the judgement needs of one pool, on the analysis scale (log for ratios)."""

    k: int
    i2: float | None
    i2_low: float | None = None
    i2_high: float | None = None
    i2_note: str = ""  # why the CI of I² is missing
    pi_low: float | None = None  # the Handbook's prediction interval
    pi_high: float | None = None
    pi_note: str = ""  # why the prediction interval is missing


def _i2_text(h: Heterogeneity) -> str:
    assert h.i2 is not None
    if h.i2_low is not None and h.i2_high is not None:
        return f"I² {h.i2:.0f}% (95% CI {h.i2_low:.0f}% to {h.i2_high:.0f}%)"
    return f"I² {h.i2:.0f}% ({h.i2_note or 'no CI of I²'})"


def _pi_text(h: Heterogeneity, show: Any) -> str:
    if h.pi_low is None or h.pi_high is None:
        return h.pi_note or "no prediction interval"
    return f"prediction interval {show(h.pi_low)} to {show(h.pi_high)}"


def judge_inconsistency(
    rules: dict[str, Any],
    h: Heterogeneity,
    ci_low: float,
    ci_high: float,
    show: Any = lambda x: f"{x:.2f}",
) -> DomainJudgement:
    """Thresholds from the rule set; `show` prints a bound on the outcome's scale."""
    min_k = int(rules.get("min_k", 2))
    if h.k < min_k:
        return DomainJudgement(
            DOMAIN,
            "not judgeable",
            f"k = {h.k}: a single study shows no variation between studies"
            if h.k == 1
            else f"k = {h.k} < {min_k} studies",
        )
    if h.i2 is None:
        return DomainJudgement(DOMAIN, "not judgeable", "I² not available for this pool")
    facts = f"{_i2_text(h)}; {_pi_text(h, show)}"
    if h.i2 >= rules["very_serious_i2"]:
        return DomainJudgement(DOMAIN, "very serious", f"{facts}; I² ≥ {rules['very_serious_i2']}%")
    if h.i2 >= rules["serious_i2"]:
        return DomainJudgement(DOMAIN, "serious", f"{facts}; I² ≥ {rules['serious_i2']}%")
    pi_crosses = h.pi_low is not None and h.pi_high is not None and h.pi_low < 0 < h.pi_high
    ci_crosses = ci_low < 0 < ci_high
    rule = rules.get("prediction_interval_crosses_null", "serious")
    if pi_crosses and not ci_crosses and rule in ("serious", "very serious"):
        return DomainJudgement(
            DOMAIN,
            rule,
            f"{facts}; the prediction interval includes no effect while the CI excludes it",
        )
    return DomainJudgement(DOMAIN, "no concern", f"{facts}; I² < {rules['serious_i2']}%")
