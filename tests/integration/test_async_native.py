"""AsyncLikeCounter on the test's own event loop, through the plugin's `async_like_counter` fixture.

No facade here: tasks race with asyncio.gather, are cancelled mid-statement, and meet the rate limiter
on one loop, as they do in an async host application.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from likecounter import (
    AsyncLikeCounter,
    DatabaseUnavailable,
    InvalidInput,
    Item,
    LikeResult,
    RateLimited,
)

pytestmark = pytest.mark.asyncio


def like_rows(db: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT user_id, item_id, type_id FROM {}.likes ORDER BY 1, 2, 3")
    return db.execute(query.format(sql.Identifier(schema))).fetchall()


def idle_in_transaction(db: psycopg.Connection[Any]) -> int:
    row = db.execute(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND state LIKE 'idle in transaction%%'"
    ).fetchone()
    assert row is not None
    return int(row[0])


# -- tasks racing on one pair ---------------------------------------------------------------------


async def test_fifty_tasks_interleave_like_and_unlike(
    async_like_counter: AsyncLikeCounter, invariants: Callable[[], None]
) -> None:
    counter = async_like_counter
    for item, liked_first in ((3, False), (4, True)):
        if liked_first:
            await counter.like(1, item)
        calls = [counter.like(1, item) if i % 2 else counter.unlike(1, item) for i in range(50)]
        random.Random(item).shuffle(calls)
        results = await asyncio.gather(*calls)
        final = await counter.count(item)
        assert final in (0, 1)
        assert await counter.has_liked(1, [item]) == {item: final == 1}
        statuses = Counter(result.status for result in results)
        assert statuses["liked"] + statuses["already_liked"] == 25
        assert statuses["unliked"] + statuses["not_liked"] == 25
        # Each change flips the state, so the changes alternate: the net is the state's change.
        assert statuses["liked"] - statuses["unliked"] == final - int(liked_first)
        for result in results:
            assert result.count in (0, 1)
            assert result.user_liked == (result.status in ("liked", "already_liked"))
        invariants()


async def test_twenty_tasks_like_the_same_pair(
    async_like_counter: AsyncLikeCounter,
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    # The first round also races to register the "post" type on a fresh schema.
    for item in (7, 17, 27):
        results = await asyncio.gather(*(async_like_counter.like(1, item) for _ in range(20)))
        assert Counter(result.status for result in results) == {"liked": 1, "already_liked": 19}
        assert all(result == LikeResult(result.status, 1, True) for result in results)
        assert await async_like_counter.count(item) == 1
    # The racing registrations may each have drawn an identity value: look the type's id up.
    (post,) = db.execute(
        sql.SQL("SELECT type_id FROM {}.item_types").format(sql.Identifier(likecounter_schema))
    ).fetchall()
    assert like_rows(db, likecounter_schema) == [(1, 7, post[0]), (1, 17, post[0]), (1, 27, post[0])]
    invariants()


# -- cancellation ---------------------------------------------------------------------------------


async def test_a_like_cancelled_while_blocked_in_the_database_is_rolled_back(
    async_like_counter: AsyncLikeCounter,
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    counter = async_like_counter
    assert await counter.like(2, 5) == LikeResult("liked", 1, True)
    likes = sql.SQL("{}.likes").format(sql.Identifier(likecounter_schema))
    async with await psycopg.AsyncConnection.connect(likecounter_dsn) as blocker:
        # An uncommitted row for the same key: the like's INSERT waits for this transaction.
        await blocker.execute(sql.SQL("INSERT INTO {} VALUES (1, 5, 1)").format(likes))
        task = asyncio.create_task(counter.like(1, 5))
        for _ in range(500):
            await asyncio.sleep(0.01)
            cursor = await blocker.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if await cursor.fetchone() == (1,):
                break
        else:
            pytest.fail("the like never blocked on the uncommitted row")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await blocker.rollback()
    # The statement was cancelled in the server, not just abandoned: nothing of it was applied.
    assert like_rows(db, likecounter_schema) == [(2, 5, 1)]
    assert await counter.count(5) == 1
    assert await counter.has_liked(1, [5]) == {5: False}
    invariants()
    assert idle_in_transaction(db) == 0
    assert await counter.like(1, 5) == LikeResult("liked", 2, True)
    assert (await counter.health()).ok


async def test_cancelled_likes_and_unlikes_leave_every_key_consistent(
    async_like_counter: AsyncLikeCounter,
    db: psycopg.Connection[Any],
    invariants: Callable[[], None],
) -> None:
    counter = async_like_counter
    rng = random.Random(20240601)
    items = list(range(200))
    outcomes: Counter[str] = Counter()

    async def attempt(call: Coroutine[Any, Any, LikeResult], timeout: float) -> LikeResult | None:
        try:
            result = await asyncio.wait_for(call, timeout)
        except asyncio.TimeoutError:  # TimeoutError on 3.11+
            outcomes["cancelled"] += 1
            return None
        outcomes["completed"] += 1
        return result

    async def settled() -> None:
        # A cancelled caller's op may already be in a batch shared with others; that batch is
        # shielded and still commits. Let such batches finish before reading, so that the two
        # reads below see the same state.
        coalescer = counter._coalescer
        for _ in range(1000):
            if coalescer is None or (coalescer._flushing == 0 and not coalescer._queue):
                return
            await asyncio.sleep(0.005)
        pytest.fail("coalesced batches still in flight after 5 s")

    async def check(done: dict[int, LikeResult | None]) -> None:
        # Whatever was cancelled, each key is wholly liked or wholly not, and its counter agrees.
        await settled()
        counts = await counter.counts([(item, "post") for item in items])
        liked = await counter.has_liked(1, items)
        for item in items:
            assert counts[Item(item, "post")] == int(liked[item]), item
            result = done.get(item)
            if result is not None:
                assert liked[item] == result.user_liked, (item, result)
        invariants()

    # All at once: most tasks are cancelled while queued for one of the 4 pool connections, some
    # while their statement runs, some not at all.
    for method in (counter.like, counter.unlike):
        results = await asyncio.gather(*(attempt(method(1, i), rng.uniform(0, 0.03)) for i in items))
        await check(dict(enumerate(results)))
    # One at a time, each cancelled (or not) somewhere inside its own statement.
    for round_number in range(2):
        done: dict[int, LikeResult | None] = {}
        for item in items:
            method = counter.like if (item + round_number) % 2 else counter.unlike
            done[item] = await attempt(method(1, item), rng.uniform(0, 0.002))
        await check(done)
    assert outcomes["cancelled"] > 0 and outcomes["completed"] > 0, outcomes

    # The pool came through whole: every connection works, none was left inside a transaction.
    assert idle_in_transaction(db) == 0
    afterwards = await asyncio.gather(*(counter.like(2, item) for item in range(8)))
    assert [result.status for result in afterwards] == ["liked"] * 8
    health = await counter.health()
    assert health.ok, health
    assert health.pool is not None and health.pool.waiting == 0
    invariants()


async def test_cancelling_the_first_call_does_not_close_the_counter(
    likecounter_dsn: str, likecounter_schema: str, invariants: Callable[[], None]
) -> None:
    # The first call opens the pool and bootstraps; cancelling it there (a request timeout in a host
    # application, say) must leave a counter that the next call can still open.
    cancelled_while_opening = 0
    for attempt, delay in enumerate([0, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032]):
        counter = AsyncLikeCounter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=None)
        task = asyncio.create_task(counter.like(1, attempt))
        await asyncio.sleep(delay)  # sleep(0) lets the task start, and wait for its first connection
        task.cancel()
        try:
            result = await task
        except asyncio.CancelledError:
            cancelled_while_opening += 1
        else:
            # Finished first, or the cancel was lost: on Python < 3.12, asyncio.wait_for (which
            # psycopg_pool waits for a connection with) drops a cancel that races with its result.
            assert result.status == "liked"
        try:
            assert (await counter.like(2, attempt)).status == "liked"
            assert (await counter.health()).ok
        finally:
            await counter.close()
        assert counter.pool.closed
    assert cancelled_while_opening > 0
    invariants()


async def test_a_closed_counter_stays_closed(likecounter_dsn: str, likecounter_schema: str) -> None:
    counter = AsyncLikeCounter(likecounter_dsn, schema=likecounter_schema)
    await counter.close()
    with pytest.raises(DatabaseUnavailable, match="closed"):
        await counter.like(1, 1)
    health = await counter.health()
    assert health.ok is False
    assert counter.pool.closed


# -- the rate limiter -----------------------------------------------------------------------------


@pytest.mark.parametrize("likecounter_options", [{"rate_limit_per_minute": 5}], ids=["limit-5"])
async def test_rate_limit_under_concurrent_tasks(
    async_like_counter: AsyncLikeCounter,
    db: psycopg.Connection[Any],
    likecounter_schema: str,
    invariants: Callable[[], None],
) -> None:
    assert async_like_counter.settings.rate_limit_per_minute == 5
    results = await asyncio.gather(
        *(async_like_counter.like(1, item) for item in range(20)), return_exceptions=True
    )
    succeeded = [result for result in results if isinstance(result, LikeResult)]
    refused = [result for result in results if isinstance(result, RateLimited)]
    assert len(succeeded) == 5
    assert len(refused) == 15
    assert all(result == LikeResult("liked", 1, True) for result in succeeded)
    assert all((error.user_id, error.limit) == (1, 5) for error in refused)
    rows = like_rows(db, likecounter_schema)
    assert len(rows) == 5
    liked_items = [item for item, result in enumerate(results) if isinstance(result, LikeResult)]
    assert [row[1] for row in rows] == liked_items
    assert sum((await async_like_counter.counts([(i, "post") for i in range(20)])).values()) == 5
    invariants()


# -- construction, environment and pools ----------------------------------------------------------


async def test_from_env_in_async_with(
    likecounter_dsn: str, likecounter_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert likecounter_dsn.startswith("postgresql://")
    monkeypatch.setenv("DATABASE_URL", likecounter_dsn.replace("postgresql://", "postgresql+asyncpg://", 1))
    monkeypatch.setenv("LIKECOUNTER_SCHEMA", likecounter_schema)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "7")
    monkeypatch.setenv("DEBUG", "0")
    async with AsyncLikeCounter.from_env(max_pool_size=2) as counter:
        assert isinstance(counter, AsyncLikeCounter)
        assert counter.settings.schema == likecounter_schema
        assert counter.settings.rate_limit_per_minute == 7
        assert counter.settings.debug is False
        assert counter.settings.max_pool_size == 2
        assert "+asyncpg" not in repr(counter)
        assert await counter.like(1, 1) == LikeResult("liked", 1, True)
        assert await counter.count(1) == 1
    assert counter.pool.closed


async def test_a_borrowed_async_pool_is_not_closed(likecounter_dsn: str, likecounter_schema: str) -> None:
    pool: AsyncConnectionPool[Any] = AsyncConnectionPool(likecounter_dsn, min_size=1, max_size=2, open=False)
    await pool.open(wait=True)
    try:
        counter = AsyncLikeCounter(pool=pool, schema=likecounter_schema, rate_limit_per_minute=None)
        assert counter.pool is pool
        assert "borrowed pool" in repr(counter)
        assert await counter.like(1, 1) == LikeResult("liked", 1, True)
        await counter.close()
        assert not pool.closed
        async with pool.connection() as conn:
            cursor = await conn.execute("SELECT 1")
            assert await cursor.fetchone() == (1,)
        # Closing the counter did not stop it from using the host's pool either.
        assert await counter.count(1) == 1
    finally:
        await pool.close()


async def test_an_owned_async_pool_is_closed(likecounter_dsn: str, likecounter_schema: str) -> None:
    counter = AsyncLikeCounter(likecounter_dsn, schema=likecounter_schema)
    await counter.open()
    assert not counter.pool.closed
    await counter.close()
    assert counter.pool.closed
    await counter.close()  # twice is fine
    async with AsyncLikeCounter(likecounter_dsn, schema=likecounter_schema) as counter:
        assert not counter.pool.closed
    assert counter.pool.closed


async def test_an_async_counter_refuses_a_sync_pool(likecounter_dsn: str) -> None:
    pool: ConnectionPool[Any] = ConnectionPool(likecounter_dsn, open=False)
    with pytest.raises(InvalidInput, match="AsyncConnectionPool"):
        AsyncLikeCounter(pool=pool)  # type: ignore[arg-type]
