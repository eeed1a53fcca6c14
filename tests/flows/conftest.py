"""Prefect for the flow tests: its own home and database, a temporary server, fast retries."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from evidence.pubmed.store import remove_store

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


@pytest.fixture
def loop(data_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-in E-utilities server, answering each indication's term with nothing yet."""
    from evidence.inputs.protocol import load_protocol
    from evidence.pubmed.search import indication_term
    from tests.pubmed.eutils_server import StandIn

    shutil.rmtree(data_copy / "pubmed" / "records", ignore_errors=True)  # a former cache
    (data_copy / "pubmed" / "records.jsonl").unlink(missing_ok=True)
    remove_store(data_copy / "pubmed")
    with StandIn() as server:
        proto = load_protocol(data_copy / "protocols" / "baclofen.yaml")
        terms = {i.id: indication_term(i.pubmed_query, proto.trial_filter)
                 for i in proto.indications}
        server.state.queries = {t: [] for t in terms.values()}
        for key, value in {"EVIDENCE_EUTILS_URL": server.url, "NCBI_EMAIL": "t@example.org",
                           "EVIDENCE_EUTILS_TIMEOUT": "1", "EVIDENCE_EUTILS_MAX_TRIES": "2",
                           "EVIDENCE_EUTILS_BACKOFF": "0.01"}.items():
            monkeypatch.setenv(key, value)
        yield server, terms, data_copy, tmp_path
