"""Threads on one counter: exact outcomes under contention, on a real PostgreSQL."""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import psycopg
import pytest
from psycopg import sql

from likecounter import LikeCounter, LikeResult

T = TypeVar("T")
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)


@pytest.fixture
def likecounter_options() -> Mapping[str, Any]:
    return {"rate_limit_per_minute": None, "max_pool_size": 16, "min_pool_size": 2}


def run_together(calls: Sequence[Callable[[], T]]) -> list[T]:
    """Run every call in its own thread, released at once by a barrier; re-raise any failure."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(index: int, call: Callable[[], T]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def like_rows(db: psycopg.Connection[Any], schema: str, item_id: int | None = None) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT user_id, item_id, type_id FROM {}.likes").format(sql.Identifier(schema))
    if item_id is not None:
        query = sql.SQL("{} WHERE item_id = %s").format(query)
        return db.execute(query + sql.SQL(" ORDER BY 1"), (item_id,)).fetchall()
    return db.execute(query + sql.SQL(" ORDER BY 1, 2, 3")).fetchall()


def type_id(db: psycopg.Connection[Any], schema: str, name: str) -> int:
    """The id a type was registered with. Not always 1 for the first type: when several statements
    race to register it, each INSERT draws an identity value and only one of them keeps its own.
    """
    query = sql.SQL("SELECT type_id FROM {}.item_types WHERE name = %s").format(sql.Identifier(schema))
    row = db.execute(query, (name,)).fetchone()
    assert row is not None
    return int(row[0])


def test_ten_threads_like_the_same_pair(
    like_counter: LikeCounter,
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    # The first round runs on a schema where no type is registered yet: the threads also race to
    # register "post". Later rounds race on new items of a known type.
    for item in (7, 17, 27, 37, 47):
        results = run_together([partial(like_counter.like, 1, item)] * 10)
        statuses = Counter(result.status for result in results)
        assert statuses == {"liked": 1, "already_liked": 9}, results
        assert [result.count for result in results] == [1] * 10, results
        assert all(result.user_liked for result in results)
        assert like_rows(db, likecounter_schema, item) == [(1, item, type_id(db, likecounter_schema, "post"))]
        assert like_counter.count(item) == 1
    assert like_counter.unlike(1, 7) == LikeResult("unliked", 0, False)
    assert like_counter.unlike(1, 7) == LikeResult("not_liked", 0, False)
    assert like_counter.count(7) == 0
    assert like_rows(db, likecounter_schema, 7) == []
    invariants()


def test_two_threads_unlike_the_same_pair(
    like_counter: LikeCounter,
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    for item in range(9, 19):
        assert like_counter.like(1, item).status == "liked"
        assert like_counter.like(2, item).status == "liked"  # another user keeps the count above 0
        results = run_together([partial(like_counter.unlike, 1, item)] * 2)
        assert sorted(result.status for result in results) == ["not_liked", "unliked"]
        assert all(result.count == 1 for result in results), results
        assert not any(result.user_liked for result in results)
        assert like_counter.count(item) == 1
        assert like_counter.has_liked(1, [item]) == {item: False}
        assert like_rows(db, likecounter_schema, item) == [(2, item, 1)]
    invariants()


def test_fifty_threads_interleave_like_and_unlike(
    like_counter: LikeCounter, invariants: Callable[[], None]
) -> None:
    for item, liked_first in ((3, False), (4, True)):
        if liked_first:
            like_counter.like(1, item)
        calls = [partial(like_counter.like if i % 2 else like_counter.unlike, 1, item) for i in range(50)]
        results = run_together(calls)
        final = like_counter.count(item)
        assert final in (0, 1)
        assert like_counter.has_liked(1, [item]) == {item: final == 1}
        statuses = Counter(result.status for result in results)
        assert sum(statuses.values()) == 50
        assert statuses["liked"] + statuses["already_liked"] == 25
        assert statuses["unliked"] + statuses["not_liked"] == 25
        # Each change flips the state, so the changes alternate: the net is the state's change.
        assert statuses["liked"] - statuses["unliked"] == final - int(liked_first)
        for result in results:
            assert result.count in (0, 1)
            assert result.user_liked == (result.status in ("liked", "already_liked"))
            if result.status == "liked":
                assert result.count == 1
            if result.status == "unliked":
                assert result.count == 0
        invariants()


def test_many_users_interleave_like_and_unlike(
    like_counter: LikeCounter, invariants: Callable[[], None]
) -> None:
    # 10 users each like then unlike then like the same item, all at once: 10 likes remain.
    def like_unlike_like(user: int) -> list[LikeResult]:
        return [like_counter.like(user, 5), like_counter.unlike(user, 5), like_counter.like(user, 5)]

    for results in run_together([partial(like_unlike_like, user) for user in range(10)]):
        assert [result.status for result in results] == ["liked", "unliked", "liked"]
    assert like_counter.count(5) == 10
    invariants()


def test_unlike_by_another_user_changes_nothing(
    like_counter: LikeCounter, invariants: Callable[[], None]
) -> None:
    assert like_counter.like(1, 4) == LikeResult("liked", 1, True)
    assert like_counter.unlike(2, 4) == LikeResult("not_liked", 1, False)
    assert like_counter.count(4) == 1
    assert like_counter.has_liked(1, [4]) == {4: True}
    assert like_counter.has_liked(2, [4]) == {4: False}
    invariants()


def test_item_types_are_separate(like_counter: LikeCounter, invariants: Callable[[], None]) -> None:
    results = run_together(
        [partial(like_counter.like, 1, 1, "post"), partial(like_counter.like, 1, 1, "comment")]
    )
    assert results == [LikeResult("liked", 1, True), LikeResult("liked", 1, True)]
    assert like_counter.count(1, "post") == 1
    assert like_counter.count(1, "comment") == 1
    assert like_counter.unlike(1, 1, "comment") == LikeResult("unliked", 0, False)
    assert like_counter.count(1, "post") == 1
    assert like_counter.count(1, "comment") == 0
    invariants()


def test_many_threads_register_many_new_types(
    like_counter: LikeCounter,
    make_counter: Callable[..., Any],
    db: psycopg.Connection[Any],
    likecounter_dsn: str,
    likecounter_schema: str,
) -> None:
    names = [f"type_{i}" for i in range(4)]
    results = run_together([partial(like_counter.like, user, 1, name) for name in names for user in range(4)])
    assert all(result.status == "liked" for result in results)
    assert sorted(result.count for result in results) == sorted(list(range(1, 5)) * 4)
    rows = db.execute(
        sql.SQL("SELECT name FROM {}.item_types ORDER BY name").format(sql.Identifier(likecounter_schema))
    ).fetchall()
    assert rows == [(name,) for name in names]
    # A second counter on the same schema reads the same registry.
    with make_counter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=None) as other:
        assert other.counts([(1, name) for name in names]) == {(1, name): 4 for name in names}


@pytest.mark.parametrize(
    ("user", "item"), [(INT64_MAX, INT64_MAX), (INT64_MIN, INT64_MIN), (INT64_MIN, INT64_MAX)]
)
def test_extreme_ids(like_counter: LikeCounter, invariants: Callable[[], None], user: int, item: int) -> None:
    assert like_counter.like(user, item) == LikeResult("liked", 1, True)
    assert like_counter.count(item) == 1
    assert like_counter.has_liked(user, [item]) == {item: True}
    assert like_counter.counts([(item, "post")]) == {(item, "post"): 1}
    assert like_counter.unlike(user, item) == LikeResult("unliked", 0, False)
    assert like_counter.like_many([(user, item)]).liked == 1
    assert like_counter.count(item) == 1
    invariants()


def test_a_repeated_like_is_already_liked(like_counter: LikeCounter) -> None:
    assert like_counter.like(3, 3) == LikeResult("liked", 1, True)
    second = like_counter.like(3, 3)
    assert second == LikeResult("already_liked", 1, True)
    assert not second.changed
    assert like_counter.count(3) == 1


def test_many_users_like_one_item(
    like_counter: LikeCounter,
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    threads = 40
    results = run_together([partial(like_counter.like, user, 11) for user in range(threads)])
    assert all(result.status == "liked" for result in results)
    # Each statement saw its own increment: the counts are a permutation of 1..N.
    assert sorted(result.count for result in results) == list(range(1, threads + 1))
    assert like_counter.count(11) == threads
    assert [row[0] for row in like_rows(db, likecounter_schema, 11)] == list(range(threads))
    # And they all leave again.
    results = run_together([partial(like_counter.unlike, user, 11) for user in range(threads)])
    assert all(result.status == "unliked" for result in results)
    assert sorted(result.count for result in results) == list(range(threads))
    assert like_counter.count(11) == 0
    invariants()


def test_bulk_steps_and_single_likes_on_new_items_do_not_deadlock(
    like_counter: LikeCounter, invariants: Callable[[], None]
) -> None:
    # Bulk steps and single likes race to create the counters of new items: a bulk step whose
    # snapshot already sees some of them must still lock every counter in the same global order.
    for round_number in range(12):
        items = list(range(round_number * 100, round_number * 100 + 30))

        def bulk(thread: int, items: list[int] = items) -> int:
            steps = [[(thread * 10 + k, item, "post", "like") for item in items] for k in range(6)]
            return sum(like_counter.apply_events(events).liked for events in steps)

        def singles(thread: int, items: list[int] = items, seed: int = round_number) -> int:
            order = list(items)
            random.Random(thread * 1000 + seed).shuffle(order)
            return sum(like_counter.like(thread * 10, item).changed for item in order)

        calls: list[Callable[[], int]] = [partial(bulk, t) for t in range(5)]
        calls += [partial(singles, t) for t in range(5, 10)]
        assert run_together(calls) == [6 * 30] * 5 + [30] * 5
        assert like_counter.counts([(item, "post") for item in items]) == {
            (item, "post"): 35 for item in items
        }
    invariants()


def test_bulk_unlikes_and_single_likes_keep_counters_exact(
    like_counter: LikeCounter, invariants: Callable[[], None]
) -> None:
    items = list(range(100, 120))
    unliked = items[::3]

    def bulk(user: int) -> int:
        events = [(user, item, "post", "like") for item in items]
        events += [(user, item, "post", "unlike") for item in unliked]
        return like_counter.apply_events(events).liked

    def singles(user: int) -> int:
        return sum(like_counter.like(user, item).changed for item in reversed(items))

    calls: list[Callable[[], int]] = [partial(bulk, u) for u in range(6)]
    calls += [partial(singles, u) for u in range(6, 10)]
    kept = len(items) - len(unliked)
    assert run_together(calls) == [kept] * 6 + [len(items)] * 4

    # Now every bulk user takes its likes back, in one step each, while singles unlike theirs.
    def bulk_back(user: int) -> int:
        return like_counter.unlike_many([(user, item) for item in items]).unliked

    def singles_back(user: int) -> int:
        return sum(like_counter.unlike(user, item).changed for item in items)

    calls = [partial(bulk_back, u) for u in range(6)]
    calls += [partial(singles_back, u) for u in range(6, 8)]
    assert run_together(calls) == [kept] * 6 + [len(items)] * 2
    counts = like_counter.counts([(item, "post") for item in items])
    assert counts == {(item, "post"): 2 for item in items}
    invariants()
