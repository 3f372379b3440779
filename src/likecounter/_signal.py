"""A light event for the sync coalescer's waiting callers."""

from __future__ import annotations

import threading


class ThreadSignal:
    """`threading.Event`'s set / clear / wait / is_set, on one plain lock.

    `threading.Event` builds a Condition, and a fresh lock on every wait; the coalescer makes one
    per call and wakes every caller through it, so at 64 threads the sync shell spent more of its
    CPU there than in psycopg. Here the lock is held while the signal is clear, so a waiter blocks
    on it directly. Only the owning thread calls clear() and wait(); any thread may call set().
    """

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lock.acquire()  # held: not set

    def set(self) -> None:
        try:  # noqa: SIM105 - a hot path: suppress() would add a context manager per wake-up
            self._lock.release()
        except RuntimeError:  # already set
            pass

    def clear(self) -> None:
        self._lock.acquire(blocking=False)

    def is_set(self) -> bool:
        return not self._lock.locked()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until set (or `timeout` seconds pass); whether it was set. It stays set."""
        if not self._lock.acquire(timeout=-1 if timeout is None else max(0.0, timeout)):
            return False
        self.set()
        return True
