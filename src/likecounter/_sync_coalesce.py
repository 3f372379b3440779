"""Write coalescing for LikeCounter.

GENERATED from _async_coalesce.py by tools/async_to_sync.py: do not edit it; edit _async_coalesce.py
and regenerate.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ._core import WriteOp
from ._results import LikeResult


class _Waiter:
    __slots__ = ("error", "event", "leader", "op", "result")

    def __init__(self, op: WriteOp) -> None:
        self.op = op
        self.event = threading.Event()  # set when the op is done, or when it is handed the lead
        self.leader = False
        self.result: LikeResult | None = None
        self.error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None


class Coalescer:
    """Folds concurrent ops into batches executed by `execute`; see the module docstring."""

    def __init__(
        self,
        execute: Callable[[list[WriteOp]], list[LikeResult]],
        *,
        max_batch: int,
        max_inflight: int,
        linger_s: float,
    ) -> None:
        self._execute = execute
        self._max_batch = max_batch
        self._max_inflight = max_inflight
        self._linger_s = linger_s
        # Guards the queue and the counters below. Never held across I/O, so tasks may share it.
        self._mutex = threading.Lock()
        self._queue: deque[_Waiter] = deque()
        self._writing: set[tuple[int, int, int]] = set()  # keys of the batches in flight
        self._leaders = 0
        self._flushing = 0

    def submit(self, op: WriteOp) -> LikeResult:
        """Run `op` in the next batch that can take it; return its own result."""
        waiter = _Waiter(op)
        with self._mutex:
            self._queue.append(waiter)
            if self._leaders < self._max_inflight:
                self._leaders += 1
                waiter.leader = True
        while not waiter.done and not waiter.leader:
            waiter.event.wait()
            waiter.event.clear()
        if not waiter.done:
            self._lead(waiter)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def _lead(self, me: _Waiter) -> None:
        try:
            while not me.done:
                if self._linger_s and self._flushing:
                    # Other batches are in flight: give this one a moment to fill up.
                    time.sleep(self._linger_s)
                with self._mutex:
                    batch = self._take()
                if not batch:
                    # My op is in another leader's batch; wait for it to finish.
                    me.event.wait()
                    me.event.clear()
                    continue
                # Shielded: if this leader is cancelled, the batch still completes and every other
                # caller in it still gets its result.
                self._flush(batch)
        finally:
            successor = None
            with self._mutex:
                self._leaders -= 1
                for waiter in self._queue:
                    if not waiter.leader:
                        waiter.leader = True
                        self._leaders += 1
                        successor = waiter
                        break
            if successor is not None:
                successor.event.set()

    def _take(self) -> list[_Waiter]:
        """The oldest queued ops whose keys are free, one per key (called under the mutex)."""
        batch: list[_Waiter] = []
        blocked = set(self._writing)
        kept: deque[_Waiter] = deque()
        for waiter in self._queue:
            key = waiter.op.key
            if key in blocked or len(batch) >= self._max_batch:
                # A later op on a key never overtakes an earlier one: once a key is seen, the rest
                # of its ops wait for a later batch.
                blocked.add(key)
                kept.append(waiter)
            else:
                blocked.add(key)
                batch.append(waiter)
        self._queue = kept
        self._writing.update(waiter.op.key for waiter in batch)
        if batch:
            self._flushing += 1
        return batch

    def _flush(self, batch: list[_Waiter]) -> None:
        try:
            results = self._execute([waiter.op for waiter in batch])
        except BaseException as exc:  # every caller in the failed statement gets its error
            for waiter in batch:
                waiter.error = exc
        else:
            for waiter, result in zip(batch, results, strict=True):
                waiter.result = result
        finally:
            with self._mutex:
                self._writing.difference_update(waiter.op.key for waiter in batch)
                self._flushing -= 1
            for waiter in batch:
                waiter.event.set()
