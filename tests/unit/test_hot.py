from __future__ import annotations

from likecounter._hot import HotItems


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_item_turns_hot_at_the_threshold_within_one_window() -> None:
    clock = Clock()
    hot = HotItems(8, 3, clock=clock)
    assert [hot.observe((1, 7)) for _ in range(3)] == [False, False, True]
    assert hot.is_hot((1, 7))
    assert not hot.is_hot((1, 8))  # another item, or another type, is not
    assert not hot.is_hot((2, 7))


def test_writes_spread_over_windows_do_not_make_an_item_hot() -> None:
    clock = Clock()
    hot = HotItems(8, 3, clock=clock)
    for _ in range(10):
        assert not hot.observe((1, 7))
        assert not hot.observe((1, 7))
        clock.now += 1.0  # a new window: the count starts again


def test_a_hot_item_cools_down_after_the_hold() -> None:
    clock = Clock()
    hot = HotItems(8, 2, hold_s=30.0, clock=clock)
    hot.observe((1, 7))
    assert hot.observe((1, 7))
    clock.now += 29.0
    assert hot.is_hot((1, 7))
    clock.now += 2.0
    assert not hot.is_hot((1, 7))
    assert not hot.observe((1, 7))  # one write in a fresh window is below the threshold again


def test_rotation_visits_every_shard_in_turn() -> None:
    hot = HotItems(5, 1)
    first = hot.rotate()
    assert [hot.rotate() for _ in range(5)] == [(first + step) % 5 for step in range(1, 6)]


def test_one_shard_means_disabled() -> None:
    assert not HotItems(1, 1).enabled
    assert HotItems(2, 1).enabled


def test_memory_stays_bounded_under_a_flood_of_distinct_items() -> None:
    clock = Clock()
    hot = HotItems(8, 2, max_tracked=100, clock=clock)
    for item in range(10_000):
        hot.observe((1, item))
        if item % 1000 == 0:
            clock.now += 0.5
    assert len(hot._windows) <= 100
    for item in range(10_000):
        hot.observe((1, item))
        hot.observe((1, item))
    assert len(hot._hot_until) <= 100
