"""GRADE certainty of one pooled outcome: all five domains, each with its judgement and reason.

Every domain is always returned, in GRADEpro's order, including those that lowered nothing and
those that could not be judged ("not judgeable", with what is missing): a summary of findings
that lists only the domains that lowered certainty hides the assessment a panel must sign.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from evidence.rating.domains import DOMAINS, DomainJudgement
from evidence.rating.imprecision import InformationSize, Thresholds, judge_imprecision
from evidence.rating.inconsistency import Heterogeneity, judge_inconsistency
from evidence.rating.publication_bias import StudyData, judge_publication_bias

LEVELS = ("Very low", "Low", "Moderate", "High")


@dataclass(frozen=True)
class Certainty:
    level: str
    start: str
    domains: tuple[DomainJudgement, ...]  # the five GRADE domains, in DOMAINS order

    def domain(self, name: str) -> DomainJudgement:
        for d in self.domains:
            if d.domain == name:
                return d
        raise KeyError(name)

    @property
    def lowered(self) -> int:
        return sum(d.downgrade for d in self.domains)

    def footnotes(self) -> str:
        return "; ".join(f"{d.domain}: {d.judgement}: {d.reason}" for d in self.domains)


def _not_judged(domain: str, missing: str) -> DomainJudgement:
    return DomainJudgement(domain, "not judgeable", missing)


def grade_outcome(
    rules: dict[str, Any],
    *,
    randomised: bool,
    k: int,
    ci_low: float,
    ci_high: float,
    participants: int,
    binary: bool,
    heterogeneity: Heterogeneity | None = None,
    i2: float | None = None,
    pi_low: float | None = None,
    pi_high: float | None = None,
    information: InformationSize | None = None,
    thresholds: Thresholds | None = None,
    no_threshold_why: str = "no decision threshold in the protocol",
    study_data: StudyData | None = None,
    method: str = "REML",
    show: Callable[[float], str] = lambda x: f"{x:.2f}",
    risk_of_bias: DomainJudgement | None = None,
    indirectness: DomainJudgement | None = None,
) -> Certainty:
    """Start from the design, lower once per serious concern, twice per very serious one.

    `rules` is the rule set's `grade` section. `risk_of_bias` and `indirectness` are judged
    from the pool's studies elsewhere; when None the domain is "not judgeable" and says what is
    missing (never a silent "no concern"). `show` prints an analysis-scale value on the
    outcome's scale (exp for ratios). `i2`, `pi_low`, `pi_high` stand in for a
    `heterogeneity` without the CI of I².
    """
    start = rules["start"]["randomised" if randomised else "observational"]
    rob = risk_of_bias or _not_judged(
        "risk of bias", "no risk-of-bias judgements recorded for the pool's studies"
    )
    het = heterogeneity or Heterogeneity(k=k, i2=i2, pi_low=pi_low, pi_high=pi_high)
    inc = judge_inconsistency(rules["inconsistency"], het, ci_low, ci_high, show)
    ind = indirectness or _not_judged(
        "indirectness",
        "no indirectness assessment of the pool's population, intervention, comparator and outcome",
    )
    imp = judge_imprecision(
        rules["imprecision"],
        ci_low=ci_low,
        ci_high=ci_high,
        participants=participants,
        information=information or InformationSize(None, "OIS not computed"),
        thresholds=thresholds,
        no_threshold_why=no_threshold_why,
        show=show,
    )
    pub = judge_publication_bias(
        rules["publication_bias"], k, binary, study_data or StudyData((), ()), method
    )
    domains = tuple(sorted((rob, inc, ind, imp, pub), key=lambda d: DOMAINS.index(d.domain)))
    lowered = sum(d.downgrade for d in domains)
    level = LEVELS[max(0, LEVELS.index(start) - lowered)]
    return Certainty(level, start, domains)
