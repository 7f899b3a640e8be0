"""Per-key request limits as API gateways enforce them: a sliding-window spike arrest
and a daily quota. Pure logic with injectable clocks, shared by the provider modules.

The sandbox server runs on real time (it is not under a test's virtual clock), so the
defaults read ``time.monotonic`` and ``time.time``; tests pass fake clocks.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable

import attrs

__all__ = ["DailyQuota", "QuotaState", "SpikeArrest"]


class SpikeArrest:
    """At most ``rate`` accepted requests per key in any sliding ``period`` seconds.

    Rejected requests do not count towards the window, so a client that waits is served
    again as soon as its oldest accepted request leaves the window.
    """

    def __init__(
        self, rate: int, period: float = 1.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.period = period
        self._clock = clock
        self._seen: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def allow(self, key: str) -> bool:
        """Record a request by ``key``; False when it exceeds the rate."""
        now = self._clock()
        seen = self._seen[key]
        while seen and seen[0] <= now - self.period:
            seen.popleft()
        if len(seen) >= self.rate:
            return False
        seen.append(now)
        return True


@attrs.frozen
class QuotaState:
    """What the rate-limit headers report after a call."""

    limit: int
    available: int
    over: int
    reset_ms: int  # epoch milliseconds at which the window ends


class DailyQuota:
    """``limit`` calls per key per window of ``window`` seconds from the key's first call."""

    def __init__(
        self, limit: int, window: float = 86_400.0, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._keys: dict[str, list[float]] = {}  # key -> [window start, used, over]

    def take(self, key: str) -> QuotaState | None:
        """Count one call by ``key``: its state after the call, or None when over quota."""
        now = self._clock()
        entry = self._keys.get(key)
        if entry is None or now >= entry[0] + self.window:
            entry = self._keys[key] = [now, 0, 0]
        start, used, over = entry
        reset_ms = int((start + self.window) * 1000)
        if used >= self.limit:
            entry[2] = over + 1
            return None
        entry[1] = used + 1
        return QuotaState(self.limit, self.limit - int(used) - 1, int(over), reset_ms)
