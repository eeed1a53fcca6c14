"""The rule set (YAML) and its evaluation: features in, a level and its reasons out."""

from __future__ import annotations

import operator
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


class RuleSet(_M):
    rule_set: str
    version: str
    design_groups: dict[str, list[str]]
    harm_outcome_prefixes: list[str] = Field(default_factory=list)
    levels: list[LevelRule]
    grade: dict[str, Any]
    frequency_bands: list[dict[str, Any]]
    # Side-effect rules, checked by evidence.tables.harm_rules when the table is built.
    harms: dict[str, Any] = Field(default_factory=dict)

    @field_validator("levels")
    @classmethod
    def _ends_with_fallback(cls, v: list[LevelRule]) -> list[LevelRule]:
        if not v or v[-1].all or v[-1].any:
            raise ValueError("the last level must have no conditions, so every input gets a level")
        return v


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
    named = {c.feature for rule in rules.levels for c in (*rule.all, *rule.any)}
    unknown = sorted(named - set(features))
    if unknown:
        raise KeyError(f"rule set {rules.version} refers to unknown features: {unknown}")
    for rule in rules.levels:
        if rule.matches(features):
            held = [c.describe() for c in rule.all]
            if rule.any:
                held.append(
                    "any of: " + "; ".join(c.describe() for c in rule.any if c.holds(features))
                )
            why = f"{summary} → {rule.level}"
            return Rating(rule.level, rules.version, tuple(held), why)
    raise AssertionError("unreachable: the last level always matches")
