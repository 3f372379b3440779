"""LikeCounter: the synchronous I/O shell around the sans-I/O core."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg_pool import ConnectionPool

from . import _config
from ._core import Core, Plan, pool_stats
from ._errors import InvalidInput, LikeCounterError, translate
from ._results import BulkResult, Health, Item, LikeResult

T = TypeVar("T")
logger = logging.getLogger("likecounter")


class LikeCounter:
    """Deduplicated like counting over a psycopg connection pool.

    Give it a DSN and it builds (and later closes) its own pool, or give it `pool=` and it borrows the
    host's pool and never closes it::

        with LikeCounter("postgresql://app@db/app") as counter:
            counter.like(1, 456)            # LikeResult(status='liked', count=1, user_liked=True)
            counter.count(456)              # 1

    With `bootstrap=True` (the default) the schema's migrations are applied when the counter opens.
    """

    def __init__(
        self,
        dsn: str | None = None,
        *,
        pool: ConnectionPool[Any] | None = None,
        schema: str = _config.DEFAULT_SCHEMA,
        rate_limit_per_minute: int | None = _config.DEFAULT_RATE_LIMIT_PER_MINUTE,
        max_batch_size: int = _config.DEFAULT_MAX_BATCH_SIZE,
        bootstrap: bool = True,
        min_pool_size: int = 1,
        max_pool_size: int = 10,
        pool_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        debug: bool = False,
    ) -> None:
        if (dsn is None) == (pool is None):
            raise InvalidInput("pass exactly one of `dsn` or `pool=`")
        if pool is not None and not isinstance(pool, ConnectionPool):
            raise InvalidInput(f"pool must be a psycopg_pool.ConnectionPool, not {type(pool).__name__}")
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
            debug=debug,
            secrets=_config.dsn_secrets(normalized) if normalized else (),
        )
        if debug:
            _config.enable_debug_logging(logger)
        self._core = Core(settings)
        self._settings = settings
        self._dsn_shown = _config.redact_dsn(normalized) if normalized else None
        self._owns_pool = pool is None
        if pool is None:
            assert normalized is not None
            pool = ConnectionPool(**_config.pool_options(settings, normalized, f"likecounter-{schema}"))
            pool.open(wait=False)
        self._pool: ConnectionPool[Any] = pool
        if bootstrap:
            try:
                self.bootstrap()
            except BaseException:
                self.close()
                raise

    @classmethod
    def from_env(cls, **overrides: Any) -> LikeCounter:
        """Build a counter from DATABASE_URL, RATE_LIMIT_REQUESTS and DEBUG (keywords override them)."""
        dsn, options = _config.settings_from_env(_config.environ())
        return cls(dsn, **{**options, **overrides})

    # -- lifecycle ----------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the pool if this counter built it; a borrowed pool is left open."""
        if self._owns_pool:
            self._pool.close()

    def __enter__(self) -> LikeCounter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        source = self._dsn_shown if self._dsn_shown is not None else "borrowed pool"
        return f"<LikeCounter schema={self._settings.schema!r} {source}>"

    @property
    def pool(self) -> ConnectionPool[Any]:
        """The connection pool in use (built or borrowed)."""
        return self._pool

    @property
    def settings(self) -> _config.Settings:
        return self._settings

    def bootstrap(self) -> int:
        """Apply missing migrations under an advisory lock; return the schema version."""
        return self._run(self._core.bootstrap(), transaction=True)

    # -- the API ------------------------------------------------------------------------------------

    def like(self, user_id: int, item_id: int, item_type: str = "post") -> LikeResult:
        """Record that `user_id` likes the item. Idempotent: a repeat returns `already_liked`."""
        return self._run(self._core.like(user_id, item_id, item_type))

    def unlike(self, user_id: int, item_id: int, item_type: str = "post") -> LikeResult:
        """Remove the user's like. Idempotent: unliking what is not liked returns `not_liked`."""
        return self._run(self._core.unlike(user_id, item_id, item_type))

    def count(self, item_id: int, item_type: str = "post") -> int:
        """The item's like count; 0 for an item never liked."""
        return self._run(self._core.count(item_id, item_type))

    def counts(self, items: Any) -> dict[Item, int]:
        """Counts of many `(item_id, item_type)` items in one query; every asked item is a key."""
        return self._run(self._core.counts(items))

    def has_liked(self, user_id: int, item_ids: Any, item_type: str = "post") -> dict[int, bool]:
        """Which of `item_ids` (of one type) the user currently likes; every asked id is a key."""
        return self._run(self._core.has_liked(user_id, item_ids, item_type))

    def apply_events(self, events: Any) -> BulkResult:
        """Apply `(user_id, item_id, item_type, "like" | "unlike")` events in order, as one statement.

        For each key the last action wins. Not rate limited: this is the bulk path (replays, imports).
        """
        return self._run(self._core.apply_events(events))

    def like_many(self, pairs: Any, item_type: str = "post") -> BulkResult:
        """Like many `(user_id, item_id)` pairs of one type in one statement."""
        return self._run(self._core.set_many(pairs, item_type, liked=True))

    def unlike_many(self, pairs: Any, item_type: str = "post") -> BulkResult:
        """Unlike many `(user_id, item_id)` pairs of one type in one statement."""
        return self._run(self._core.set_many(pairs, item_type, liked=False))

    def health(self, timeout: float = 2.0) -> Health:
        """Check the database and the schema. Never raises: failures are reported in the result."""
        started = time.perf_counter()
        try:
            version = self._run(self._core.schema_version(), timeout=timeout)
        except Exception as exc:
            return self._core.health_report(version=None, latency_s=None, pool=self._pool_stats(), error=exc)
        elapsed = time.perf_counter() - started
        return self._core.health_report(
            version=version, latency_s=elapsed, pool=self._pool_stats(), error=None
        )

    def _pool_stats(self) -> Any:
        try:
            return pool_stats(self._pool.get_stats(), self._pool.max_size)
        except Exception:
            return None

    # -- plan driver --------------------------------------------------------------------------------

    def _run(self, plan: Plan[T], *, transaction: bool = False, timeout: float | None = None) -> T:
        try:
            query = next(plan)  # validation runs here, before any connection is taken
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        started = time.perf_counter()
        try:
            with self._connection(timeout) as conn:
                if transaction:
                    with conn.transaction():
                        return self._drive(conn, plan, query)
                return self._drive(conn, plan, query)
        except LikeCounterError:
            raise
        except Exception as exc:
            waited = timeout if timeout is not None else self._pool.timeout
            translated = translate(exc, secrets=self._settings.secrets, pool_timeout=waited)
            if translated is exc:
                raise
            raise translated from exc
        finally:
            if logger.isEnabledFor(logging.DEBUG):
                elapsed_ms = (time.perf_counter() - started) * 1000
                logger.debug("%s took %.3f ms", getattr(plan, "__name__", "operation"), elapsed_ms)

    @staticmethod
    def _drive(conn: psycopg.Connection[Any], plan: Plan[T], query: Any) -> T:
        while True:
            cursor = conn.execute(query.statement, query.params)
            rows = cursor.fetchall() if cursor.description is not None else []
            try:
                query = plan.send(rows)
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]

    @contextmanager
    def _connection(self, timeout: float | None) -> Iterator[psycopg.Connection[Any]]:
        with self._pool.connection(timeout=timeout) as conn:
            if conn.autocommit:
                yield conn
                return
            # A borrowed pool may hand out non-autocommit connections; run our single statements in
            # autocommit and give the connection back as we found it.
            conn.autocommit = True
            try:
                yield conn
            finally:
                if not conn.closed:
                    conn.autocommit = False
