"""Hot-item detection: which items' new likes are spread over several counter shards. No I/O.

Every like of an item adds one to a counter row. When many writers like one item at once, they all
queue for that row's lock, and each holds it until its commit is flushed: the item's likes go one
commit at a time. A hot item's new likes are therefore spread over `shards` counter rows; `count`
sums them in the same one-index-range query as before.

An item is hot when this counter has written it `threshold` times or more within one second, and it
stays hot for `hold_s` seconds after the last such second. Cold items keep one row (shard 0), so the
storage and the read cost of the long tail do not change.

Which shard a like goes to does not matter for correctness: the like row records its shard, and its
unlike gives the one back to that shard (see sql/migrations/0002_like_shards.sql).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

Key = tuple[int, int]  # (type_id, item_id)


class HotItems:
    """Counts writes per item in one-second windows and picks the shard for each write."""

    def __init__(
        self,
        shards: int,
        threshold: int,
        *,
        window_s: float = 1.0,
        hold_s: float = 30.0,
        max_tracked: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.shards = shards
        self.threshold = threshold
        self._window_s = window_s
        self._hold_s = hold_s
        self._max_tracked = max_tracked
        self._clock = clock
        self._lock = threading.Lock()
        self._windows: dict[Key, list[float]] = {}  # key -> [window start, writes in it]
        self._hot_until: dict[Key, float] = {}
        # Consecutive statements use consecutive shards, so concurrent statements of one counter do
        # not meet on a hot item's row. A random start keeps two processes apart most of the time.
        self._next = random.randrange(shards)

    @property
    def enabled(self) -> bool:
        return self.shards > 1

    def rotate(self) -> int:
        """The shard for the next statement's hot-item likes."""
        with self._lock:
            shard = self._next
            self._next = (shard + 1) % self.shards
            return shard

    def observe(self, key: Key) -> bool:
        """Record one write of `key`; return whether the item is hot now."""
        now = self._clock()
        with self._lock:
            window = self._windows.get(key)
            if window is None or now - window[0] >= self._window_s:
                if window is None and len(self._windows) >= self._max_tracked:
                    self._forget(now)
                window = self._windows[key] = [now, 0.0]
            window[1] += 1
            if window[1] >= self.threshold:
                if key not in self._hot_until and len(self._hot_until) >= self._max_tracked:
                    self._hot_until.clear()
                self._hot_until[key] = now + self._hold_s
                return True
            return self._is_hot(key, now)

    def any_hot(self) -> bool:
        """Whether any item may be hot (a cheap check before asking about many items)."""
        return bool(self._hot_until)

    def is_hot(self, key: Key) -> bool:
        """Whether the item is hot, without counting a write."""
        with self._lock:
            return self._is_hot(key, self._clock())

    def _is_hot(self, key: Key, now: float) -> bool:
        until = self._hot_until.get(key)
        if until is None:
            return False
        if until <= now:
            del self._hot_until[key]
            return False
        return True

    def _forget(self, now: float) -> None:
        """Drop the windows that have ended (under the lock). Keeps memory bounded."""
        ended = [key for key, (start, _) in self._windows.items() if now - start >= self._window_s]
        for key in ended:
            del self._windows[key]
        if len(self._windows) >= self._max_tracked:  # all current: a flood of distinct items
            self._windows.clear()
