"""Timed loops (threads or asyncio tasks), latency percentiles and the median-run rule.

A run lasts `warmup + duration` seconds. Operations that *start* during the warm-up are executed but
not recorded; the measured window runs from the end of the warm-up to the end of the last recorded
operation, so an operation that started just before the deadline is counted with its full latency.
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

# One operation: does its work and returns how many items it handled (1 for a like, 1,000 for a bulk
# step of 1,000 likes, 100 for counts(100) ...). Raising `Exhausted` ends that worker's loop.
Op = Callable[[], int]
AsyncOp = Callable[[], Awaitable[int]]


class Exhausted(Exception):
    """A worker ran out of prepared input (for example, of liked pairs to unlike)."""


@dataclass
class RunResult:
    """One run of one case: counts, the measured window and every recorded latency."""

    calls: int
    items: int
    errors: int
    seconds: float
    latencies_ms: list[float] = field(repr=False)
    error_sample: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Items per second over the measured window."""
        return self.items / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_ms)
        return {
            "rate": round(self.rate, 1),
            "calls_per_s": round(self.calls / self.seconds, 1) if self.seconds > 0 else 0.0,
            "calls": self.calls,
            "items": self.items,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "p50_ms": _round(percentile(ordered, 0.50)),
            "p99_ms": _round(percentile(ordered, 0.99)),
            "p999_ms": _round(percentile(ordered, 0.999)),
            "mean_ms": _round(sum(ordered) / len(ordered)) if ordered else None,
            "max_ms": _round(ordered[-1]) if ordered else None,
            **({"error_sample": self.error_sample} if self.error_sample else {}),
            **self.extra,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values (None when there are none)."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median_run(summaries: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The run whose rate is the median (the lower middle one for an even count), whole."""
    ordered = sorted(summaries, key=lambda summary: float(summary["rate"]))
    return ordered[(len(ordered) - 1) // 2]


@dataclass
class _Worker:
    calls: int = 0
    items: int = 0
    errors: int = 0
    last_end: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    error_sample: str | None = None

    def record(self, started: float, ended: float, items: int) -> None:
        self.calls += 1
        self.items += items
        self.latencies_ms.append((ended - started) * 1000.0)
        self.last_end = ended

    def failed(self, exc: BaseException, ended: float) -> None:
        self.errors += 1
        self.last_end = ended
        if self.error_sample is None:
            self.error_sample = f"{type(exc).__name__}: {exc}"[:300]


def _combine(workers: Iterable[_Worker], measure_from: float) -> RunResult:
    workers = list(workers)
    last_end = max((worker.last_end for worker in workers), default=0.0)
    latencies: list[float] = []
    for worker in workers:
        latencies.extend(worker.latencies_ms)
    return RunResult(
        calls=sum(worker.calls for worker in workers),
        items=sum(worker.items for worker in workers),
        errors=sum(worker.errors for worker in workers),
        seconds=max(0.0, last_end - measure_from),
        latencies_ms=latencies,
        error_sample=next((worker.error_sample for worker in workers if worker.error_sample), None),
    )


def run_threads(threads: int, make_op: Callable[[int], Op], *, warmup: float, duration: float) -> RunResult:
    """Run `threads` threads, each looping on its own op (built by `make_op(index)`), for the window."""
    ops = [make_op(index) for index in range(threads)]
    workers = [_Worker() for _ in range(threads)]
    barrier = threading.Barrier(threads + 1)
    window: list[float] = []

    def loop(op: Op, worker: _Worker) -> None:
        barrier.wait()
        measure_from, stop_at = window
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            try:
                items = op()
            except Exhausted:
                return
            except Exception as exc:
                if started >= measure_from:
                    worker.failed(exc, time.perf_counter())
                continue
            if started >= measure_from:
                worker.record(started, time.perf_counter(), items)

    pool = [
        threading.Thread(target=loop, args=(op, worker), daemon=True, name=f"bench-{index}")
        for index, (op, worker) in enumerate(zip(ops, workers, strict=True))
    ]
    for thread in pool:
        thread.start()
    begin = time.perf_counter()
    window.extend((begin + warmup, begin + warmup + duration))
    barrier.wait()
    for thread in pool:
        thread.join()
    return _combine(workers, window[0])


async def run_tasks(
    tasks: int, make_op: Callable[[int], AsyncOp], *, warmup: float, duration: float
) -> RunResult:
    """The asyncio twin of `run_threads`: `tasks` tasks on the running loop."""
    ops = [make_op(index) for index in range(tasks)]
    workers = [_Worker() for _ in range(tasks)]
    begin = time.perf_counter()
    measure_from, stop_at = begin + warmup, begin + warmup + duration

    async def loop(op: AsyncOp, worker: _Worker) -> None:
        while True:
            started = time.perf_counter()
            if started >= stop_at:
                return
            try:
                items = await op()
            except Exhausted:
                return
            except Exception as exc:
                if started >= measure_from:
                    worker.failed(exc, time.perf_counter())
                continue
            if started >= measure_from:
                worker.record(started, time.perf_counter(), items)

    await asyncio.gather(*(loop(op, worker) for op, worker in zip(ops, workers, strict=True)))
    return _combine(workers, measure_from)


def run_sequence(steps: Iterable[Callable[[], int]]) -> RunResult:
    """One thread, a fixed list of operations, all recorded (no warm-up): a replay."""
    worker = _Worker()
    begin = time.perf_counter()
    for step in steps:
        started = time.perf_counter()
        try:
            items = step()
        except Exception as exc:
            worker.failed(exc, time.perf_counter())
            continue
        worker.record(started, time.perf_counter(), items)
    return _combine([worker], begin)
