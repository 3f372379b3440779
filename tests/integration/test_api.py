"""The public API's semantics against a real PostgreSQL: results, rows, lifecycle, health, config."""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import psycopg.errors
import pytest
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from likecounter import (
    BulkResult,
    DatabaseUnavailable,
    InvalidInput,
    Item,
    LikeCounter,
    LikeCounterError,
    LikeResult,
    PoolTimeout,
    SchemaError,
)
from likecounter._queries import latest_version

from ..bridge import LoopThread

LATEST = latest_version()

Snapshot = dict[str, list[tuple[Any, ...]]]
SECRET = "s3cr3t-must-not-leak"
DEAD_SOCKET_DIR = "/nonexistent/likecounter-socket-dir"
DEAD_DSN = f"postgresql://app@/app?host={DEAD_SOCKET_DIR}"


def table_rows(db: psycopg.Connection[Any], schema: str, table: str) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT * FROM {}.{} ORDER BY 1, 2").format(sql.Identifier(schema), sql.Identifier(table))
    return db.execute(query).fetchall()


def dead_counter(make_counter: Callable[..., Any], dsn: str = DEAD_DSN, **options: Any) -> Any:
    """A counter of the test's flavour on a server that does not exist."""
    defaults: dict[str, Any] = {"bootstrap": False, "min_pool_size": 0, "pool_timeout": 0.2}
    return make_counter(dsn, **{**defaults, **options})


# -- reads and batches ----------------------------------------------------------------------------


def test_never_liked_items_count_zero(like_counter: LikeCounter) -> None:
    like_counter.like(1, 1)
    assert like_counter.count(2) == 0
    assert like_counter.count(1, "reel") == 0
    assert like_counter.counts([(2, "post"), (1, "reel")]) == {Item(2, "post"): 0, Item(1, "reel"): 0}
    assert like_counter.has_liked(1, [2]) == {2: False}


def test_empty_batches_do_not_touch_the_database(like_counter: LikeCounter) -> None:
    like_counter.close()
    assert like_counter.pool.closed
    assert like_counter.counts([]) == {}
    assert like_counter.has_liked(1, []) == {}
    assert like_counter.has_liked(1, [], "reel") == {}
    # Whereas anything that needs the database now fails.
    with pytest.raises(DatabaseUnavailable):
        like_counter.count(1)


def test_empty_bulk_steps_do_not_touch_the_database(like_counter: LikeCounter) -> None:
    like_counter.close()
    assert like_counter.apply_events([]) == BulkResult(0, 0, 0, 0)
    assert like_counter.like_many([]) == BulkResult(0, 0, 0, 0)
    assert like_counter.unlike_many([], "reel") == BulkResult(0, 0, 0, 0)


def test_empty_batches_on_a_dead_database(make_counter: Callable[..., Any]) -> None:
    with dead_counter(make_counter) as counter:
        assert counter.counts([]) == {}
        assert counter.has_liked(1, []) == {}
        with pytest.raises(PoolTimeout):
            counter.has_liked(1, [1])


def test_duplicates_in_batches_collapse(like_counter: LikeCounter) -> None:
    like_counter.like(1, 1)
    assert like_counter.counts([(1, "post"), (1, "post"), (2, "post"), (1, "post")]) == {
        Item(1, "post"): 1,
        Item(2, "post"): 0,
    }
    assert like_counter.has_liked(1, [1, 2, 1, 1]) == {1: True, 2: False}
    assert like_counter.like_many([(5, 5), (5, 5), (6, 5)]) == BulkResult(3, 2, 2, 0)
    assert like_counter.count(5) == 2
    assert like_counter.unlike_many([(5, 5), (5, 5)]) == BulkResult(2, 1, 0, 1)
    assert like_counter.count(5) == 1


