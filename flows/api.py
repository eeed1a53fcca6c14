"""Which Prefect API a run reports to, told without importing Prefect's server.

A configured API (environment or profile) is used as it is; only without one does a run start
a temporary server (`flows.server`, which loads the whole server application: over a second of
imports that a run against a running server never needs).
"""

from __future__ import annotations

import os

from prefect.settings import PREFECT_API_URL


class ServerUnavailable(RuntimeError):
    """Prefect's temporary server could not be started."""


def configured_api_url() -> str | None:
    """The API the user (or a test harness) configured, if any."""
    return os.environ.get("PREFECT_API_URL") or PREFECT_API_URL.value() or None
