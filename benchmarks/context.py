"""What every case shares: the options, the server, fresh and shared schemas, and the case types."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from likecounter import LikeCounter

from .harness import RunResult

ITEM_TYPE = "post"


@dataclass(frozen=True)
class Options:
    duration: float = 5.0
    warmup: float = 1.0
    runs: int = 3
    quick: bool = False
    max_pool_size: int = 32
    storage_likes: int = 1_000_000
    reads_likes: int = 200_000
    big: bool = False
    big_likes: int = 10_000_000
    load_threads: int = 2
    # Extra LikeCounter options for our cases (--option NAME=VALUE), e.g. hot_shards=1.
    counter_options: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Schema:
    """A bootstrapped likecounter schema with the item type `post` registered as `type_id`."""

    name: str
    type_id: int
    stored_likes: int = 0

    @property
    def ident(self) -> sql.Identifier:
        return sql.Identifier(self.name)

    @property
    def quoted(self) -> str:
        """The schema as a quoted SQL identifier, for SQL text built outside psycopg (pgbench)."""
        return '"' + self.name.replace('"', '""') + '"'


@dataclass
class Env:
    """The server under test and the schemas made on it; `close()` drops whatever is left."""

    dsn: str
    options: Options
    # Unix socket folder of the embedded server (pgbench connects with -h), or None with --dsn.
    socket_dir: Path | None = None
    pgbench: Path | None = None
    _shared: dict[str, Schema] = field(default_factory=dict)

    def pool_size(self, threads: int) -> int:
        return max(1, min(threads, self.options.max_pool_size))

    def create_schema(self, prefix: str) -> Schema:
        name = f"bench_{prefix}_{uuid.uuid4().hex[:6]}"
        # Opening a counter applies the migrations; the type is then registered by plain SQL so that
        # every client (ours, the baseline and pgbench) finds the same type_id already there.
        with LikeCounter(self.dsn, schema=name, rate_limit_per_minute=None, min_pool_size=0, max_pool_size=1):
            pass
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(
                sql.SQL("INSERT INTO {}.item_types (name) VALUES (%s) ON CONFLICT (name) DO NOTHING").format(
                    sql.Identifier(name)
                ),
                (ITEM_TYPE,),
            )
            row = conn.execute(
                sql.SQL("SELECT type_id FROM {}.item_types WHERE name = %s").format(sql.Identifier(name)),
                (ITEM_TYPE,),
            ).fetchone()
        assert row is not None
        return Schema(name, int(row[0]))

    def drop_schema(self, schema: Schema) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(schema.ident))

    @contextmanager
    def fresh(self, prefix: str) -> Iterator[Schema]:
        """A new, empty schema for one run, dropped afterwards."""
        schema = self.create_schema(prefix)
        try:
            yield schema
        finally:
            self.drop_schema(schema)

    def shared(self, key: str, prepare: Callable[[Env, Schema], Schema]) -> Schema:
        """A schema prepared once (for example loaded with likes) and kept until the suite ends."""
        if key not in self._shared:
            schema = self.create_schema(key.replace("-", "_"))
            try:
                self._shared[key] = prepare(self, schema)
            except BaseException:
                self.drop_schema(schema)
                raise
            self.checkpoint()
        return self._shared[key]

    def close(self) -> None:
        for schema in self._shared.values():
            self.drop_schema(schema)
        self._shared.clear()

    def checkpoint(self) -> None:
        """Flush what a load left dirty, so that it is not written back during a measured run."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    @contextmanager
    def counter(self, schema: Schema, threads: int, *, max_batch_size: int = 1000) -> Iterator[LikeCounter]:
        """Our counter on `schema`, its pool filled before the clock starts."""
        size = self.pool_size(threads)
        with LikeCounter(
            self.dsn,
            schema=schema.name,
            rate_limit_per_minute=None,
            max_batch_size=max_batch_size,
            min_pool_size=size,
            max_pool_size=size,
            pool_timeout=30.0,
            **dict(self.options.counter_options),
        ) as counter:
            counter.pool.wait(timeout=60.0)
            yield counter

    def server_facts(self) -> dict[str, Any]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return {
                name: str(conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(name))).fetchone()[0])  # type: ignore[index]
                for name in (
                    "server_version",
                    "fsync",
                    "synchronous_commit",
                    "full_page_writes",
                    "wal_sync_method",
                    "shared_buffers",
                    "max_connections",
                )
            }


@dataclass
class Case:
    """One timed scenario. `run(env, index)` performs run number `index` and returns its result.

    Cases of the same `block` run interleaved (run 1 of each, then run 2 of each, ...) so that the
    ratios between them are measured under the same background load.
    """

    id: str
    kind: str  # "ours", "baseline" or "pgbench"
    group: str  # for --only: like, zipf, hot, unlike, bulk, reads, async, replay, scale
    label: str
    unit: str
    threads: int
    block: str
    run: Callable[[Env, int], RunResult]
    quick: bool = False
    notes: str = ""


@dataclass
class Probe:
    """One measurement that is not a timed loop (storage size). `measure(env)` returns its record."""

    id: str
    kind: str
    group: str
    label: str
    block: str
    measure: Callable[[Env], dict[str, Any]]
    quick: bool = False
