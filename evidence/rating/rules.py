"""The rule set (YAML) and its evaluation: features in, a level and its reasons out."""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

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
    return RuleSet.model_validate(yaml.safe_load(Path(path).read_text(encoding="utf-8")))


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
