"""The rule set (YAML) and its evaluation: features in, a level and its reasons out."""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from evidence.inputs.yamlfile import load_yaml

LEVELS = ("Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient")
OPS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "==": operator.eq,
    "!=": operator.ne,
}


class _M(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_M):
    feature: str
    op: Literal[">=", ">", "<=", "<", "==", "!="]
    value: float | bool

    def holds(self, features: dict[str, Any]) -> bool:
        if self.feature not in features:
            raise KeyError(f"rule refers to unknown feature {self.feature!r}")
        got = features[self.feature]
        if got is None:
            return False
        return bool(OPS[self.op](got, self.value))

    def describe(self) -> str:
        value = str(self.value).lower() if isinstance(self.value, bool) else f"{self.value:g}"
        return f"{self.feature} {self.op} {value}"


class LevelRule(_M):
    level: Literal["Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient"]
    all: list[Condition] = Field(default_factory=list)
    any: list[Condition] = Field(default_factory=list)

    @field_validator("all", "any", mode="before")
    @classmethod
    def _triples(cls, v: Any) -> Any:
        return [
            {"feature": c[0], "op": c[1], "value": c[2]} if isinstance(c, list | tuple) else c
            for c in (v or [])
        ]

    def matches(self, features: dict[str, Any]) -> bool:
        ok_all = all(c.holds(features) for c in self.all)
        ok_any = not self.any or any(c.holds(features) for c in self.any)
        return ok_all and ok_any


def _fallback_last(v: list[Any]) -> list[Any]:
    if not v or v[-1].all or v[-1].any:
        raise ValueError("the last level must have no conditions, so every input gets a level")
    return v


class IndicationLevelRule(LevelRule):
    """An indication's level; `carried` takes the level of the comparison that carries it."""

    level: Literal[  # type: ignore[assignment]
        "carried", "Strong", "Mixed", "Preclinical", "Experimental/limited", "Insufficient"
    ]


class ByComparison(_M):
    """Rules rating each comparison from its pooled results and its trials' directions."""

    pooled_min_k: int = Field(ge=2)  # a smaller "pool" is one trial: it votes instead
    certainty_ranks: dict[str, int]  # GRADE level -> rank compared by the conditions
    levels: list[LevelRule]
    carry_order: list[str]  # levels, best first: the comparison ranked first carries
    indication_levels: list[IndicationLevelRule]

    @field_validator("levels", "indication_levels")
    @classmethod
    def _ends_with_fallback(cls, v: list[Any]) -> list[Any]:
        return _fallback_last(v)

    @field_validator("carry_order")
    @classmethod
    def _known_levels(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(LEVELS))
        if unknown:
            raise ValueError(f"carry_order names unknown levels: {unknown}")
        return v


class RuleSet(_M):
    rule_set: str
    version: str
    design_groups: dict[str, list[str]]
    harm_outcome_prefixes: list[str] = Field(default_factory=list)
    levels: list[LevelRule]
    grade: dict[str, Any]
    frequency_bands: list[dict[str, Any]]
    # From version 2: uses are rated per comparison; `levels` then rate only interaction rows.
    by_comparison: ByComparison | None = None
    # Optional sections, each validated by the module that reads it.
    interactions: dict[str, Any] = Field(default_factory=dict)  # evidence.tables.interactions
    dosage: dict[str, Any] = Field(default_factory=dict)  # evidence.tables.dosage
    claims: dict[str, Any] = Field(default_factory=dict)  # evidence.tables.claims_audit
    harms: dict[str, Any] = Field(default_factory=dict)  # evidence.tables.harm_rules

    @field_validator("levels")
    @classmethod
    def _ends_with_fallback(cls, v: list[LevelRule]) -> list[LevelRule]:
        return _fallback_last(v)


@dataclass(frozen=True)
class Rating:
    level: str
    rule_set_version: str
    conditions: tuple[str, ...]
    reasons: str


def load_rules(path: Path) -> RuleSet:
    """The rule set at `path`, read by the project's one YAML loader and checked strictly
    (no text where a number belongs); `InputFileError` or `ValidationError` otherwise."""
    return RuleSet.model_validate(load_yaml(path), strict=True)


