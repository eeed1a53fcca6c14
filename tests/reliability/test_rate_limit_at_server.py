"""NCBI's rate limit holds as the server counts it (issue #15, item 5): at most 3 requests in
any sliding second at the stand-in without an API key, 10 with one, from four threads, with
retries and 429s in the mix and with sends the OS delays after their slot was granted."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from evidence.cli import app
from evidence.pubmed import client as client_module
from evidence.pubmed.client import ClientConfig, EutilsClient
from evidence.pubmed.ratelimit import RateLimiter, ncbi_rate
from tests.pubmed.eutils_server import Fault, StandIn

EMAIL = "rate-limit@example.org"
KEY = "ratelimitkey0123456789abcdef0123456"
THREADS = 4


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def stalled_sends(monkeypatch: pytest.MonkeyPatch) -> None:
    """Delay every other send by up to 0.3 s after its slot was granted, as a loaded machine
    does: with slots that end when they are granted, the delayed requests arrive bunched."""
    real = client_module._OPENER
    dice = random.Random(15)
    lock = threading.Lock()

    class Stalling:
        def open(self, request: Any, timeout: float) -> Any:
            with lock:
                stall = dice.choice([0.0, dice.uniform(0.05, 0.3)])
            time.sleep(stall)
            return real.open(request, timeout=timeout)

    monkeypatch.setattr(client_module, "_OPENER", Stalling())


def _faults(standin: StandIn, endpoint: str) -> None:
    """Retries must pass through the limiter too: two 500s and a 429 without a wait."""
    standin.state.add_fault(Fault("status", endpoint, status=500, times=2))
    standin.state.add_fault(Fault("status", endpoint, status=429, retry_after="0"))


@pytest.mark.parametrize(("api_key", "requests"), [(None, 9), (KEY, 30)])
def test_four_threads_stay_under_the_limit_at_the_server(
    standin: StandIn, stalled_sends: None, api_key: str | None, requests: int
) -> None:
    limit = ncbi_rate(api_key)
    standin.state.queries["aspirin"] = sorted(standin.state.articles, key=int)[:3]
    _faults(standin, "esearch.fcgi")
    config = ClientConfig(
        base_url=standin.url,
        email=EMAIL,
        api_key=api_key,
        timeout=5.0,
        backoff=0.01,
        max_backoff=0.05,
    )
    client = EutilsClient(config, limiter=RateLimiter(config.effective_rate))
    assert client.limiter.rate == limit

    def work(count: int) -> None:
        for _ in range(count):
            client.esearch("aspirin", usehistory=False)

    workers = [threading.Thread(target=work, args=(requests // THREADS,)) for _ in range(THREADS)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    seen = standin.state.requests()
    assert len(seen) == THREADS * (requests // THREADS) + 3
    assert {s.status for s in seen} == {200, 500, 429}
    assert standin.state.max_per_window(1.0) <= limit


@pytest.mark.parametrize("api_key", [None, KEY])
def test_fetch_with_four_workers_stays_under_the_limit_at_the_server(
    standin: StandIn,
    stalled_sends: None,
    data_copy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_key: str | None,
) -> None:
    monkeypatch.setenv("EVIDENCE_EUTILS_URL", standin.url)
    monkeypatch.setenv("NCBI_EMAIL", EMAIL)
    monkeypatch.setenv("EVIDENCE_EUTILS_TIMEOUT", "10")
    monkeypatch.setenv("EVIDENCE_EUTILS_BACKOFF", "0.01")
    # The faults below are shared by the three concurrent batches, in whatever order their
    # requests arrive: more tries than faults, so no batch can draw them all and give up.
    monkeypatch.setenv("EVIDENCE_EUTILS_MAX_TRIES", "10")
    if api_key:
        monkeypatch.setenv("NCBI_API_KEY", api_key)
    else:
        monkeypatch.delenv("NCBI_API_KEY", raising=False)
    pmids = standin.state.add_clones(600, 76_000_000)  # three batches of 200
    _faults(standin, "efetch.fcgi")
    if api_key:  # more requests than one second's budget
        standin.state.add_fault(Fault("status", "efetch.fcgi", status=502, times=6))
    dirs = ["--data", str(data_copy), "--processed", str(tmp_path / "p")]
    result = CliRunner().invoke(
        app,
        [
            "fetch",
            "--live",
            "--workers",
            "4",
            "--pmids",
            ",".join(pmids),
            *dirs,
            "--reports",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    seen = standin.state.requests("efetch.fcgi")
    assert len(seen) == 3 + 3 + (6 if api_key else 0)
    assert all(s.params.get("api_key") == api_key for s in seen)
    assert standin.state.max_per_window(1.0) <= ncbi_rate(api_key)


def test_no_request_starts_while_the_limit_is_in_flight() -> None:
    limiter = RateLimiter(3.0)
    for _ in range(3):
        limiter.acquire()
    started = threading.Event()
    when: list[float] = []

    def fourth() -> None:
        limiter.acquire()
        when.append(time.monotonic())
        started.set()

    thread = threading.Thread(target=fourth)
    thread.start()
    # Three requests are in flight (sent, no answer yet): however long they take, a fourth
    # could arrive in the same second as all three, so it must not start.
    assert not started.wait(0.3)
    limiter.release()
    released = time.monotonic()
    assert started.wait(10)
    thread.join()
    # The answered request may have arrived at the server just before its answer began.
    assert when[0] - released >= limiter.window - 0.01
    limiter.release()
    limiter.release()
    limiter.release()
