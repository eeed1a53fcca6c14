"""A strict reader of daily doses written as text ("10 mg t.i.d.", "20 mg three times daily").

Papers print regimens, not daily doses. A regimen is read only when it states one unambiguous
daily amount: a dose per day, or a dose with a fixed number of intakes a day. Anything a reader
would have to guess at stays unknown, with the reason: ranges ("30-80 mg/day"), ceilings ("up
to 80 mg"), titration by tolerance, doses per kilogram, "as needed", medians or modes, single
doses without a frequency (a bolus), or several different daily doses in one text. A mean dose
("mean dose 93.6 mg/day") is an achieved dose and is reported apart from the assigned one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["assigned", "achieved_mean"]

# Intakes a day for each way papers write a fixed frequency.
FREQUENCIES: dict[str, int] = {
    "once daily": 1,
    "once a day": 1,
    "o.d.": 1,
    "od": 1,
    "q.d.": 1,
    "qd": 1,
    "b.i.d.": 2,
    "bid": 2,
    "twice daily": 2,
    "twice a day": 2,
    "two times daily": 2,
    "two times a day": 2,
    "t.i.d.": 3,
    "tid": 3,
    "thrice daily": 3,
    "three times daily": 3,
    "three times a day": 3,
    "q.i.d.": 4,
    "qid": 4,
    "four times daily": 4,
    "four times a day": 4,
}
PER_DAY = ("/day", "/d", " per day", " daily", " a day", " each day")
MASS_UNITS = {"mg": "mg", "ug": "ug", "µg": "ug", "μg": "ug", "mcg": "ug"}

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT = r"mg|ug|µg|μg|mcg"
_FREQ = "|".join(sorted((re.escape(f) for f in FREQUENCIES), key=len, reverse=True))
_DAY = "|".join(re.escape(d) for d in sorted(PER_DAY, key=len, reverse=True))
_MENTION = re.compile(
    rf"(?<![\w.,])(?P<lo>{_NUM})\s*(?:(?P<sep>-|–|—|to)\s*(?P<hi>{_NUM})\s*)?"
    rf"(?P<unit>{_UNIT})(?![a-zA-Z])"
    rf"(?P<kg>\s*(?:/|per)\s*kg)?"
    rf"(?:(?P<day>{_DAY})(?![a-zA-Z])"
    rf"|\s+(?:po\s+|orally\s+|by mouth\s+)?(?P<freq>{_FREQ})(?![a-zA-Z]))?",
    re.IGNORECASE,
)
# Words just before a dose that make it something other than the arm's daily dose.
_BEFORE_CUES: tuple[tuple[str, str], ...] = (
    ("up to", "a ceiling ('up to'), not the dose given"),
    ("maximum", "a maximum, not the dose given"),
    ("max", "a maximum, not the dose given"),
    ("median", "a median, not the arm's dose"),
    ("most often", "the most frequent dose, not the arm's dose"),
    ("usually", "a usual dose, not the arm's dose"),
    ("at least", "a lower bound, not the dose given"),
    ("minimum", "a minimum, not the dose given"),
    ("min ", "a minimum, not the dose given"),
    ("initial", "a starting dose, not the maintenance dose"),
    ("starting", "a starting dose, not the maintenance dose"),
    ("bolus", "a bolus, not a daily dose"),
    (">=", "a lower bound, not the dose given"),
    ("≥", "a lower bound, not the dose given"),
    ("≤", "an upper bound, not the dose given"),
    ("<", "a bound, not the dose given"),
    (">", "a bound, not the dose given"),
    ("±", "a spread around a mean, not the dose given"),
    ("+/-", "a spread around a mean, not the dose given"),
)
_AFTER_CUES: tuple[tuple[str, str], ...] = (
    ("prn", "taken as needed"),
    ("as needed", "taken as needed"),
    ("as required", "taken as needed"),
    ("caps", "a number of capsules that varies"),
)
_ACHIEVED = ("mean", "average")
_TARGET = ("target",)
_WINDOW = 30  # characters before a dose searched for cues


@dataclass(frozen=True)
class DailyDose:
    """What a text says about an arm's daily dose: a value, or why there is none.

    `status` is `known` (value set), `ambiguous` (a dose is written but cannot be read as one
    daily amount; `why` says why) or `none` (no dose in the unit looked for)."""

    status: Literal["known", "ambiguous", "none"]
    value: float | None = None
    unit: str = ""
    kind: Kind = "assigned"
    derived: bool = False
    how: str = ""
    why: str = ""


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _fmt(value: float) -> str:
    return f"{value:g}"


def _clause_before(text: str, start: int) -> str:
    """The words just before a dose, cut at the previous clause break."""
    before = text[max(0, start - _WINDOW) : start]
    for stop in (";", "(", ")", ". "):
        before = before.rsplit(stop, 1)[-1]
    return before


def read_daily_dose(text: str | None, mass_unit: str) -> DailyDose:
    """The single daily dose in `mass_unit` ('mg' or 'ug') that `text` states, read strictly."""
    if not text or not text.strip():
        return DailyDose("none")
    found: list[tuple[float, Kind, bool, str]] = []
    for m in _MENTION.finditer(text):
        unit = MASS_UNITS[m.group("unit").lower()]
        if unit != mass_unit:
            continue
        shown = m.group(0).strip()
        if m.group("hi") is not None:
            return DailyDose("ambiguous", why=f"'{shown}' is a range, not one dose")
        if m.group("kg"):
            return DailyDose("ambiguous", why=f"'{shown}' is per kilogram of body weight")
        raw_before = _clause_before(text, m.start())
        before = raw_before.lower()
        for cue, why in _BEFORE_CUES:
            if cue in before:
                context = text[m.start() - len(raw_before) : m.end()].strip()
                return DailyDose("ambiguous", why=f"'{context}' is {why}")
        after = text[m.end() : m.end() + 20].lower()
        for cue, why in _AFTER_CUES:
            if cue in after:
                return DailyDose("ambiguous", why=f"'{shown}' is {why}")
        amount = _number(m.group("lo"))
        kind: Kind = "achieved_mean" if any(w in before for w in _ACHIEVED) else "assigned"
        target = " (stated as a target)" if any(w in before for w in _TARGET) else ""
        if m.group("day"):
            found.append((amount, kind, False, f"printed as '{shown}'{target}"))
        elif m.group("freq"):
            times = FREQUENCIES[m.group("freq").lower()]
            daily = amount * times
            found.append(
                (
                    daily,
                    kind,
                    True,
                    f"'{shown}' read as {_fmt(amount)} {unit} x {times} a day = "
                    f"{_fmt(daily)} {unit}/day{target}",
                )
            )
        else:
            return DailyDose("ambiguous", why=f"'{shown}' is a single dose with no daily frequency")
    if not found:
        return DailyDose("none")
    values = sorted({f[0] for f in found})
    kinds = {f[1] for f in found}
    if len(values) > 1 or len(kinds) > 1:
        shown = ", ".join(f"{_fmt(v)} {mass_unit}/day" for v in values)
        return DailyDose("ambiguous", why=f"several daily doses are stated ({shown})")
    printed = [f for f in found if not f[2]]
    value, kind, derived, how = printed[0] if printed else found[0]
    return DailyDose(
        "known", value=value, unit=f"{mass_unit}/day", kind=kind, derived=derived, how=how
    )
