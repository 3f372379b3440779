"""Hot-item counter shards: a hot item's likes spread over several counter rows, reads sum them, and
no shard ever goes negative, whatever shard a like was counted in."""

from __future__ import annotations

import random
from collections.abc import Callable
from functools import partial
from typing import Any

import psycopg
import pytest
from psycopg import sql

from likecounter import LikeResult
from likecounter._queries import Statements, latest_version, migrations

from .test_coalescing import run_together


def shard_counts(db: psycopg.Connection[Any], schema: str, item_id: int) -> dict[int, int]:
    rows = db.execute(
        sql.SQL("SELECT shard, like_count FROM {}.counters WHERE item_id = %s").format(
            sql.Identifier(schema)
        ),
        (item_id,),
    ).fetchall()
    return {int(shard): int(count) for shard, count in rows}


def test_a_hot_items_likes_spread_over_shards_and_reads_sum_them(
    schema_counter: Callable[..., Any],
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    counter = schema_counter(hot_shards=4, hot_threshold=1)
    # One caller at a time: every count is exact, shards or not.
    for user in range(1, 41):
        assert counter.like(user, 7) == LikeResult("liked", user, True)
    shards = shard_counts(db, likecounter_schema, 7)
    assert set(shards) == {0, 1, 2, 3}
    assert sum(shards.values()) == 40
    assert counter.count(7) == 40
    assert counter.counts([(7, "post")]) == {(7, "post"): 40}
    users = list(range(1, 41))
    random.Random(7).shuffle(users)
    for left, user in enumerate(users, start=1):
        assert counter.unlike(user, 7) == LikeResult("unliked", 40 - left, False)
        assert min(shard_counts(db, likecounter_schema, 7).values()) >= 0
    assert counter.count(7) == 0
    invariants()


def test_cold_items_keep_one_counter_row(
    like_counter: Any, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    for user in range(1, 20):
        like_counter.like(user, 8)
    assert like_counter.like_many([(user, 8) for user in range(20, 60)]).liked == 40
    assert shard_counts(db, likecounter_schema, 8) == {0: 59}


def test_likes_counted_cold_are_taken_back_from_their_own_shard(
    schema_counter: Callable[..., Any],
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    cold = schema_counter(hot_shards=1)
    hot = schema_counter(hot_shards=5, hot_threshold=1)
    for user in range(1, 6):
        cold.like(user, 9)
    for user in range(6, 21):
        hot.like(user, 9)
    assert shard_counts(db, likecounter_schema, 9)[0] >= 5
    # The hot counter unlikes the cold likes (all in shard 0), and the cold counter the hot ones:
    # each unlike finds its like row's shard, so no shard is driven below zero.
    for user in range(1, 6):
        assert hot.unlike(user, 9).status == "unliked"
    assert cold.unlike_many([(user, 9) for user in range(6, 21)]).unliked == 15
    assert set(shard_counts(db, likecounter_schema, 9).values()) == {0}
    assert hot.count(9) == cold.count(9) == 0
    invariants()


def test_bulk_writes_follow_hotness_without_making_items_hot(
    schema_counter: Callable[..., Any],
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    counter = schema_counter(hot_shards=4, hot_threshold=3)
    # A replay that repeats an item does not make it hot: it stays in one row.
    assert counter.like_many([(user, 5) for user in range(100)]).liked == 100
    assert set(shard_counts(db, likecounter_schema, 5)) == {0}
    for user in range(100, 103):  # three live likes: now item 5 is hot
        counter.like(user, 5)
    assert counter.like_many([(user, 5) for user in range(200, 300)]).liked == 100
    assert len(shard_counts(db, likecounter_schema, 5)) > 1
    assert counter.count(5) == 203
    events = [(user, 5, "post", "unlike") for user in range(0, 300, 2)]
    assert counter.apply_events(events).unliked == 102
    assert counter.count(5) == 101
    invariants()


@pytest.mark.parametrize("coalesce", [True, False], ids=["coalesced", "single"])
def test_64_threads_on_one_hot_item(
    schema_counter: Callable[..., Any],
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
    coalesce: bool,
) -> None:
    counter = schema_counter(
        max_pool_size=16,
        coalesce=coalesce,
        hot_threshold=20,
    )

    def worker(thread: int) -> list[LikeResult]:
        rng = random.Random(thread)
        results = []
        for step in range(20):
            user = thread * 100 + step % 10  # ten users per thread, each liked and maybe unliked
            action = counter.like if step < 10 or rng.random() < 0.5 else counter.unlike
            results.append(action(user, 1))
        return results

    per_thread = run_together([partial(worker, thread) for thread in range(64)])
    results = [result for batch in per_thread for result in batch]
    assert all(0 <= result.count <= 640 for result in results)
    liked = sum(result.status == "liked" for result in results)
    unliked = sum(result.status == "unliked" for result in results)
    assert counter.count(1) == liked - unliked
    assert len(shard_counts(db, likecounter_schema, 1)) > 1, "the hot item was never sharded"
    invariants()


def test_count_is_one_index_scan_over_the_shards(
    like_counter: Any, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    like_counter.like(1, 1)
    statement = Statements(likecounter_schema)["count"]
    db.execute(
        sql.SQL("PREPARE lc_count AS {}").format(
            sql.SQL(statement.as_string(db).replace("%(type_id)s", "$1").replace("%(item_id)s", "$2"))
        )
    )
    plan = "\n".join(row[0] for row in db.execute("EXPLAIN EXECUTE lc_count(1, 1)").fetchall())
    db.execute("DEALLOCATE lc_count")
    assert "Index" in plan and "counters_pkey" in plan, plan
    assert "Seq Scan" not in plan, plan


def test_a_version_1_schema_with_likes_upgrades_in_place(
    schema_counter: Callable[..., Any],
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    schema = sql.Identifier(likecounter_schema)
    first = migrations()[0]
    with db.transaction():
        db.execute(sql.SQL("CREATE SCHEMA {}").format(schema))
        db.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema))
        db.execute(sql.SQL(first.text))  # the migration file: trusted SQL
        db.execute("CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz)")
        db.execute("INSERT INTO schema_version VALUES (1, now())")
        db.execute("INSERT INTO item_types (name) VALUES ('post')")
        db.execute("INSERT INTO likes VALUES (1, 3, 1), (2, 3, 1)")
        db.execute("INSERT INTO counters (type_id, item_id, like_count) VALUES (1, 3, 2)")
    counter = schema_counter(hot_shards=1)
    assert counter.health().schema_version == latest_version()
    assert counter.count(3) == 2
    assert counter.unlike(1, 3) == LikeResult("unliked", 1, False)
    assert counter.like(3, 3) == LikeResult("liked", 2, True)
    assert shard_counts(db, likecounter_schema, 3) == {0: 2}
    invariants()
