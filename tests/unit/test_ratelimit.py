"""SlidingWindowLimiter with an injected clock: exact, deterministic outcomes."""

from __future__ import annotations

import threading

import pytest

from likecounter import LikeCounterError, RateLimited
from likecounter._ratelimit import SlidingWindowLimiter


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_limit_is_enforced_per_user(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(3, clock=clock)
    for _ in range(3):
        limiter.acquire(1)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(1)
    error = caught.value
    assert isinstance(error, LikeCounterError)
    assert (error.user_id, error.limit) == (1, 3)
    assert "user 1" in str(error) and "3" in str(error)
    # Other users have their own budget.
    for _ in range(3):
        limiter.acquire(2)
    limiter.acquire(3)


def test_window_slides(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(2, clock=clock)
    limiter.acquire(1)  # t=0
    clock.advance(30)
    limiter.acquire(1)  # t=30
    clock.advance(29.5)  # t=59.5: both calls still inside the window
    with pytest.raises(RateLimited):
        limiter.acquire(1)
    clock.advance(0.5)  # t=60: the first call has just left
    limiter.acquire(1)
    with pytest.raises(RateLimited):
        limiter.acquire(1)
    clock.advance(30)  # t=90: the call at t=30 leaves
    limiter.acquire(1)


def test_retry_after_is_the_time_until_the_oldest_call_leaves(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(3, clock=clock)
    limiter.acquire(7)  # t=0
    clock.advance(10)
    limiter.acquire(7)  # t=10
    clock.advance(15)
    limiter.acquire(7)  # t=25
    clock.advance(5)  # t=30
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(7)
    assert caught.value.retry_after == pytest.approx(30.0)
    clock.advance(29)  # t=59
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(7)
    assert caught.value.retry_after == pytest.approx(1.0)
    clock.advance(1)  # t=60: the t=0 call is gone; the next to leave is t=10
    limiter.acquire(7)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(7)
    assert caught.value.retry_after == pytest.approx(10.0)


def test_waiting_retry_after_is_enough(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, clock=clock)
    limiter.acquire(1)
    clock.advance(12.25)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(1)
    clock.advance(caught.value.retry_after)
    limiter.acquire(1)


def test_a_rejected_call_does_not_count(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(2, clock=clock)
    limiter.acquire(1)  # t=0
    limiter.acquire(1)  # t=0
    for _ in range(5):
        clock.advance(10)
        with pytest.raises(RateLimited):
            limiter.acquire(1)  # t=10..50, all rejected
    clock.advance(10)  # t=60: both real calls have left; the rejected ones never counted
    limiter.acquire(1)
    limiter.acquire(1)
    with pytest.raises(RateLimited):
        limiter.acquire(1)


def test_custom_window(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(1, window_s=5.0, clock=clock)
    limiter.acquire(1)
    clock.advance(4.9)
    with pytest.raises(RateLimited) as caught:
        limiter.acquire(1)
    assert caught.value.retry_after == pytest.approx(0.1)
    clock.advance(0.1)
    limiter.acquire(1)


def test_memory_follows_active_users_only(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(5, clock=clock)
    for user in range(10_000):
        limiter.acquire(user)
    assert limiter.tracked_users() == 10_000
    clock.advance(61)
    limiter.acquire(10_000_001)
    assert limiter.tracked_users() == 1
    # An idle user comes back with a full budget.
    for _ in range(5):
        limiter.acquire(42)
    assert limiter.tracked_users() == 2


def test_only_idle_users_are_evicted(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(2, clock=clock)
    limiter.acquire(1)  # t=0
    clock.advance(30)
    limiter.acquire(2)  # t=30
    limiter.acquire(2)
    clock.advance(31)  # t=61: user 1 is idle, user 2 is not
    assert limiter.tracked_users() == 1
    with pytest.raises(RateLimited):
        limiter.acquire(2)
    limiter.acquire(1)
    assert limiter.tracked_users() == 2


def test_a_returning_user_is_moved_to_the_back(clock: FakeClock) -> None:
    limiter = SlidingWindowLimiter(3, clock=clock)
    limiter.acquire(1)  # t=0
    clock.advance(10)
    limiter.acquire(2)  # t=10
    clock.advance(10)
    limiter.acquire(1)  # t=20: user 1 is now the most recently active
    clock.advance(50)  # t=70: user 2 (last call t=10) is idle, user 1 (t=20) is not
    assert limiter.tracked_users() == 1
    limiter.acquire(1)
    limiter.acquire(1)
    with pytest.raises(RateLimited):  # t=20, 70, 70 in the window
        limiter.acquire(1)


@pytest.mark.parametrize("limit", [1, 5, 20])
def test_threads_on_one_user_get_exactly_limit_calls(limit: int) -> None:
    limiter = SlidingWindowLimiter(limit, clock=FakeClock())
    threads_count = 32
    barrier = threading.Barrier(threads_count)
    allowed: list[int] = []
    rejected: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        for _ in range(4):
            try:
                limiter.acquire(99)
            except RateLimited as exc:
                with lock:
                    rejected.append(exc.retry_after)
            else:
                with lock:
                    allowed.append(1)

    threads = [threading.Thread(target=worker) for _ in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(allowed) == limit
    assert len(rejected) == threads_count * 4 - limit
    assert all(retry == pytest.approx(60.0) for retry in rejected)


def test_threads_on_many_users() -> None:
    limiter = SlidingWindowLimiter(3, clock=FakeClock())
    results: dict[int, int] = {}
    lock = threading.Lock()

    def worker(user: int) -> None:
        ok = 0
        for _ in range(10):
            try:
                limiter.acquire(user)
                ok += 1
            except RateLimited:
                pass
        with lock:
            results[user] = ok

    threads = [threading.Thread(target=worker, args=(user,)) for user in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == dict.fromkeys(range(40), 3)
    assert limiter.tracked_users() == 40
