"""A thread-safe request spacer for NCBI's per-second limits.

Bio.Entrez keeps its last-request time in an unlocked function attribute, so threads sharing it
burst past the limit. Here every request reserves the next free slot under a lock, and slots are
spaced 1/rate apart (plus a small margin for clock and network jitter), so at most `rate`
requests start in any one-second window however many threads ask.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

NCBI_RATE = 3.0
NCBI_RATE_WITH_KEY = 10.0


def ncbi_rate(api_key: str | None) -> float:
    """NCBI's documented ceiling: 3 requests/s, 10 with an API key."""
    return NCBI_RATE_WITH_KEY if api_key else NCBI_RATE


class RateLimiter:
    """Spaces request starts at least `1.0 / rate * (1 + margin)` seconds apart, across threads."""

    def __init__(
        self,
        rate: float,
        *,
        margin: float = 0.02,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.interval = (1.0 / rate) * (1.0 + margin)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = 0.0

    def acquire(self) -> float:
        """Block until this caller's slot comes; returns how long it waited."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        wait = slot - now
        if wait > 0:
            self._sleep(wait)
        return wait

    def hold_off(self, seconds: float) -> None:
        """Push every later slot back, e.g. after NCBI answered 429 with Retry-After."""
        with self._lock:
            self._next = max(self._next, self._clock() + seconds)


_shared: dict[float, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(rate: float) -> RateLimiter:
    """The one process-wide limiter for a rate, so separate clients still share the budget."""
    with _shared_lock:
        limiter = _shared.get(rate)
        if limiter is None:
            limiter = _shared[rate] = RateLimiter(rate)
        return limiter
