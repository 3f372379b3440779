"""A naive baseline: the way the original FastAPI service recorded a like.

Per like, on a connection from a psycopg_pool.ConnectionPool (not in autocommit):

    BEGIN;
    INSERT INTO likes ... ON CONFLICT DO NOTHING;
    -- only if a row was inserted:
    INSERT INTO counters ... ON CONFLICT DO UPDATE SET like_count = like_count + 1 RETURNING like_count;
    COMMIT;

One call per like, no coalescing: four round trips, and the counter row stays locked from the upsert
until the COMMIT comes back. It runs on a schema of its own with the same tables (made by opening a
LikeCounter on it), with the same threads and pool sizes as our cases.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from typing import Any

from psycopg import sql
from psycopg_pool import ConnectionPool

from .context import Case, Env
from .harness import Op, RunResult, run_threads
from .scenarios import QUICK_THREADS, THREADS
from .workloads import uniform_pair

INSERT_LIKE = "INSERT INTO {}.likes (user_id, item_id, type_id) VALUES (%s, %s, %s) ON CONFLICT DO NOTHING"
BUMP_COUNTER = (
    "INSERT INTO {0}.counters AS c (type_id, item_id, shard, like_count) VALUES (%s, %s, 0, 1)"
    " ON CONFLICT (type_id, item_id, shard) DO UPDATE SET like_count = c.like_count + 1"
    " RETURNING like_count"
)

PairSource = Callable[[random.Random], tuple[int, int]]


def baseline_run(case_id: str, threads: int, hot: bool) -> Callable[[Env, int], RunResult]:
    def run(env: Env, index: int) -> RunResult:
        size = env.pool_size(threads)
        with env.fresh("base") as schema:
            insert_like = sql.SQL(INSERT_LIKE).format(schema.ident)
            bump = sql.SQL(BUMP_COUNTER).format(schema.ident)
            type_id = schema.type_id
            users = itertools.count(1)
            pool: ConnectionPool[Any]
            with ConnectionPool(
                env.dsn, min_size=size, max_size=size, timeout=30.0, open=True, name=case_id
            ) as pool:
                pool.wait(timeout=60.0)

                def make(worker: int) -> Op:
                    rng = random.Random(f"{case_id}:{index}:{worker}")

                    def op() -> int:
                        if hot:
                            user_id, item_id = next(users), 1
                        else:
                            user_id, item_id = uniform_pair(rng)
                        with pool.connection() as conn:
                            cursor = conn.execute(insert_like, (user_id, item_id, type_id))
                            if cursor.rowcount == 1:
                                conn.execute(bump, (type_id, item_id)).fetchone()
                            conn.commit()
                        return 1

                    return op

                return run_threads(threads, make, warmup=env.options.warmup, duration=env.options.duration)

    return run


def cases() -> list[Case]:
    found = [
        Case(
            f"baseline.like.uniform.t{threads}",
            "baseline",
            "like",
            f"baseline like uniform t={threads}",
            "likes/s",
            threads,
            f"like-t{threads}",
            baseline_run(f"baseline.like.uniform.t{threads}", threads, hot=False),
            threads in QUICK_THREADS,
        )
        for threads in THREADS
    ]
    found.append(
        Case(
            "baseline.hot.t64",
            "baseline",
            "hot",
            "baseline like hot item t=64",
            "likes/s",
            64,
            "hot",
            baseline_run("baseline.hot.t64", 64, hot=True),
            True,
        )
    )
    return found
