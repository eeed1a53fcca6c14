"""Further analyses that `evidence meta --also NAME` adds to the printed result.

Each entry names a function as "module:function", imported only when asked for, so the
command loads no more than the requested analyses need. A function takes the effect sizes,
the pooled result and the command's options, and returns a JSON-ready dict that is printed
under its name.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any

Extra = Callable[[Any, Any, dict[str, Any]], dict[str, Any]]

# name -> "module:function"; one line per analysis, kept in alphabetical order.
EXTRAS: dict[str, str] = {
    "confint": "evidence.meta.heterogeneity:cli_confint",
    "glmm": "evidence.meta.rare_events:glmm_extra",
    "harbord": "evidence.meta.bias_extras:harbord_extra",
    "influence": "evidence.meta.diagnostics:cli_influence",
    "peters": "evidence.meta.bias_extras:peters_extra",
    "ranktest": "evidence.meta.bias_extras:ranktest_extra",
    "regtest": "evidence.meta.bias_extras:regtest_extra",
    "trimfill": "evidence.meta.bias_extras:trimfill_extra",
}


def names() -> tuple[str, ...]:
    return tuple(sorted(EXTRAS))


def load(name: str) -> Extra:
    """The function behind `name`; a ValueError lists the known names."""
    try:
        target = EXTRAS[name]
    except KeyError:
        known = ", ".join(names()) or "none"
        raise ValueError(f"unknown analysis {name!r} for --also; known: {known}") from None
    module, _, func = target.partition(":")
    fn: Extra = getattr(import_module(module), func)
    return fn
