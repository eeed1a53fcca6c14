"""A domain judgement carries its downgrade and refuses unknown words or a missing reason."""

from __future__ import annotations

import pytest

from evidence.rating.domains import DomainJudgement


@pytest.mark.parametrize(
    ("judgement", "levels"),
    [("no concern", 0), ("serious", 1), ("very serious", 2), ("not judgeable", 0)],
)
def test_downgrade_follows_the_judgement(judgement: str, levels: int) -> None:
    assert DomainJudgement("imprecision", judgement, "why").downgrade == levels


@pytest.mark.parametrize(
    ("domain", "judgement", "reason"),
    [("bias", "serious", "x"), ("imprecision", "moderate", "x"), ("imprecision", "serious", " ")],
)
def test_unknown_words_and_missing_reasons_are_refused(
    domain: str, judgement: str, reason: str
) -> None:
    with pytest.raises(ValueError):
        DomainJudgement(domain, judgement, reason)
