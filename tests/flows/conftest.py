"""Prefect for the flow tests: its own home and database, a temporary server, fast retries."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator

import pytest

# Set before the flows are imported: task retry delays are fixed when a task is defined.
os.environ.setdefault("EVIDENCE_TASK_RETRY_DELAY", "0")
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="evidence-prefect-home-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_TO_API_BATCH_INTERVAL", "0.3")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