# What each list of rules may test, and the values each feature can take: `count` (0, 1, ...),
# `share` (0 to 1), `rank` (-1, 0, 1, ...), `int` (any whole number), `bool`. Names come from
# evidence.rating.features (interaction rows), evidence.rating.comparisons (comparisons and
# indications) and evidence.tables.claims_audit (verdicts); a name not listed here is refused
# by `evidence validate`, as the rating would refuse it.
Domain = Literal["count", "share", "rank", "int", "bool"]
_COUNT: Domain = "count"
INTERACTION_FEATURES: dict[str, Domain] = {
    **dict.fromkeys(
        "placebo_rcts active_rcts placebo_rcts_with_direction rcts_with_direction reviews "
        "narrative_reviews observational case_reports preclinical human_studies "
        "published_significant published_null pooled_benefit pooled_null pooled_harm".split(),
        _COUNT,
    ),
    "placebo_favour_share": "share",
    "active_supportive_share": "share",
    "preclinical_minus_human_trials": "int",
    "published_conflict": "bool",
    "pooled_conflict": "bool",
}
COMPARISON_FEATURES: dict[str, Domain] = {
    **dict.fromkeys(
        "trials evidence_trials pooled_outcomes pooled_benefit pooled_null pooled_harm "
        "pooled_benefit_k vote_trials vote_favour vote_against".split(),
        _COUNT,
    ),
    "pooled_benefit_certainty": "rank",
    "vote_favour_share": "share",
    "vote_other_share": "share",
    "sign_test_p": "share",
}
INDICATION_FEATURES: dict[str, Domain] = dict.fromkeys(
    ["human_controlled_trials", "preclinical", "human_studies"], _COUNT
)
CLAIM_FEATURES: dict[str, Domain] = {
    **dict.fromkeys(
        "pool_benefit pool_null pool_harm trials_favour trials_null trials_against "
        "controlled_favour controlled_not_favour uncontrolled_favour preclinical human_studies "
        "syntheses_excluding_null syntheses_including_null figures_uncontrolled "
        "figures_controlled human_same human_opposite nonhuman_same nonhuman_opposite "
        "linked_recommendations linked_statements band_gap".split(),
        _COUNT,
    ),
    **dict.fromkeys(
        "trials_against_only same_level about_studies within_recommended within_studied "
        "claims_reversible reversibility_reported assessable dose_dependence_unshown signals "
        "human_evidence".split(),
        "bool",
    ),
    "overstated_by": "int",
    "strength_rank": "int",
}
_RANGES: dict[str, tuple[float, float]] = {
    "count": (0, math.inf),
    "share": (0, 1),
    "rank": (-1, math.inf),
    "int": (-math.inf, math.inf),
}


def _always_never(domain: Domain, op: str, value: float | bool) -> tuple[bool, bool]:
    """Whether `feature op value` holds for every value of the feature's domain, or for none
    (a feature that is unknown, None, makes a condition false whatever it says)."""
    if domain == "bool":
        results = [bool(OPS[op](x, value)) for x in (False, True)]
        return all(results), not any(results)
    lo, hi = _RANGES[domain]
    whole = domain != "share"
    v = float(value)
    outside = v < lo or v > hi or (whole and not v.is_integer())
    always, never = {
        ">=": (lo >= v, hi < v),
        ">": (lo > v, hi <= v),
        "<=": (hi <= v, lo > v),
        "<": (hi < v, lo >= v),
        "==": (lo == hi == v, outside),
        "!=": (outside, lo == hi == v),
    }[op]
    return always, never


def condition_problems(c: Condition, known: dict[str, Domain]) -> list[tuple[str, str, str]]:
    """(field, found, expected) for a condition naming an unknown feature, comparing a flag with
    a number (or the reverse), or holding always or never."""
    if c.feature not in known:
        return [("feature", c.feature, f"expected one of: {', '.join(sorted(known))}")]
    domain = known[c.feature]
    if (domain == "bool") != isinstance(c.value, bool):
        want = "true or false" if domain == "bool" else "a number"
        return [("value", c.describe(), f"expected {want}: {c.feature} is a {domain}")]
    if domain == "bool" and c.op not in ("==", "!="):
        return [("op", c.describe(), f"expected == or != for a flag ({c.feature})")]
    always, never = _always_never(domain, c.op, c.value)
    if always:
        return [("(condition)", c.describe(), f"expected a test: it holds for every {domain}")]
    if never:
        return [("(condition)", c.describe(), f"expected a condition that can hold ({domain})")]
    return []


def rule_list_problems(
    rules: Sequence[Any], known: dict[str, Domain]
) -> list[tuple[str, str, str, str]]:
    """(where, field, found, expected) in one ordered list of rules (tried first to last):
    conditions as `condition_problems` says, and a rule before the last without any condition,
    which holds always and leaves the rules after it unreachable."""
    out: list[tuple[str, str, str, str]] = []
    for i, rule in enumerate(rules):
        for part in ("all", "any"):
            for j, c in enumerate(getattr(rule, part)):
                out += [(f"[{i}].{part}[{j}]", *p) for p in condition_problems(c, known)]
        if i < len(rules) - 1 and not rule.all and not rule.any:
            out.append(
                (
                    f"[{i}]",
                    "(rule)",
                    "no conditions",
                    f"expected conditions: a rule before the last that always holds leaves "
                    f"the {len(rules) - 1 - i} after it unreachable",
                )
            )
    return out


def rate(rules: RuleSet, features: dict[str, Any], summary: str) -> Rating:
    """The first level whose conditions hold; `summary` states the evidence in words."""
    return rate_with(rules.levels, rules.version, features, summary)


def rate_with(
    levels: Sequence[LevelRule], version: str, features: dict[str, Any], summary: str
) -> Rating:
    """The first of `levels` whose conditions hold (any list of levels of a rule set)."""
    named = {c.feature for rule in levels for c in (*rule.all, *rule.any)}
    unknown = sorted(named - set(features))
    if unknown:
        raise KeyError(f"rule set {version} refers to unknown features: {unknown}")
    for rule in levels:
        if rule.matches(features):
            held = [c.describe() for c in rule.all]
            if rule.any:
                held.append(
                    "any of: " + "; ".join(c.describe() for c in rule.any if c.holds(features))
                )
            why = f"{summary} → {rule.level}"
            return Rating(rule.level, version, tuple(held), why)
    raise AssertionError("unreachable: the last level always matches")
