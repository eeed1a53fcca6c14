"""What the flows read from the environment, and how their runs are named.

Both are fixed when a flow or task is defined (at import), so set the variables before the
flows are imported: in the shell, the deployment's environment, or a test's conftest.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAME_PART = re.compile(r"[^A-Za-z0-9_.-]+")


def seconds(variable: str, default: float) -> float | None:
    """A timeout in seconds from the environment; 0 means none."""
    raw = os.environ.get(variable, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError(f"{variable}={raw!r}: expected a number of seconds, 0 for none")
    return value or None


def retry_delays() -> list[float]:
    """Exponential backoff between task retries: base, 2×base, 4×base seconds."""
    base = float(os.environ.get("EVIDENCE_TASK_RETRY_DELAY", "30"))
    return [base, 2 * base, 4 * base]


# Searches and fetches talk to PubMed: a hung connection must not hold the night for ever.
TASK_TIMEOUT = seconds("EVIDENCE_TASK_TIMEOUT", 1800)
# One protocol's refresh and synthesis; the whole nightly.
PROTOCOL_TIMEOUT = seconds("EVIDENCE_PROTOCOL_TIMEOUT", 3 * 3600)
NIGHTLY_TIMEOUT = seconds("EVIDENCE_NIGHTLY_TIMEOUT", 6 * 3600)


def today_or(day: str | None) -> str:
    """The run's date: the one given, else today in UTC."""
    return day or datetime.now(UTC).date().isoformat()


def part(value: object) -> str:
    """A piece of a run name: a protocol file becomes its stem; nothing odd survives."""
    text = Path(str(value)).stem if str(value).endswith((".yaml", ".yml")) else str(value)
    return NAME_PART.sub("-", text).strip("-") or "all"


def _parameters() -> dict[str, Any]:
    from prefect.runtime import flow_run

    return dict(flow_run.parameters or {})


def nightly_run_name() -> str:
    """nightly-<date>"""
    return f"nightly-{today_or(_parameters().get('today'))}"


def protocol_run_name() -> str:
    """<protocol>-<date>"""
    params = _parameters()
    return f"{part(params.get('protocol'))}-{today_or(params.get('today'))}"


def refresh_run_name() -> str:
    """refresh-<protocol>-<date>"""
    params = _parameters()
    return f"refresh-{part(params.get('protocol'))}-{today_or(params.get('today'))}"


def synthesize_run_name() -> str:
    """synthesize-<protocol>-<date of the data's run>"""
    params = _parameters()
    day = os.environ.get("EVIDENCE_RUN_DATE") or today_or(None)
    return f"synthesize-{part(params.get('protocol') or 'default')}-{day}"
