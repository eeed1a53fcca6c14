"""One GRADE domain's judgement for one pooled comparison and outcome.

Every domain is always reported, including those that lowered nothing and those that could not
be judged, so a reader sees the whole assessment (GRADEpro's summary-of-findings layout).
"""

from __future__ import annotations

from dataclasses import dataclass

DOMAINS = ("risk of bias", "inconsistency", "indirectness", "imprecision", "publication bias")
JUDGEMENTS = ("no concern", "serious", "very serious", "not judgeable")
_DOWNGRADE = {"no concern": 0, "serious": 1, "very serious": 2, "not judgeable": 0}


@dataclass(frozen=True)
class DomainJudgement:
    """`downgrade` follows from `judgement` (levels lowered); `reason` says why, in words."""

    domain: str
    judgement: str
    reason: str

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown GRADE domain {self.domain!r}; expected one of {DOMAINS}")
        if self.judgement not in JUDGEMENTS:
            raise ValueError(f"unknown judgement {self.judgement!r}; expected one of {JUDGEMENTS}")
        if not self.reason.strip():
            raise ValueError(f"{self.domain}: a judgement needs its reason")

    @property
    def downgrade(self) -> int:
        return _DOWNGRADE[self.judgement]