def test_every_asked_item_is_present(like_counter: LikeCounter) -> None:
    like_counter.like(1, 10)
    like_counter.like(2, 10)
    like_counter.like(1, 11, "reel")
    like_counter.like(1, 12)
    like_counter.unlike(1, 12)
    asked = [(10, "post"), (11, "reel"), (11, "post"), (12, "post"), (13, "story"), (10, "reel")]
    counts = like_counter.counts(asked)
    assert counts == {
        Item(10, "post"): 2,
        Item(11, "reel"): 1,
        Item(11, "post"): 0,
        Item(12, "post"): 0,
        Item(13, "story"): 0,
        Item(10, "reel"): 0,
    }
    assert list(counts) == [Item(*entry) for entry in asked]
    assert all(type(key) is Item for key in counts)
    assert like_counter.has_liked(1, [13, 12, 11, 10]) == {13: False, 12: False, 11: False, 10: True}
    assert like_counter.has_liked(1, [10, 11], "reel") == {10: False, 11: True}
    assert like_counter.has_liked(1, [1], "story") == {1: False}


def test_batch_limit_default_is_1000(like_counter: LikeCounter) -> None:
    items = [(i, "post") for i in range(1000)]
    assert like_counter.counts(items) == {Item(i, "post"): 0 for i in range(1000)}
    assert like_counter.has_liked(1, list(range(1000))) == dict.fromkeys(range(1000), False)
    with pytest.raises(InvalidInput, match="max_batch_size=1000"):
        like_counter.counts([*items, (1000, "post")])
    with pytest.raises(InvalidInput, match="max_batch_size=1000"):
        like_counter.has_liked(1, range(1001))
    with pytest.raises(InvalidInput, match="max_batch_size=1000"):
        like_counter.like_many([(1, i) for i in range(1001)])
    assert like_counter.like_many([(1, i) for i in range(1000)]) == BulkResult(1000, 1000, 1000, 0)


def test_batch_limit_option(
    make_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    snapshot: Callable[[], Snapshot],
) -> None:
    with make_counter(likecounter_dsn, schema=likecounter_schema, max_batch_size=3) as counter:
        assert counter.settings.max_batch_size == 3
        before = snapshot()
        calls: list[Callable[[], object]] = [
            lambda: counter.counts([(i, "post") for i in range(4)]),
            lambda: counter.has_liked(1, [1, 2, 3, 4]),
            lambda: counter.apply_events([(1, i, "post", "like") for i in range(4)]),
            lambda: counter.like_many([(1, i) for i in range(4)]),
            lambda: counter.unlike_many([(1, i) for i in range(4)]),
        ]
        for call in calls:
            with pytest.raises(InvalidInput, match="max_batch_size=3"):
                call()
        assert snapshot() == before
        assert counter.like_many([(1, i) for i in range(3)]) == BulkResult(3, 3, 3, 0)


# -- item types -----------------------------------------------------------------------------------


