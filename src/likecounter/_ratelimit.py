"""Per-user sliding-window rate limit, in memory. No I/O; safe under threads and asyncio tasks."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from ._errors import RateLimited


class SlidingWindowLimiter:
    """Allows at most `limit` calls per user in any `window_s`-second window.

    A rejected call does not count. Users are kept in least-recently-active order, so those idle for a
    whole window are dropped from the front in amortised O(1): memory follows the active users only.
    The lock is never held across I/O, so asyncio tasks may use it too.
    """

    def __init__(
        self, limit: int, window_s: float = 60.0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._calls: OrderedDict[int, deque[float]] = OrderedDict()

    def acquire(self, user_id: int) -> None:
        """Count one call for `user_id`, or raise RateLimited without counting it."""
        now = self._clock()
        horizon = now - self.window_s
        with self._lock:
            self._evict_idle(horizon)
            calls = self._calls.get(user_id)
            if calls is None:
                calls = self._calls[user_id] = deque()
            else:
                self._calls.move_to_end(user_id)
                while calls and calls[0] <= horizon:
                    calls.popleft()
            if len(calls) >= self.limit:
                raise RateLimited(user_id, self.limit, retry_after=max(0.0, calls[0] - horizon))
            calls.append(now)

    def _evict_idle(self, horizon: float) -> None:
        calls = self._calls
        while calls:
            user_id, oldest_user_calls = next(iter(calls.items()))
            # The front user is the least recently active one; if even its newest call has left the
            # window, it holds nothing that can matter again.
            if oldest_user_calls and oldest_user_calls[-1] > horizon:
                return
            del calls[user_id]

    def tracked_users(self) -> int:
        """How many users currently hold state (for tests and metrics)."""
        with self._lock:
            self._evict_idle(self._clock() - self.window_s)
            return len(self._calls)
