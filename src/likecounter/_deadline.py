"""Per-call deadlines: the `timeout=` keyword of the counters' methods.

A deadline bounds the whole call: the wait for a pool connection, and the statements. The async
shell cancels a statement that runs past it the asyncio way (psycopg then sends PostgreSQL a cancel
request and waits for the statement to end); the sync shell has no task to cancel, so
`cancel_after` sends the same cancel request from a timer thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg

from ._validation import check_seconds

# Below this, a cancel request could not reach the server before the deadline anyway.
_MIN_WAIT = 0.001


class Deadline:
    """`seconds` from now. Built (and validated) before a call takes any connection."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: Any) -> None:
        self.seconds = check_seconds(seconds, "timeout")
        self.at = time.monotonic() + self.seconds

    @classmethod
    def start(cls, timeout: Any) -> Deadline | None:
        return None if timeout is None else cls(timeout)

    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def remaining(self) -> float:
        return max(_MIN_WAIT, self.at - time.monotonic())


def remaining(deadline: Deadline | None) -> float | None:
    return None if deadline is None else deadline.remaining()


@contextlib.contextmanager
def cancel_after(conn: psycopg.Connection[Any], seconds: float | None) -> Iterator[None]:
    """Ask PostgreSQL to cancel the connection's statement if the block still runs after `seconds`.

    The cancelled statement raises QueryCanceled in the block. Leaving the block waits for a cancel
    request that is being sent, so that none can land on a later statement of the connection (the
    server ignores one that arrives while the session is idle).
    """
    if seconds is None:
        yield
        return
    lock = threading.Lock()
    finished = False

    def fire() -> None:
        with lock:
            if not finished:
                with contextlib.suppress(Exception):  # a broken connection fails the block itself
                    conn.cancel_safe(timeout=5.0)

    timer = threading.Timer(seconds, fire)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        with lock:
            finished = True
        timer.cancel()
