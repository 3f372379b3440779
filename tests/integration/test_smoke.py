from __future__ import annotations

from collections.abc import Callable

from likecounter import Item, LikeCounter, LikeResult


def test_like_count_unlike_round_trip(like_counter: LikeCounter, invariants: Callable[[], None]) -> None:
    assert like_counter.like(1, 7) == LikeResult("liked", 1, True)
    assert like_counter.like(1, 7) == LikeResult("already_liked", 1, True)
    assert like_counter.like(2, 7) == LikeResult("liked", 2, True)
    assert like_counter.counts([(7, "post"), (8, "reel")]) == {Item(7, "post"): 2, Item(8, "reel"): 0}
    assert like_counter.has_liked(1, [7, 8]) == {7: True, 8: False}
    assert like_counter.unlike(1, 7) == LikeResult("unliked", 1, False)
    assert like_counter.unlike(1, 7) == LikeResult("not_liked", 1, False)
    assert like_counter.count(7) == 1
    invariants()
