"""A thread-safe request limiter that holds NCBI's per-second limits as the server counts them.

NCBI counts requests as they arrive. A limiter that only spaces the moments its callers are
*allowed* to send is not enough: a thread that got its slot may be delayed by the OS before it
sends, and its request then arrives bunched with the next ones (and Bio.Entrez's own spacer
keeps its state in an unlocked global, so threads burst past it outright).

So every request holds a slot from just before it is sent until its answer's status line has
come back (`with limiter.slot(): urlopen(...)`), and the limiter, under one lock shared by every
thread, lets a request start only while fewer than `rate` requests are in flight or ended within
the last `window` seconds. Wherever the server takes its arrival timestamp, it lies between the
start of a request's slot and its end, so no window of one second at the server can hold more
than `rate` of them, however the sends were delayed. Starts are also spaced `1/rate` apart so
the requests come evenly, and `hold_off` pushes every later start back (a 429's Retry-After).
The margin covers clock granularity and the server's clock running a hair fast.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

NCBI_RATE = 3.0
NCBI_RATE_WITH_KEY = 10.0


def ncbi_rate(api_key: str | None) -> float:
    """NCBI's documented ceiling: 3 requests/s, 10 with an API key."""
    return NCBI_RATE_WITH_KEY if api_key else NCBI_RATE


class RateLimiter:
    """At most `rate` requests in any `window` at the server, across threads (module docstring)."""

    def __init__(
        self,
        rate: float,
        *,
        margin: float = 0.05,
        window: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("rate must be a positive number")
        if margin < 0 or window <= 0:
            raise ValueError("margin must be >= 0 and window > 0")
        self.rate = rate
        self.per_window = max(1, math.floor(rate))
        self.interval = (1.0 / rate) * (1.0 + margin)
        self.window = window * (1.0 + margin)
        self._clock = clock
        self._cond = threading.Condition(threading.Lock())
        self._next = 0.0  # earliest start allowed by spacing and hold-offs
        self._in_flight = 0
        self._ended: deque[float] = deque()  # end times of recent requests, oldest first

    def _blocked_until(self, now: float) -> float | None:
        """When the next start is allowed (<= now: allowed), or None: wait for a release."""
        while self._ended and self._ended[0] <= now - self.window:
            self._ended.popleft()
        busy = self._in_flight + len(self._ended)
        earliest = self._next
        if busy >= self.per_window:
            expiring = busy - self.per_window + 1  # this many recent ends must age out
            if expiring > len(self._ended):
                return None
            earliest = max(earliest, self._ended[expiring - 1] + self.window)
        return earliest

    def acquire(self) -> float:
        """Wait for a slot and take it; the caller must `release()` once the answer began.

        Returns how long it waited. Prefer `with limiter.slot():`.
        """
        start = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                until = self._blocked_until(now)
                if until is not None and until <= now:
                    self._in_flight += 1
                    self._next = now + self.interval
                    return now - start
                self._cond.wait(None if until is None else until - now)

    def release(self) -> None:
        """The request's answer (or its failure) came back: its slot now ages out."""
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._ended.append(self._clock())
            while len(self._ended) > self.per_window:
                self._ended.popleft()
            self._cond.notify_all()

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Hold a slot around one request's send (see the module docstring)."""
        waited = self.acquire()
        try:
            yield waited
        finally:
            self.release()

    def hold_off(self, seconds: float) -> None:
        """Push every later start back, e.g. after NCBI answered 429 with Retry-After."""
        with self._cond:
            self._next = max(self._next, self._clock() + max(0.0, seconds))
            self._cond.notify_all()


_shared: dict[float, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(rate: float) -> RateLimiter:
    """The one process-wide limiter for a rate, so separate clients still share the budget."""
    with _shared_lock:
        limiter = _shared.get(rate)
        if limiter is None:
            limiter = _shared[rate] = RateLimiter(rate)
        return limiter
