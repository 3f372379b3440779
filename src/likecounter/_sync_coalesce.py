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
from ._deadline import Deadline
from ._errors import LikeCounterError, queued_timeout, shared_statement_timeout
from ._results import LikeResult
from ._signal import ThreadSignal


class _Waiter:
    __slots__ = ("error", "event", "leader", "op", "result")

    def __init__(self, op: WriteOp) -> None:
        self.op = op
        self.event = ThreadSignal()  # set when the op is done, or when it is handed the lead
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
        execute: Callable[[list[WriteOp], Deadline | None], list[LikeResult]],
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

    def submit(self, op: WriteOp, deadline: Deadline | None = None) -> LikeResult:
        """Run `op` in the next batch that can take it; return its own result."""
        waiter = _Waiter(op)
        with self._mutex:
            self._queue.append(waiter)
            if self._leaders < self._max_inflight:
                self._leaders += 1
                waiter.leader = True
        try:
            in_time = self._wait(waiter, lambda: waiter.done or waiter.leader, deadline)
        except BaseException:
            # Cancelled while queued: an op no batch has taken is withdrawn (it was never sent),
            # and a lead handed over meanwhile is handed on, so no slot is lost.
            self._withdraw(waiter)
            if waiter.leader:
                self._hand_on()
            raise
        if not in_time:
            withdrawn = self._withdraw(waiter)
            if not waiter.done:
                if waiter.leader:
                    self._hand_on()
                raise self._timed_out(deadline, withdrawn)
        if waiter.leader:  # even when another batch did its op: _lead hands the lead on
            self._lead(waiter, deadline)
        if waiter.error is not None:
            raise waiter.error
        assert waiter.result is not None
        return waiter.result

    def _withdraw(self, waiter: _Waiter) -> bool:
        """Take a waiter's op out of the queue if no batch has taken it yet; whether it was there."""
        with self._mutex:
            if waiter in self._queue:
                self._queue.remove(waiter)
                return True
        return False

    def _timed_out(self, deadline: Deadline | None, withdrawn: bool) -> LikeCounterError:
        assert deadline is not None
        if withdrawn:
            return queued_timeout(deadline.seconds, self._max_inflight)
        return shared_statement_timeout(deadline.seconds)

    def _lead(self, me: _Waiter, deadline: Deadline | None) -> None:
        try:
            while not me.done:
                if deadline is not None and deadline.expired() and self._withdraw(me):
                    raise self._timed_out(deadline, withdrawn=True)
                if self._linger_s and self._flushing:
                    # Other batches are in flight: give this one a moment to fill up.
                    time.sleep(self._linger_s)
                with self._mutex:
                    batch = self._take()
                if not batch:
                    # Every queued op's key is being written by another batch (mine, perhaps, is in
                    # it): wait until that batch ends and frees my key, or has done my op.
                    if not self._wait(me, lambda: me.done or me.op.key not in self._writing, deadline):
                        withdrawn = self._withdraw(me)
                        if not me.done:
                            raise self._timed_out(deadline, withdrawn)
                    continue
                if len(batch) == 1 and batch[0] is me:
                    # Only my op: a cancel or my deadline may stop the statement itself (PostgreSQL
                    # then rolls it back), as it would without coalescing.
                    self._flush(batch, deadline)
                else:
                    # Shielded, and with no deadline: if this leader is cancelled, the batch still
                    # completes and every other caller in it gets its result. (My own op may then
                    # be applied too.)
                    self._flush(batch, None)
        except BaseException:
            # Cancelled (or failed) while my op still waits in the queue: withdraw it, so that it
            # is not sent later on behalf of a caller who is gone.
            self._withdraw(me)
            raise
        finally:
            self._hand_on()

    def _hand_on(self) -> None:
        """Give up the lead, passing it to the oldest queued op that does not hold one."""
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

    @staticmethod
    def _wait(waiter: _Waiter, condition: Callable[[], bool], deadline: Deadline | None = None) -> bool:
        """Wait until `condition()` holds (True), or the deadline passes (False). Whoever changes the
        waiter's state sets its event after, so clearing the event before each check can never lose
        a wake-up."""
        while True:
            waiter.event.clear()
            if condition():
                return True
            if deadline is None:
                waiter.event.wait()
            elif not _wait_event(waiter.event, deadline.at - time.monotonic()):
                return condition()

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

    def _flush(self, batch: list[_Waiter], deadline: Deadline | None) -> None:
        try:
            results = self._execute([waiter.op for waiter in batch], deadline)
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
                # Leaders that found nothing to take may take something now.
                idle_leaders = [waiter for waiter in self._queue if waiter.leader]
            for waiter in (*batch, *idle_leaders):
                waiter.event.set()


def _wait_event(event: ThreadSignal, seconds: float) -> bool:
    """Wait at most `seconds` for the event; whether it was set."""
    if seconds <= 0:
        return event.is_set()
    return event.wait(seconds)
