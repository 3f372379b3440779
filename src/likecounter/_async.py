"""AsyncLikeCounter: the asyncio I/O shell around the sans-I/O core.

This file is the source of both shells: `tools/async_to_sync.py` generates `_sync.py` (LikeCounter)
from it, and `nox -s lint` fails when the two drift apart. Edit this file, then regenerate.
Lines marked `# async-only` are dropped from the sync twin; `# sync-only: CODE` lines become CODE.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Any, TypeVar

import psycopg
import psycopg.errors
from psycopg.pq import TransactionStatus
from psycopg_pool import AsyncConnectionPool

from . import _config
from ._async_coalesce import AsyncCoalescer
from ._core import (
    DEFAULT_MAX_REPORTED,
    DEFAULT_SCAN_BATCH,
    Core,
    Paged,
    Plan,
    Query,
    Rows,
    Transaction,
    WriteOp,
    pool_stats,
    single,
)
from ._deadline import Deadline, remaining
from ._errors import ConnectFailures, InvalidInput, LikeCounterError, translate
from ._results import BulkResult, Health, Item, LikeResult, PoolStats, ReconcileReport, VerifyReport
from ._validation import check_seconds

# sync-only: from ._deadline import cancel_after

T = TypeVar("T")
logger = logging.getLogger("likecounter")

# A deadlock aborts only the statement that PostgreSQL picked as the victim; every write here is a
# single autocommit statement, so running it again is safe and gives the same end state.
DEADLOCK_RETRIES = 3


class AsyncLikeCounter:
    """Deduplicated like counting over a psycopg connection pool.

    Give it a DSN and it builds (and later closes) its own pool, or give it `pool=` and it borrows the
    host's pool and never closes it::

        async with AsyncLikeCounter("postgresql://app@db/app") as counter:
            await counter.like(1, 456)      # LikeResult(status='liked', count=1, user_liked=True)
            await counter.count(456)        # 1

    With `bootstrap=True` (the default) the schema's migrations are applied when the counter opens.

    Deadlines: `pool_timeout` bounds each wait for a pool connection (PoolTimeout); the
    `statement_timeout` option bounds every statement on the server (StatementTimeout); and every
    method takes `timeout=` seconds for that call alone, bounding both (see `like`).
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: AsyncConnectionPool[Any] | None = None,
        schema: str = _config.DEFAULT_SCHEMA,
        rate_limit_per_minute: int | None = _config.DEFAULT_RATE_LIMIT_PER_MINUTE,
        max_batch_size: int = _config.DEFAULT_MAX_BATCH_SIZE,
        bootstrap: bool = True,
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        pool_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        statement_timeout: float | None = None,
        debug: bool = False,
        coalesce: bool = True,
        coalesce_max_batch: int = 256,
        coalesce_max_inflight: int | None = None,
        coalesce_linger_us: int = 200,
        hot_shards: int = 8,
        hot_threshold: int = 100,
    ) -> None:
        if (dsn is None) == (pool is None):
            raise InvalidInput("pass exactly one of `dsn` or `pool=`")
        if pool is not None and not isinstance(pool, AsyncConnectionPool):
            raise InvalidInput(f"pool must be a psycopg_pool.AsyncConnectionPool, not {type(pool).__name__}")
        if pool is not None and statement_timeout is not None:
            raise InvalidInput(
                "statement_timeout applies to a pool the counter builds; set it on your own pool"
            )
        normalized = _config.normalize_dsn(dsn) if dsn is not None else None
        settings = _config.Settings(
            schema=schema,
            rate_limit_per_minute=rate_limit_per_minute,
            max_batch_size=max_batch_size,
            bootstrap=bootstrap,
            min_pool_size=min_pool_size,
            max_pool_size=max_pool_size,
            pool_timeout=pool_timeout,
            connect_timeout=connect_timeout,
            statement_timeout=statement_timeout,
            debug=debug,
            coalesce=coalesce,
            coalesce_max_batch=coalesce_max_batch,
            coalesce_max_inflight=coalesce_max_inflight,
            coalesce_linger_us=coalesce_linger_us,
            hot_shards=hot_shards,
            hot_threshold=hot_threshold,
            secrets=_config.dsn_secrets(normalized) if normalized else (),
        )
        if debug:
            _config.enable_debug_logging(logger)
        self._core = Core(settings)
        self._settings = settings
        self._dsn_shown = _config.redact_dsn(normalized) if normalized else None
        self._owns_pool = pool is None
        self._pool_options: dict[str, Any] = {}
        self._connect_failures: ConnectFailures | None = None
        if pool is None:
            assert normalized is not None
            self._connect_failures = ConnectFailures()
            self._pool_options = {
                **_config.pool_options(settings, normalized, f"likecounter-{schema}"),
                "connection_class": _recording_connection(self._connect_failures),
            }
            pool = AsyncConnectionPool(**self._pool_options)
        self._pool: AsyncConnectionPool[Any] = pool
        self._open_lock = asyncio.Lock()
        self._opened = False
        self._closed = False
        self._coalescer = (
            AsyncCoalescer(
                self._write_batch,
                max_batch=settings.coalesce_max_batch,
                max_inflight=settings.coalesce_inflight,
                linger_s=settings.coalesce_linger_us / 1e6,
            )
            if settings.coalesce
            else None
        )
        # sync-only: self.open()

    @classmethod
    def from_env(cls, **overrides: Any) -> AsyncLikeCounter:
        """Build a counter from DATABASE_URL, RATE_LIMIT_REQUESTS and DEBUG (keywords override them)."""
        dsn, options = _config.settings_from_env(_config.environ())
        return cls(dsn, **{**options, **overrides})

    # -- lifecycle ----------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the pool (if this counter built it) and apply migrations (if bootstrap). Idempotent.

        The first call of any method opens the counter too; `async with` does it up front.
        """
        if self._opened or self._closed:
            return
        async with self._open_lock:
            if self._opened or self._closed:
                return
            try:
                if self._owns_pool:
                    await self._pool.open(wait=False)
                if self._settings.bootstrap:
                    await self._execute("bootstrap", self._core.bootstrap(), transaction=True)
            except BaseException:
                await self._discard_pool()
                raise
            self._opened = True

    async def _discard_pool(self) -> None:
        """After a failed open: close the pool this counter built, and build a fresh one.

        Closing leaks nothing when nobody gets to call close() (a constructor or `async with` that
        raised); the fresh, unopened pool lets a later call try again, so a first call that timed out
        or was cancelled does not leave the counter closed for good.
        """
        if not self._owns_pool:
            return
        await self._pool.close()
        if not self._closed:
            self._pool = AsyncConnectionPool(**self._pool_options)

    async def close(self) -> None:
        """Close the pool if this counter built it; a borrowed pool is left open."""
        if self._owns_pool:
            self._closed = True
            await self._pool.close()

    async def __aenter__(self) -> AsyncLikeCounter:
        await self.open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        source = self._dsn_shown if self._dsn_shown is not None else "borrowed pool"
        return f"<{type(self).__name__} schema={self._settings.schema!r} {source}>"

    @property
    def pool(self) -> AsyncConnectionPool[Any]:
        """The connection pool in use (built or borrowed)."""
        return self._pool

    @property
    def settings(self) -> _config.Settings:
        return self._settings

    async def bootstrap(self) -> int:
        """Apply missing migrations under an advisory lock; return the schema version."""
        return await self._run("bootstrap", self._core.bootstrap(), transaction=True)

    # -- the API ------------------------------------------------------------------------------------

    async def like(
        self, user_id: int, item_id: int, item_type: str = "post", *, timeout: float | None = None
    ) -> LikeResult:
        """Record that `user_id` likes the item. Idempotent: a repeat returns `already_liked`.

        `timeout` (seconds, every method takes it) bounds this call: the wait for a connection
        (PoolTimeout, nothing written) and its statement, which is cancelled and rolled back when
        the time runs out (StatementTimeout). One exception, so that one caller's deadline never
        undoes another's write: with coalescing, a write already in a statement shared with other
        calls is not cancelled; its caller gets StatementTimeout and the write may still be applied
        (like and unlike are idempotent, so retrying is safe).
        """
        return await self._write("like", user_id, item_id, item_type, liked=True, timeout=timeout)

    async def unlike(
        self, user_id: int, item_id: int, item_type: str = "post", *, timeout: float | None = None
    ) -> LikeResult:
        """Remove the user's like. Idempotent: unliking what is not liked returns `not_liked`."""
        return await self._write("unlike", user_id, item_id, item_type, liked=False, timeout=timeout)

    async def _write(
        self, operation: str, user_id: int, item_id: int, item_type: str, *, liked: bool, timeout: Any
    ) -> LikeResult:
        started = time.perf_counter()
        deadline = Deadline.start(timeout)
        # Validation, the rate limit and the type lookup run here, in the caller, so that a bad op
        # never joins (and fails) a batch. A call rejected here is not logged as an operation.
        prepare = self._core.prepare_write(user_id, item_id, item_type, liked=liked)
        prepared = await self._run(None, prepare, deadline=deadline)
        try:
            if isinstance(prepared, LikeResult):
                return prepared
            if self._coalescer is None:
                return await self._run(None, self._core.write_one(prepared), deadline=deadline)
            return await self._coalescer.submit(prepared, deadline)
        finally:
            _log_duration(operation, started)

    async def _write_batch(self, ops: list[WriteOp], deadline: Deadline | None = None) -> list[LikeResult]:
        return await self._run(None, self._core.write_batch(ops), deadline=deadline)

    async def count(self, item_id: int, item_type: str = "post", *, timeout: float | None = None) -> int:
        """The item's like count; 0 for an item never liked."""
        deadline = Deadline.start(timeout)
        return await self._run("count", self._core.count(item_id, item_type), deadline=deadline)

    async def counts(self, items: Any, *, timeout: float | None = None) -> dict[Item, int]:
        """Counts of many `(item_id, item_type)` items in one query; every asked item is a key."""
        return await self._run("counts", self._core.counts(items), deadline=Deadline.start(timeout))

    async def has_liked(
        self, user_id: int, item_ids: Any, item_type: str = "post", *, timeout: float | None = None
    ) -> dict[int, bool]:
        """Which of `item_ids` (of one type) the user currently likes; every asked id is a key."""
        deadline = Deadline.start(timeout)
        return await self._run(
            "has_liked", self._core.has_liked(user_id, item_ids, item_type), deadline=deadline
        )

    async def apply_events(self, events: Any, *, timeout: float | None = None) -> BulkResult:
        """Apply `(user_id, item_id, item_type, "like" | "unlike")` events in order, as one statement.

        For each key the last action wins. Not rate limited: this is the bulk path (replays, imports).
        """
        deadline = Deadline.start(timeout)
        return await self._run("apply_events", self._core.apply_events(events), deadline=deadline)

    async def like_many(
        self, pairs: Any, item_type: str = "post", *, timeout: float | None = None
    ) -> BulkResult:
        """Like many `(user_id, item_id)` pairs of one type in one statement."""
        deadline = Deadline.start(timeout)
        return await self._run(
            "like_many", self._core.set_many(pairs, item_type, liked=True), deadline=deadline
        )

    async def unlike_many(
        self, pairs: Any, item_type: str = "post", *, timeout: float | None = None
    ) -> BulkResult:
        """Unlike many `(user_id, item_id)` pairs of one type in one statement."""
        plan = self._core.set_many(pairs, item_type, liked=False)
        return await self._run("unlike_many", plan, deadline=Deadline.start(timeout))

    async def health(self, timeout: float = 2.0) -> Health:
        """Check the database and the schema. Database failures are reported in the result, never
        raised; only a bad `timeout` (not a number of seconds above 0) raises InvalidInput."""
        timeout = check_seconds(timeout, "timeout")
        started = time.perf_counter()
        try:
            deadline = Deadline.start(timeout)
            version = await self._run("health", self._core.schema_version(), deadline=deadline, open=False)
        except Exception as exc:
            return self._core.health_report(version=None, latency_s=None, pool=self._pool_stats(), error=exc)
        elapsed = time.perf_counter() - started
        return self._core.health_report(
            version=version, latency_s=elapsed, pool=self._pool_stats(), error=None
        )

    # -- operations ---------------------------------------------------------------------------------

    async def verify(
        self,
        batch_size: int = DEFAULT_SCAN_BATCH,
        progress: Callable[[int], None] | None = None,
        max_reported: int = DEFAULT_MAX_REPORTED,
    ) -> VerifyReport:
        """Compare every counter with its like rows and report the drift. Writes nothing.

        Works through the items in (type, item) order, `batch_size` per statement, so memory stays
        bounded and no statement holds a snapshot for long. `progress(items_checked)` is called
        after each batch.
        """
        return await self._run_paged("verify", self._core.verify(batch_size, progress, max_reported))

    async def reconcile(
        self, batch_size: int = DEFAULT_SCAN_BATCH, progress: Callable[[int], None] | None = None
    ) -> ReconcileReport:
        """Repair drift: set every drifted counter shard to the number of like rows naming it.

        Safe while writers are live: each batch is one short transaction that locks only its
        drifted counter rows. Counters with no like rows are set to 0, missing ones are created.
        """
        return await self._run_paged("reconcile", self._core.reconcile(batch_size, progress))

    async def erase_user(self, user_id: int, batch_size: int | None = None) -> int:
        """Remove every like of `user_id` (a privacy erasure) and take each back from its counter;
        return how many likes were removed. Works in batches of at most max_batch_size keys, each
        one autocommit statement. Not rate limited."""
        return await self._run_paged("erase_user", self._core.erase_user(user_id, batch_size))

    def _pool_stats(self) -> PoolStats | None:
        try:
            return pool_stats(self._pool.get_stats(), self._pool.max_size)
        except Exception:
            return None

    # -- plan driver --------------------------------------------------------------------------------

    async def _run(
        self,
        operation: str | None,
        plan: Plan[T],
        *,
        transaction: bool = False,
        deadline: Deadline | None = None,
        open: bool = True,
    ) -> T:
        try:
            query = next(plan)  # validation runs here, before any connection is taken
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if open and not self._opened:
            await self.open()
        elif not open and self._owns_pool and not self._opened and not self._closed:
            # health() on a counter that never opened: open the pool only, without migrating.
            await self._pool.open(wait=False)
        return await self._execute(operation, plan, query, transaction=transaction, deadline=deadline)

    async def _run_paged(self, operation: str, plan: Paged[T]) -> T:
        """Drive a paged plan: each Query runs on its own in autocommit, each Transaction as one
        short transaction, each on a connection taken from the pool for that step only."""
        started = time.perf_counter()
        try:
            step = next(plan)  # validation runs here, before any connection is taken
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        if not self._opened:
            await self.open()
        try:
            while True:
                if isinstance(step, Transaction):
                    result: Any = await self._execute(None, step.plan, transaction=True)
                else:
                    result = await self._execute(None, single(step))
                try:
                    step = plan.send(result)
                except StopIteration as done:
                    return done.value  # type: ignore[no-any-return]
        finally:
            _log_duration(operation, started)

    async def _execute(
        self,
        operation: str | None,
        plan: Plan[T],
        query: Query | None = None,
        *,
        transaction: bool = False,
        deadline: Deadline | None = None,
    ) -> T:
        if query is None:
            query = next(plan)
        started = time.perf_counter()
        # The call's deadline bounds the pool wait when it is the shorter of the two.
        by_call = deadline is not None and deadline.remaining() < self._pool.timeout
        try:
            async with self._connection(remaining(deadline) if by_call else None) as conn:
                if transaction:
                    async with conn.transaction():
                        return await _drive_within(
                            conn, plan, query, retry=False, timeout=remaining(deadline)
                        )
                return await _drive_within(conn, plan, query, retry=True, timeout=remaining(deadline))
        except LikeCounterError:
            raise
        except Exception as exc:
            translated = translate(
                exc,
                secrets=self._settings.secrets,
                pool_timeout=deadline.seconds if by_call and deadline else self._pool.timeout,
                call_timeout=deadline.seconds if deadline else None,
                statement_timeout=self._settings.statement_timeout,
                connect_failures=self._connect_failures,
            )
            if translated is exc:
                raise
            raise translated from exc
        finally:
            _log_duration(operation, started)

    @asynccontextmanager
    async def _connection(self, timeout: float | None) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        async with self._pool.connection(timeout=timeout) as conn:
            if conn.autocommit:
                yield conn
                return
            # A borrowed pool may hand out non-autocommit connections; run our single statements in
            # autocommit and give the connection back as we found it.
            await conn.set_autocommit(True)
            try:
                yield conn
            finally:
                if conn.info.transaction_status == TransactionStatus.IDLE:
                    await conn.set_autocommit(False)


