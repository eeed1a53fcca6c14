"""The protocol's rule set, checked by `evidence validate` as strictly as the tables.

The file is read by the project's one YAML loader, parsed as a run parses it (`load_rules`
strictly, then every section through the parser of the module that uses it), and then:
each rule's conditions name features the rating computes and compare them with values of
their kind; a condition that holds for every value its feature can take (`trials >= 0`), or
for none (`share > 1`), and a rule before the last with no condition at all (always true: the
rules after it are unreachable) are reported; design names are the data's designs; the
frequency bands are labelled once each, fall strictly from top to bottom and end at 0; the
GRADE thresholds lie in their ranges; the version is the protocol's `rule_set_version`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from evidence.inputs.protocol import Protocol
from evidence.inputs.schemas import DESIGNS
from evidence.inputs.textfile import InputFileError
from evidence.inputs.yamlfile import load_yaml

# Design groups the rating reads by name (evidence.rating.features, comparisons).
REQUIRED_DESIGN_GROUPS = (
    "placebo_rct",
    "active_rct",
    "review",
    "observational",
    "case_report",
    "preclinical",
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True, allow_inf_nan=False, strict=True)


class FrequencyBand(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)
    label: str = Field(min_length=1)
    min: float = Field(ge=0, le=100)  # a lower bound in percent


class Inconsistency(_Strict):
    min_k: int = Field(ge=2)
    serious_i2: float = Field(ge=0, le=100)
    very_serious_i2: float = Field(ge=0, le=100)


class PublicationBias(_Strict):
    min_k: int = Field(ge=3)
    p: float = Field(gt=0, lt=1)


class Imprecision(_Strict):
    very_serious_below_share: float = Field(default=0.5, gt=0, lt=1)


class Indirectness(_Strict):
    serious_share: float = Field(default=0.5, gt=0, le=1)
    very_serious_sources: int = Field(default=2, ge=1)


class Grade(_Strict):
    """The GRADE section's thresholds that a run compares against (other keys are checked by
    the modules that read them)."""

    inconsistency: Inconsistency | None = None
    publication_bias: PublicationBias | None = None
    imprecision: Imprecision | None = None
    indirectness: Indirectness | None = None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_rule_set_file(path: Path, label: str, protocol: Protocol) -> list[Any]:
    """Every problem of the rule set at `path` (shown as `label`), as `validate.Issue`s."""
    from evidence.inputs.validate import Issue, file_issue

    def issue(where: str | int, fld: str, found: object, expected: str) -> Issue:
        return Issue(
            label, where, fld, found if isinstance(found, str) else _shown(found), expected
        )

    try:
        raw = load_yaml(path, label)
    except InputFileError as exc:
        return [file_issue(exc)]
    if not isinstance(raw, dict):
        return [issue(0, "(top)", raw, "expected a mapping of rule-set sections")]
    from evidence.rating.rules import (
        COMPARISON_FEATURES,
        INDICATION_FEATURES,
        INTERACTION_FEATURES,
        RuleSet,
        rule_list_problems,
    )

    try:
        rules = RuleSet.model_validate(raw, strict=True)
    except ValidationError as exc:
        return [
            issue(
                ".".join(str(p) for p in err["loc"]) or "(top)",
                str(err["loc"][-1]) if err["loc"] else "(top)",
                err.get("input"),
                str(err["msg"]).removeprefix("Value error, "),
            )
            for err in exc.errors()
        ]
    out: list[Issue] = []
    if rules.version != protocol.rating.rule_set_version:
        out.append(
            issue(
                "version",
                "version",
                rules.version,
                f"expected the protocol's rating.rule_set_version "
                f"{protocol.rating.rule_set_version!r}",
            )
        )
    lists: list[tuple[str, Any, dict]] = [("levels", rules.levels, INTERACTION_FEATURES)]
    if rules.by_comparison is not None:
        bc = rules.by_comparison
        lists += [
            ("by_comparison.levels", bc.levels, COMPARISON_FEATURES),
            ("by_comparison.indication_levels", bc.indication_levels, INDICATION_FEATURES),
        ]
    out += _design_problems(rules, issue)
    out += _band_problems(rules.frequency_bands, issue)
    try:
        Grade.model_validate(rules.grade)
    except ValidationError as exc:
        out += [
            issue(
                "grade." + ".".join(str(p) for p in err["loc"]),
                str(err["loc"][-1]),
                err.get("input"),
                str(err["msg"]),
            )
            for err in exc.errors()
        ]
    out += _section_problems(rules, protocol, issue, lists)
    for where, rule_list, known in lists:
        for sub, fld, found, expected in rule_list_problems(rule_list, known):
            out.append(issue(f"{where}{sub}", fld, found, expected))
    return out


def _design_problems(rules: Any, issue: Any) -> list[Any]:
    out = []
    for name in REQUIRED_DESIGN_GROUPS:
        if name not in rules.design_groups:
            out.append(issue("design_groups", name, "missing", "expected this design group"))
    named: list[tuple[str, list[str]]] = [
        (f"design_groups.{k}", v) for k, v in rules.design_groups.items()
    ]
    harms = rules.harms or {}
    for key in ("incidence_designs", "label_designs", "signal_designs", "crossover_designs"):
        if isinstance(harms.get(key), list):
            named.append((f"harms.{key}", harms[key]))
    for i, t in enumerate((rules.interactions or {}).get("evidence_types") or []):
        if isinstance(t, dict) and isinstance(t.get("designs"), list):
            named.append((f"interactions.evidence_types[{i}].designs", t["designs"]))
    for where, designs in named:
        for d in designs:
            if d not in DESIGNS:
                out.append(issue(where, "design", d, "expected a design of the data's vocabulary"))
    return out


def _band_problems(bands: list[dict[str, Any]], issue: Any) -> list[Any]:
    out = []
    parsed: list[FrequencyBand] = []
    for i, band in enumerate(bands):
        try:
            parsed.append(FrequencyBand.model_validate(band))
        except ValidationError as exc:
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                out.append(
                    issue(f"frequency_bands[{i}]", loc or "(band)", err.get("input"), err["msg"])
                )
    if out or not parsed:
        return out or [issue("frequency_bands", "(list)", "[]", "expected at least one band")]
    labels = [b.label for b in parsed]
    for i, b in enumerate(parsed):
        if labels.index(b.label) != i:
            out.append(issue(f"frequency_bands[{i}]", "label", b.label, "expected each label once"))
        if i and b.min >= parsed[i - 1].min:
            out.append(
                issue(
                    f"frequency_bands[{i}]",
                    "min",
                    f"{b.min:g}",
                    f"expected bands from the most to the least frequent: below "
                    f"{parsed[i - 1].min:g} ({parsed[i - 1].label})",
                )
            )
    if parsed[-1].min != 0:
        out.append(
            issue(
                f"frequency_bands[{len(parsed) - 1}]",
                "min",
                f"{parsed[-1].min:g}",
                "expected 0 for the last band, so every frequency has a band",
            )
        )
    return out


def _section_problems(rules: Any, protocol: Protocol, issue: Any, lists: list) -> list[Any]:
    """Each optional section through the parser of the module that reads it in a run."""
    from evidence.rating.risk_of_bias import rules_of
    from evidence.rating.rules import CLAIM_FEATURES
    from evidence.tables.claims_audit import ClaimRules
    from evidence.tables.dosage import DosageRules
    from evidence.tables.harm_rules import harm_rules
    from evidence.tables.interactions import InteractionRules

    parsers: list[tuple[str, Any]] = [
        ("dosage", lambda: DosageRules.from_section(rules.dosage)),
        ("interactions", lambda: InteractionRules.from_section(rules.interactions)),
        ("harms", lambda: harm_rules(rules.harms, rules.rule_set)),
        ("grade.risk_of_bias", lambda: rules_of(rules.grade)),
    ]
    out = []
    for where, parse in parsers:
        try:
            parse()
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            out.append(
                issue(where, "(section)", str(exc).splitlines()[0], "expected a valid section")
            )
    if rules.claims:
        try:
            claim_rules = ClaimRules.from_section(rules.claims, protocol.claims_audit)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            out.append(
                issue("claims", "(section)", str(exc).splitlines()[0], "expected a valid section")
            )
        else:
            for name, verdicts in claim_rules.verdicts.items():
                lists.append((f"claims.verdicts.{name}", verdicts, CLAIM_FEATURES))
    return out
