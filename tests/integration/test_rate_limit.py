"""The per-user rate limit of like/unlike on a real counter."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from likecounter import BulkResult, InvalidInput, LikeCounter, LikeResult, RateLimited

Snapshot = dict[str, list[tuple[Any, ...]]]


@pytest.fixture
def limited(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> Iterator[LikeCounter]:
    with make_counter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=3) as counter:
        yield counter


def test_fourth_write_in_a_minute_is_refused(limited: LikeCounter, snapshot: Callable[[], Snapshot]) -> None:
    assert limited.like(1, 1) == LikeResult("liked", 1, True)
    assert limited.unlike(1, 1) == LikeResult("unliked", 0, False)
    assert limited.like(1, 2) == LikeResult("liked", 1, True)
    before = snapshot()
    with pytest.raises(RateLimited) as caught:
        limited.like(1, 99)
    error = caught.value
    assert (error.user_id, error.limit) == (1, 3)
    assert 0 < error.retry_after <= 60
    # The refused call wrote nothing.
    assert snapshot() == before
    with pytest.raises(RateLimited):
        limited.unlike(1, 2)
    assert snapshot() == before
    assert limited.count(99) == 0
    assert limited.count(2) == 1


def test_reads_and_other_users_are_not_limited(limited: LikeCounter) -> None:
    for item in range(3):
        limited.like(1, item)
    with pytest.raises(RateLimited):
        limited.like(1, 3)
    for _ in range(10):
        assert limited.count(0) == 1
        assert limited.counts([(0, "post"), (3, "post")]) == {(0, "post"): 1, (3, "post"): 0}
        assert limited.has_liked(1, [0, 3]) == {0: True, 3: False}
    assert limited.health().ok
    for item in range(3):
        assert limited.like(2, item).status == "liked"
    with pytest.raises(RateLimited):
        limited.unlike(2, 0)
    assert limited.count(0) == 2


def test_repeats_and_unknown_types_count_too(limited: LikeCounter) -> None:
    # The limit is on calls, not on changes: idempotent repeats and no-op unlikes use it up.
    assert limited.like(1, 1).status == "liked"
    assert limited.like(1, 1).status == "already_liked"
    assert limited.unlike(1, 1, "ghost").status == "not_liked"
    with pytest.raises(RateLimited):
        limited.like(1, 1)


def test_invalid_calls_do_not_use_up_the_limit(limited: LikeCounter) -> None:
    for _ in range(10):
        with pytest.raises(InvalidInput):
            limited.like(1, "1")  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            limited.unlike(1, 1, "Post")
    for item in range(3):
        assert limited.like(1, item).status == "liked"


def test_bulk_steps_are_not_limited(limited: LikeCounter) -> None:
    for item in range(5):
        assert limited.like_many([(1, item)]) == BulkResult(1, 1, 1, 0)
        assert limited.apply_events([(1, item, "post", "unlike")]) == BulkResult(1, 1, 0, 1)
    assert limited.like(1, 1).status == "liked"


def test_no_limit_when_disabled(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> None:
    with make_counter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=None) as counter:
        for _ in range(150):
            counter.like(1, 1)
        assert counter.count(1) == 1


def test_default_limit_is_100(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> None:
    with make_counter(likecounter_dsn, schema=likecounter_schema) as counter:
        assert counter.settings.rate_limit_per_minute == 100
        results = counter.like_many([(1, item) for item in range(100)])
        assert results.liked == 100
        for item in range(100):
            counter.unlike(1, item)
        with pytest.raises(RateLimited) as caught:
            counter.unlike(1, 0)
        assert caught.value.limit == 100
        assert counter.count(0) == 0
