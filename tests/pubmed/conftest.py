"""Fixtures for the PubMed tests: the stand-in E-utilities server and a client pointed at it.

No test may reach the network: every connection other than to 127.0.0.1 is refused here.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from evidence.pubmed.client import ClientConfig, EutilsClient
from evidence.pubmed.ratelimit import RateLimiter
from tests.pubmed.eutils_server import StandIn

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ncbi"
EMAIL = "pubmed-tests@example.org"


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def guarded(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] not in {"127.0.0.1", "localhost"}:
            raise OSError(f"test tried to reach {address[0]}")
        return real(address, *args, **kwargs)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in {"127.0.0.1", "localhost", None}:
            raise OSError(f"test tried to resolve {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", guarded)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn() as server:
        yield server


@pytest.fixture
def make_client(standin: StandIn) -> Callable[..., EutilsClient]:
    """Clients aimed at the stand-in with short timeouts, fast backoff and their own limiter."""

    def build(
        rate: float = 50.0, limiter: RateLimiter | None = None, **overrides: Any
    ) -> EutilsClient:
        values: dict[str, Any] = {
            "base_url": standin.url,
            "email": EMAIL,
            "timeout": 0.5,
            "backoff": 0.01,
            "max_backoff": 0.05,
            "max_tries": 4,
            "rate": rate,
        }
        values.update(overrides)
        config = ClientConfig(**values)
        return EutilsClient(config, limiter=limiter or RateLimiter(config.effective_rate))

    return build
