"""The rule set's `harms:` section: which designs give a frequency, which only a signal.

Kept as data so a panel can read and change the rules without reading code: which study
designs have a denominator of exposed people, in what order sources set a frequency band, how
many exposed participants a pooled count needs, when a relative risk may be claimed, and the
words in the data that say an effect is reversible.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from evidence.tables.common import RuleSection

BandSource = Literal["label", "counts", "printed", "few_counts"]


class ReversibilityTerm(RuleSection):
    term: str = Field(min_length=1)
    says: str = Field(min_length=1)


class HarmRules(RuleSection):
    # Designs whose drug arms count exposed participants: their counts give an incidence.
    incidence_designs: list[str] = Field(min_length=1)
    # Among those, designs whose printed percentages are a label's (they rank first, see below).
    label_designs: list[str] = Field(default_factory=list)
    # Designs whose rows are listed as signals with their counts, never as a frequency.
    signal_designs: list[str] = Field(default_factory=list)
    # Sources tried in order to set the band; the first that has data sets it.
    band_order: list[BandSource] = Field(min_length=1)
    # `counts` sets the band only with at least this many exposed participants.
    min_exposed: int = Field(ge=1)
    # A relative risk against placebo is claimed only from this many trials with counts.
    rr_min_trials: int = Field(ge=1)
    # Designs whose arms are the same people in two periods: named when an RR uses them.
    crossover_designs: list[str] = Field(default_factory=list)
    # Counts computed from printed numbers are left out of incidence and RR when true.
    exclude_derived: bool = False
    reversibility_terms: list[ReversibilityTerm] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> HarmRules:
        both = sorted(set(self.incidence_designs) & set(self.signal_designs))
        if both:
            raise ValueError(f"designs both incidence and signal: {both}")
        stray = sorted(set(self.label_designs) - set(self.incidence_designs))
        if stray:
            raise ValueError(f"label_designs must also be incidence_designs: {stray}")
        if len(set(self.band_order)) != len(self.band_order):
            raise ValueError(f"band_order repeats a source: {self.band_order}")
        return self


def harm_rules(section: dict[str, Any], rule_set: str) -> HarmRules:
    """The `harms:` section checked, with an error that names the rule set and the field."""
    if not section:
        raise ValueError(f"rule set {rule_set!r} has no `harms:` section (side-effect rules)")
    try:
        return HarmRules.model_validate(section)
    except ValidationError as e:
        where = "; ".join(
            f"harms.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ValueError(f"rule set {rule_set!r}: {where}") from None