def test_reading_an_unused_type_registers_nothing(
    like_counter: LikeCounter, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    like_counter.like(1, 1, "post")
    assert like_counter.count(1, "reel") == 0
    assert like_counter.counts([(1, "reel"), (2, "story")]) == {Item(1, "reel"): 0, Item(2, "story"): 0}
    assert like_counter.has_liked(1, [1], "reel") == {1: False}
    assert table_rows(db, likecounter_schema, "item_types") == [(1, "post")]


def test_unliking_an_unknown_type_creates_nothing(
    like_counter: LikeCounter, snapshot: Callable[[], Snapshot]
) -> None:
    like_counter.like(1, 1)
    before = snapshot()
    assert like_counter.unlike(1, 1, "ghost") == LikeResult("not_liked", 0, False)
    assert like_counter.unlike_many([(1, 1), (2, 2)], "ghost") == BulkResult(2, 2, 0, 0)
    assert like_counter.apply_events([(1, 1, "ghost", "unlike"), (1, 1, "other", "unlike")]) == BulkResult(
        2, 2, 0, 0
    )
    # A like followed by an unlike of the same key is an unlike: still nothing to register.
    assert like_counter.apply_events([(1, 1, "ghost", "like"), (1, 1, "ghost", "unlike")]) == BulkResult(
        2, 1, 0, 0
    )
    assert snapshot() == before


def test_rows_store_a_smallint_type_id(
    like_counter: LikeCounter, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    like_counter.like(1, 1, "post")
    like_counter.like(1, 1, "reel")
    like_counter.like(2, 1, "reel")
    types = dict(
        db.execute(
            sql.SQL("SELECT name, type_id FROM {}.item_types").format(sql.Identifier(likecounter_schema))
        ).fetchall()
    )
    assert sorted(types) == ["post", "reel"]
    assert table_rows(db, likecounter_schema, "likes") == [
        (1, 1, types["post"], 0),
        (1, 1, types["reel"], 0),
        (2, 1, types["reel"], 0),
    ]
    assert sorted(table_rows(db, likecounter_schema, "counters")) == sorted(
        [(types["post"], 1, 0, 1), (types["reel"], 1, 0, 2)]
    )
    column_types = db.execute(
        """
        SELECT table_name, column_name, data_type FROM information_schema.columns
         WHERE table_schema = %s AND column_name = 'type_id' ORDER BY table_name
        """,
        (likecounter_schema,),
    ).fetchall()
    assert column_types == [
        ("counters", "type_id", "smallint"),
        ("item_types", "type_id", "smallint"),
        ("likes", "type_id", "smallint"),
    ]


def test_a_known_type_does_not_use_up_the_smallint_sequence(
    make_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    # Every new counter looks its types up once. Looking up a known name must not draw an identity
    # value, or after 32767 counter starts no like could be recorded at all.
    with make_counter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=None) as counter:
        counter.like(1, 1)
    sequence = f"{likecounter_schema}.item_types"
    db.execute("SELECT setval(pg_get_serial_sequence(%s, 'type_id'), 32767)", (sequence,))
    for user in (2, 3):
        with make_counter(likecounter_dsn, schema=likecounter_schema, rate_limit_per_minute=None) as counter:
            assert counter.like(user, 1).status == "liked"
            assert counter.apply_events([(user, 2, "post", "like")]).liked == 1
            assert counter.like_many([(user, 3)]).liked == 1
    assert table_rows(db, likecounter_schema, "item_types") == [(1, "post")]


def test_counts_cannot_go_negative(
    like_counter: LikeCounter, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    like_counter.like(1, 1)
    query = sql.SQL("UPDATE {}.counters SET like_count = -1").format(sql.Identifier(likecounter_schema))
    with pytest.raises(psycopg.errors.CheckViolation):
        db.execute(query)
    assert like_counter.count(1) == 1


def test_item_type_names_are_checked_by_the_database_too(
    like_counter: LikeCounter, db: psycopg.Connection[Any], likecounter_schema: str
) -> None:
    like_counter.like(1, 1)
    query = sql.SQL("INSERT INTO {}.item_types (name) VALUES (%s)").format(sql.Identifier(likecounter_schema))
    for bad in ("Post", "a" * 33, "1x"):
        with pytest.raises(psycopg.errors.CheckViolation):
            db.execute(query, (bad,))


# -- bulk semantics -------------------------------------------------------------------------------


def test_apply_events_last_action_wins(like_counter: LikeCounter, invariants: Callable[[], None]) -> None:
    like_counter.like(1, 3)
    result = like_counter.apply_events(
        [
            (1, 1, "post", "like"),
            (1, 1, "post", "unlike"),  # 1/1: unlike wins, it was not liked: unchanged
            (1, 2, "post", "unlike"),
            (1, 2, "post", "like"),  # 1/2: like wins: liked
            (1, 3, "post", "like"),
            (1, 3, "post", "unlike"),  # 1/3: unlike wins, it was liked: unliked
            (2, 2, "reel", "like"),  # 2/2 reel: liked
            (2, 2, "reel", "like"),
        ]
    )
    assert result == BulkResult(events=8, keys=4, liked=2, unliked=1)
    assert result.unchanged == 1
    assert like_counter.counts([(1, "post"), (2, "post"), (3, "post"), (2, "reel")]) == {
        Item(1, "post"): 0,
        Item(2, "post"): 1,
        Item(3, "post"): 0,
        Item(2, "reel"): 1,
    }
    invariants()


def test_bulk_results_add_up(like_counter: LikeCounter) -> None:
    first = like_counter.like_many([(1, 1), (2, 1)])
    second = like_counter.unlike_many([(1, 1), (3, 1)])
    assert first + second == BulkResult(4, 4, 2, 1)
    assert like_counter.count(1) == 1


# -- pools ----------------------------------------------------------------------------------------


def test_an_owned_pool_is_closed(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> None:
    counter = make_counter(likecounter_dsn, schema=likecounter_schema)
    assert not counter.pool.closed
    counter.close()
    assert counter.pool.closed
    counter.close()  # twice is fine
    with make_counter(likecounter_dsn, schema=likecounter_schema) as counter:
        pass
    assert counter.pool.closed


class BorrowedPool:
    """A host application's pool of the test's flavour: a ConnectionPool for LikeCounter, or an
    AsyncConnectionPool (living on the facade's loop) for AsyncLikeCounter; looked into synchronously.
    """

    def __init__(self, pool: ConnectionPool[Any] | AsyncConnectionPool[Any], loop: LoopThread | None) -> None:
        self.pool = pool
        self._loop = loop

    def select_one(self) -> Any:
        """Run `SELECT 1` on a connection of the pool."""
        if isinstance(self.pool, ConnectionPool):
            with self.pool.connection() as conn:
                return conn.execute("SELECT 1").fetchone()
        assert self._loop is not None
        pool = self.pool

        async def select() -> Any:
            async with pool.connection() as conn:
                cursor = await conn.execute("SELECT 1")
                return await cursor.fetchone()

        return self._loop.run(select())

    def lend_two(self) -> list[tuple[TransactionStatus, bool]]:
        """Take both of the pool's connections at once: (transaction status, autocommit) of each."""
        if isinstance(self.pool, ConnectionPool):
            with self.pool.connection() as first, self.pool.connection() as second:
                return [(conn.info.transaction_status, conn.autocommit) for conn in (first, second)]
        assert self._loop is not None
        pool = self.pool

        async def lend() -> list[tuple[TransactionStatus, bool]]:
            async with pool.connection() as first, pool.connection() as second:
                return [(conn.info.transaction_status, conn.autocommit) for conn in (first, second)]

        return self._loop.run(lend())


@pytest.fixture
def borrowed_pool(
    flavour: str, likecounter_dsn: str, request: pytest.FixtureRequest
) -> Iterator[BorrowedPool]:
    # Not autocommit, as a host application's pool often is.
    if flavour == "sync":
        pool: ConnectionPool[Any] = ConnectionPool(likecounter_dsn, min_size=1, max_size=2, open=False)
        pool.open(wait=True)
        yield BorrowedPool(pool, None)
        pool.close()
        return
    # An async pool belongs to the loop it runs on: build, open and close it on the facade's loop.
    loop: LoopThread = request.getfixturevalue("loop_thread")

    async def build() -> AsyncConnectionPool[Any]:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            likecounter_dsn, min_size=1, max_size=2, open=False
        )
        await pool.open(wait=True)
        return pool

    async_pool = loop.run(build())
    yield BorrowedPool(async_pool, loop)
    loop.run(async_pool.close())


def test_a_borrowed_pool_is_not_closed(
    make_counter: Callable[..., Any], borrowed_pool: BorrowedPool, likecounter_schema: str
) -> None:
    with make_counter(
        pool=borrowed_pool.pool, schema=likecounter_schema, rate_limit_per_minute=None
    ) as counter:
        assert counter.pool is borrowed_pool.pool
        assert counter.like(1, 1) == LikeResult("liked", 1, True)
        assert "borrowed pool" in repr(counter)
    assert not borrowed_pool.pool.closed
    assert borrowed_pool.select_one() == (1,)


def test_a_borrowed_non_autocommit_pool_commits_and_returns_idle_connections(
    make_counter: Callable[..., Any],
    borrowed_pool: BorrowedPool,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="psycopg")
    with make_counter(
        pool=borrowed_pool.pool, schema=likecounter_schema, rate_limit_per_minute=None
    ) as counter:
        assert counter.like(1, 1).status == "liked"
        assert counter.like(1, 1).status == "already_liked"
        assert counter.unlike(2, 1).status == "not_liked"
        assert counter.like_many([(2, 1), (3, 1)]).liked == 2
        assert counter.count(1) == 3
        assert counter.has_liked(1, [1]) == {1: True}
        with pytest.raises(InvalidInput):
            counter.like(1, "x")
        # Every write is visible from another session: committed, not left in a transaction.
        assert table_rows(db, likecounter_schema, "likes") == [(1, 1, 1, 0), (2, 1, 1, 0), (3, 1, 1, 0)]
        idle_in_transaction = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%'"
        ).fetchone()
        assert idle_in_transaction == (0,)
        # Both pool connections come back as they were lent: idle, not autocommit.
        lent = borrowed_pool.lend_two()
        assert len(lent) == 2
        for transaction_status, autocommit in lent:
            assert transaction_status == TransactionStatus.IDLE
            assert autocommit is False
    # The pool never had to roll a returned connection back.
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []


def test_a_database_error_on_a_borrowed_pool_leaves_the_connection_clean(
    make_counter: Callable[..., Any],
    borrowed_pool: BorrowedPool,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    with make_counter(
        pool=borrowed_pool.pool, schema=likecounter_schema, rate_limit_per_minute=None
    ) as counter:
        counter.like(1, 1)
        db.execute(sql.SQL("DROP TABLE {}.likes CASCADE").format(sql.Identifier(likecounter_schema)))
        with pytest.raises(SchemaError, match="bootstrap=True"):
            counter.like(2, 1)
        lent = borrowed_pool.lend_two()
        assert len(lent) == 2
        for transaction_status, autocommit in lent:
            assert transaction_status == TransactionStatus.IDLE
            assert autocommit is False


def test_operations_on_a_missing_schema_raise_schema_error(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> None:
    with make_counter(likecounter_dsn, schema=likecounter_schema, bootstrap=False) as counter:
        with pytest.raises(SchemaError, match="likecounter init"):
            counter.like(1, 1)
        with pytest.raises(SchemaError):
            counter.count(1)


# -- health ---------------------------------------------------------------------------------------


def test_health_ok_on_a_live_database(like_counter: LikeCounter) -> None:
    health = like_counter.health()
    assert health.ok is True
    assert health.database_up is True
    assert health.error is None
    assert health.schema_version == health.expected_schema_version == LATEST
    assert health.latency_ms is not None and health.latency_ms >= 0
    assert health.pool is not None
    assert health.pool.max_size == 4
    assert health.pool.size >= 1


def test_health_reports_a_schema_not_yet_created(
    make_counter: Callable[..., Any], likecounter_dsn: str, likecounter_schema: str
) -> None:
    with make_counter(likecounter_dsn, schema=likecounter_schema, bootstrap=False) as counter:
        health = counter.health()
        assert (health.ok, health.database_up, health.schema_version) == (False, True, None)
        assert health.error is not None and "has not been created" in health.error
        assert counter.bootstrap() == LATEST
        assert counter.health().ok is True


def test_health_reports_a_dead_database_without_raising(make_counter: Callable[..., Any]) -> None:
    with dead_counter(make_counter) as counter:
        health = counter.health(timeout=0.2)
    assert health.ok is False
    assert health.database_up is False
    assert health.schema_version is None
    assert health.latency_ms is None
    assert health.expected_schema_version == LATEST
    assert health.error is not None and health.error.startswith("PoolTimeout: ")


def test_bootstrap_against_a_dead_database_raises_our_error(make_counter: Callable[..., Any]) -> None:
    with pytest.raises(PoolTimeout) as caught:
        make_counter(DEAD_DSN, pool_timeout=1.0)
    error = caught.value
    assert isinstance(error, DatabaseUnavailable)
    assert isinstance(error, LikeCounterError)
    assert isinstance(error, TimeoutError)
    assert "no database connection was available within 1 s: the pool cannot connect" in str(error)


# -- schema versions ------------------------------------------------------------------------------


def test_a_newer_schema_version_is_refused(
    make_counter: Callable[..., Any],
    like_counter: LikeCounter,
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    db.execute(
        sql.SQL("INSERT INTO {}.schema_version (version) VALUES (999)").format(
            sql.Identifier(likecounter_schema)
        )
    )
    with pytest.raises(SchemaError, match="version 999") as caught:
        make_counter(likecounter_dsn, schema=likecounter_schema)
    assert "upgrade likecounter" in str(caught.value)
    health = like_counter.health()
    assert (health.ok, health.database_up, health.schema_version) == (False, True, 999)
    assert health.error is not None and "999" in health.error
    # Nothing was applied on top of it.
    assert [row[0] for row in table_rows(db, likecounter_schema, "schema_version")] == [
        *range(1, LATEST + 1),
        999,
    ]


def test_bootstrap_is_idempotent(like_counter: LikeCounter, snapshot: Callable[[], Snapshot]) -> None:
    like_counter.like(1, 1)
    before = snapshot()
    assert like_counter.bootstrap() == LATEST
    assert like_counter.bootstrap() == LATEST
    assert snapshot() == before
    assert before["schema_version"] == [(version,) for version in range(1, LATEST + 1)]


def test_concurrent_bootstraps_apply_the_schema_once(
    make_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    db: psycopg.Connection[Any],
) -> None:
    with make_counter(
        likecounter_dsn, schema=likecounter_schema, bootstrap=False, max_pool_size=8
    ) as counter:
        barrier = threading.Barrier(6)
        versions: list[int] = []
        errors: list[BaseException] = []

        def run() -> None:
            try:
                barrier.wait()
                versions.append(counter.bootstrap())
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert versions == [LATEST] * 6
        assert counter.like(1, 1).status == "liked"
    assert [row[0] for row in table_rows(db, likecounter_schema, "schema_version")] == list(
        range(1, LATEST + 1)
    )


# -- configuration from the environment ------------------------------------------------------------


@pytest.fixture
def likecounter_logger() -> Iterator[logging.Logger]:
    """The library logger, restored afterwards (DEBUG=1 changes its level)."""
    logger = logging.getLogger("likecounter")
    level, handlers = logger.level, list(logger.handlers)
    yield logger
    logger.setLevel(level)
    for handler in list(logger.handlers):
        if handler not in handlers:
            logger.removeHandler(handler)


@pytest.mark.parametrize("driver", ["psycopg", "asyncpg", "psycopg2"])
def test_from_env_accepts_sqlalchemy_urls(
    counter_from_env: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    monkeypatch: pytest.MonkeyPatch,
    likecounter_logger: logging.Logger,
    driver: str,
) -> None:
    assert likecounter_dsn.startswith("postgresql://")
    url = likecounter_dsn.replace("postgresql://", f"postgresql+{driver}://", 1)
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LIKECOUNTER_SCHEMA", likecounter_schema)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "7")
    monkeypatch.setenv("DEBUG", "1")
    with counter_from_env(max_pool_size=2) as counter:
        assert counter.settings.schema == likecounter_schema
        assert counter.settings.rate_limit_per_minute == 7
        assert counter.settings.debug is True
        assert counter.settings.max_pool_size == 2
        assert likecounter_logger.isEnabledFor(logging.DEBUG)
        assert counter.like(1, 1) == LikeResult("liked", 1, True)
        assert counter.count(1) == 1
        assert f"+{driver}" not in repr(counter)


def test_from_env_overrides_win(
    counter_from_env: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", likecounter_dsn)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "1")
    monkeypatch.delenv("DEBUG", raising=False)
    monkeypatch.delenv("LIKECOUNTER_SCHEMA", raising=False)
    with counter_from_env(schema=likecounter_schema, rate_limit_per_minute=None) as counter:
        assert counter.settings.rate_limit_per_minute is None
        for _ in range(3):
            counter.like(1, 1)


def test_from_env_without_database_url(
    counter_from_env: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(InvalidInput, match="DATABASE_URL"):
        counter_from_env()


def test_from_env_bad_values(counter_from_env: Callable[..., Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", DEAD_DSN)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "lots")
    with pytest.raises(InvalidInput, match="RATE_LIMIT_REQUESTS"):
        counter_from_env(bootstrap=False)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "-3")
    with pytest.raises(InvalidInput, match="rate_limit_per_minute"):
        counter_from_env(bootstrap=False)
    monkeypatch.setenv("RATE_LIMIT_REQUESTS", "5")
    monkeypatch.setenv("DEBUG", "verbose")
    with pytest.raises(InvalidInput, match="DEBUG"):
        counter_from_env(bootstrap=False)


# -- secrets --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://app:{SECRET}@/app?host={DEAD_SOCKET_DIR}",
        f"postgresql+asyncpg://app:{SECRET}@/app?host={DEAD_SOCKET_DIR}",
        f"postgresql://app@/app?host={DEAD_SOCKET_DIR}&password={SECRET}",
        f"host={DEAD_SOCKET_DIR} user=app password={SECRET} dbname=app",
    ],
)
def test_the_password_never_shows(make_counter: Callable[..., Any], dsn: str) -> None:
    with dead_counter(make_counter, dsn) as counter:
        assert SECRET not in repr(counter)
        assert "***" in repr(counter)
        health = counter.health(timeout=0.2)
        assert health.error is not None
        assert SECRET not in health.error
        assert SECRET not in repr(health)
        with pytest.raises(PoolTimeout) as caught:
            counter.like(1, 1)
        assert SECRET not in str(caught.value)
    with pytest.raises(PoolTimeout) as caught:
        make_counter(dsn, pool_timeout=0.2)
    assert SECRET not in str(caught.value)
    assert SECRET not in "".join(traceback.format_exception(caught.value))


# -- logging --------------------------------------------------------------------------------------


def test_debug_logging_times_every_operation(
    like_counter: LikeCounter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="likecounter")
    operations: list[Callable[[], object]] = [
        lambda: like_counter.like(1, 1),
        lambda: like_counter.unlike(1, 1),
        lambda: like_counter.count(1),
        lambda: like_counter.counts([(1, "post")]),
        lambda: like_counter.has_liked(1, [1]),
        lambda: like_counter.apply_events([(1, 1, "post", "like")]),
        lambda: like_counter.like_many([(2, 1)]),
        lambda: like_counter.unlike_many([(2, 1)]),
        lambda: like_counter.health(),
        lambda: like_counter.bootstrap(),
    ]
    for operation in operations:
        caplog.clear()
        operation()
        records = [r for r in caplog.records if r.name == "likecounter"]
        assert len(records) == 1, [r.getMessage() for r in records]
        assert records[0].levelno == logging.DEBUG
        assert records[0].getMessage().endswith(" ms")
        assert " took " in records[0].getMessage()
    # A call rejected by validation is not an operation on the database: no record.
    caplog.clear()
    with pytest.raises(InvalidInput):
        like_counter.like(1, -(2**64))
    assert [r for r in caplog.records if r.name == "likecounter"] == []


def test_no_debug_records_at_info_level(like_counter: LikeCounter, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="likecounter")
    like_counter.like(1, 1)
    assert [r for r in caplog.records if r.name == "likecounter"] == []