def _recording_connection(failures: ConnectFailures) -> type[psycopg.AsyncConnection[Any]]:
    """The connection class of a pool the counter builds: it records why a connection attempt
    failed, so that a PoolTimeout can say the server is down, and why, instead of only timing out."""

    class RecordingConnection(psycopg.AsyncConnection[Any]):
        @classmethod
        async def connect(cls, *args: Any, **kwargs: Any) -> Any:
            try:
                conn = await super().connect(*args, **kwargs)
            except Exception as exc:
                failures.failed(exc)
                raise
            failures.succeeded()
            return conn

    return RecordingConnection


def _log_duration(operation: str | None, started: float) -> None:
    """DEBUG logging: one record per public operation, with its wall time."""
    if operation is not None and logger.isEnabledFor(logging.DEBUG):
        logger.debug("%s took %.3f ms", operation, (time.perf_counter() - started) * 1000)


async def _drive_within(
    conn: psycopg.AsyncConnection[Any], plan: Plan[T], query: Query, *, retry: bool, timeout: float | None
) -> T:
    """`_drive`, with the plan's statements cancelled in the server if they run past `timeout`."""
    if timeout is None:
        return await _drive(conn, plan, query, retry=retry)
    # Cancelling the task makes psycopg cancel the statement in the server.  # async-only
    return await asyncio.wait_for(_drive(conn, plan, query, retry=retry), timeout)  # async-only
    # sync-only: with cancel_after(conn, timeout): return _drive(conn, plan, query, retry=retry)


async def _drive(conn: psycopg.AsyncConnection[Any], plan: Plan[T], query: Query, *, retry: bool) -> T:
    """Execute the plan's queries on one connection until the plan returns its result."""
    while True:
        rows = await _fetch(conn, query, retry=retry)
        try:
            query = plan.send(rows)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def _fetch(conn: psycopg.AsyncConnection[Any], query: Query, *, retry: bool) -> Rows:
    attempt = 0
    while True:
        try:
            cursor = await conn.execute(query.statement, query.params)
            return await cursor.fetchall() if cursor.description is not None else []
        except psycopg.errors.DeadlockDetected:
            attempt += 1
            if not retry or attempt > DEADLOCK_RETRIES:
                raise
            logger.info("deadlock detected; running the statement again (attempt %d)", attempt + 1)
