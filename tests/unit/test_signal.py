from __future__ import annotations

import threading
import time

from likecounter._signal import ThreadSignal


def test_set_clear_and_wait_behave_like_an_event() -> None:
    signal = ThreadSignal()
    assert not signal.is_set()
    assert signal.wait(0.01) is False
    signal.set()
    signal.set()  # setting twice is harmless
    assert signal.is_set()
    assert signal.wait(0.01) is True
    assert signal.is_set()  # waiting leaves it set
    signal.clear()
    signal.clear()
    assert not signal.is_set()


def test_a_set_from_another_thread_wakes_the_waiter() -> None:
    signal = ThreadSignal()
    woke: list[float] = []

    def wait() -> None:
        started = time.monotonic()
        assert signal.wait(5.0)
        woke.append(time.monotonic() - started)

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.05)
    signal.set()
    waiter.join(5.0)
    assert len(woke) == 1 and 0.03 < woke[0] < 4.0


def test_no_wake_up_is_lost_under_racing_setters() -> None:
    # The coalescer's pattern: the owner clears, checks its condition, then waits; others change
    # the state and then set. Every one of 2,000 hand-overs must wake the owner.
    signal = ThreadSignal()
    state = {"turn": 0}
    rounds = 2000

    def setter() -> None:
        for turn in range(1, rounds + 1):
            while state["turn"] != turn - 1:
                time.sleep(0)
            state["turn"] = turn
            signal.set()
            signal.set()

    thread = threading.Thread(target=setter)
    thread.start()
    seen = 0
    while seen < rounds:
        signal.clear()
        if state["turn"] > seen:
            seen = state["turn"]
            continue
        assert signal.wait(5.0), f"lost a wake-up after turn {seen}"
    thread.join(5.0)
    assert seen == rounds
