"""The cases that exercise likecounter itself: LikeCounter over threads, AsyncLikeCounter over tasks,
the Cofacts replay, and the storage probe (bytes per stored like)."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import Callable
from functools import cache
from typing import Any

import psycopg
from psycopg import sql

from likecounter import AsyncLikeCounter, LikeCounter
from likecounter._replay import Event, ReadStats, batches, bundled_cofacts, open_text, read_events

from .context import ITEM_TYPE, Case, Env, Options, Probe, Schema
from .harness import AsyncOp, Exhausted, Op, RunResult, run_sequence, run_tasks, run_threads
from .workloads import ITEMS, USERS, load_likes, random_pairs, uniform_pair, zipf_pair

THREADS = (1, 4, 16, 64)
QUICK_THREADS = (1, 16)
BULK_STEP = 1000
REPLAY_STEP = 2000
READ_KEYS = 100
# The seed design this package replaced stored about 196 bytes per like (kept for comparison).
SEED_DESIGN_BYTES_PER_LIKE = 196

PairFn = Callable[[random.Random], tuple[int, int]]


def _seed(case_id: str, run: int, worker: int) -> random.Random:
    return random.Random(f"{case_id}:{run}:{worker}")


def threaded(
    case_id: str, prefix: str, threads: int, make_op: Callable[[LikeCounter, random.Random, int], Op]
) -> Callable[[Env, int], RunResult]:
    """A run on a fresh schema: `threads` threads over one LikeCounter, each looping on its op."""

    def run(env: Env, index: int) -> RunResult:
        with env.fresh(prefix) as schema:
            return run_on(env, schema, case_id, index, threads, make_op)

    return run


def run_on(
    env: Env,
    schema: Schema,
    case_id: str,
    index: int,
    threads: int,
    make_op: Callable[[LikeCounter, random.Random, int], Op],
) -> RunResult:
    options = env.options
    with env.counter(schema, threads) as counter:
        return run_threads(
            threads,
            lambda worker: make_op(counter, _seed(case_id, index, worker), worker),
            warmup=options.warmup,
            duration=options.duration,
        )


def like_with(pair: PairFn) -> Callable[[LikeCounter, random.Random, int], Op]:
    def make(counter: LikeCounter, rng: random.Random, _worker: int) -> Op:
        def op() -> int:
            user_id, item_id = pair(rng)
            counter.like(user_id, item_id, ITEM_TYPE)
            return 1

        return op

    return make


# -- hot item, unlike, bulk ------------------------------------------------------------------------


def hot_item_run(case_id: str, threads: int) -> Callable[[Env, int], RunResult]:
    """Every like on item 1, each from a user never seen before (a shared, thread-safe sequence)."""

    def run(env: Env, index: int) -> RunResult:
        users = itertools.count(1)

        def make(counter: LikeCounter, _rng: random.Random, _worker: int) -> Op:
            def op() -> int:
                counter.like(next(users), 1, ITEM_TYPE)
                return 1

            return op

        with env.fresh("hot") as schema:
            return run_on(env, schema, case_id, index, threads, make)

    return run


def unlike_run(case_id: str, threads: int) -> Callable[[Env, int], RunResult]:
    """Unlike pairs liked beforehand (through like_many), each exactly once, split among threads."""

    def run(env: Env, index: int) -> RunResult:
        options = env.options
        # Enough for about 12,000 unlikes/s; a worker that runs out stops (reported as `exhausted`).
        wanted = max(10_000, int((options.warmup + options.duration) * 12_000))
        rng = _seed(case_id, index, -1)
        pairs: set[tuple[int, int]] = set()
        while len(pairs) < wanted:
            pairs.add(uniform_pair(rng))
        ordered = list(pairs)
        rng.shuffle(ordered)
        with env.fresh("unlike") as schema:
            with env.counter(schema, 1, max_batch_size=10_000) as loader:
                for start in range(0, len(ordered), 10_000):
                    loader.like_many(ordered[start : start + 10_000], ITEM_TYPE)
            env.checkpoint()
            shares = [iter(ordered[worker::threads]) for worker in range(threads)]

            def make(counter: LikeCounter, _rng: random.Random, worker: int) -> Op:
                share = shares[worker]

                def op() -> int:
                    pair = next(share, None)
                    if pair is None:
                        raise Exhausted
                    result = counter.unlike(pair[0], pair[1], ITEM_TYPE)
                    if result.status != "unliked":
                        raise RuntimeError(f"unlike of a liked pair returned {result.status}")
                    return 1

                return op

            result = run_on(env, schema, case_id, index, threads, make)
        result.extra["prepared_pairs"] = len(ordered)
        result.extra["exhausted"] = result.seconds < options.duration * 0.95
        return result

    return run


def bulk_op(counter: LikeCounter, rng: random.Random, _worker: int) -> Op:
    def op() -> int:
        return counter.like_many(random_pairs(rng, BULK_STEP), ITEM_TYPE).keys

    return op


# -- reads -----------------------------------------------------------------------------------------


def reads_schema(env: Env) -> Schema:
    """Loaded once and shared by every read case (ours and pgbench's)."""
    likes = env.options.reads_likes
    return env.shared("reads", lambda env, schema: load_likes(env, schema, likes, seed="reads"))


def read_run(
    case_id: str, threads: int, make_op: Callable[[LikeCounter, random.Random, int], Op]
) -> Callable[[Env, int], RunResult]:
    def run(env: Env, index: int) -> RunResult:
        return run_on(env, reads_schema(env), case_id, index, threads, make_op)

    return run


def count_op(counter: LikeCounter, rng: random.Random, _worker: int) -> Op:
    def op() -> int:
        counter.count(rng.randint(1, ITEMS), ITEM_TYPE)
        return 1

    return op


def counts_op(counter: LikeCounter, rng: random.Random, _worker: int) -> Op:
    def op() -> int:
        counter.counts([(rng.randint(1, ITEMS), ITEM_TYPE) for _ in range(READ_KEYS)])
        return 1

    return op


def has_liked_op(counter: LikeCounter, rng: random.Random, _worker: int) -> Op:
    def op() -> int:
        counter.has_liked(rng.randint(1, USERS), [rng.randint(1, ITEMS) for _ in range(READ_KEYS)], ITEM_TYPE)
        return 1

    return op


# -- async -----------------------------------------------------------------------------------------


def async_like_run(case_id: str, tasks: int) -> Callable[[Env, int], RunResult]:
    def run(env: Env, index: int) -> RunResult:
        options = env.options
        size = env.pool_size(tasks)

        async def main(schema: Schema) -> RunResult:
            async with AsyncLikeCounter(
                env.dsn,
                schema=schema.name,
                rate_limit_per_minute=None,
                min_pool_size=size,
                max_pool_size=size,
                pool_timeout=30.0,
                **dict(options.counter_options),
            ) as counter:
                await counter.pool.wait(timeout=60.0)

                def make(worker: int) -> AsyncOp:
                    rng = _seed(case_id, index, worker)

                    async def op() -> int:
                        user_id, item_id = uniform_pair(rng)
                        await counter.like(user_id, item_id, ITEM_TYPE)
                        return 1

                    return op

                return await run_tasks(tasks, make, warmup=options.warmup, duration=options.duration)

        with env.fresh("async") as schema:
            return asyncio.run(main(schema))

    return run


# -- replay ----------------------------------------------------------------------------------------


@cache
def cofacts_events() -> tuple[Event, ...]:
    events_path, _ = bundled_cofacts()
    with open_text(events_path) as source:
        return tuple(read_events(source, events_path.name, ReadStats()))


def replay_run(env: Env, _index: int) -> RunResult:
    """The bundled Cofacts log (124,108 events) through apply_events in steps of 2,000, in order."""
    events = cofacts_events()
    with env.fresh("replay") as schema, env.counter(schema, 1, max_batch_size=REPLAY_STEP) as counter:

        def step_of(step: list[Event]) -> Callable[[], int]:
            return lambda: counter.apply_events(step).events

        result = run_sequence([step_of(step) for step in batches(events, REPLAY_STEP)])
    result.extra["events"] = len(events)
    return result


# -- storage and scale -----------------------------------------------------------------------------


def stored_schema(env: Env, likes: int) -> Schema:
    return env.shared(f"stored-{likes}", lambda env, schema: load_likes(env, schema, likes, seed=f"s{likes}"))


def storage_probe(env: Env) -> dict[str, Any]:
    """Bytes per stored like (heap and primary-key index apart), after loading `--likes` likes."""
    schema = stored_schema(env, env.options.storage_likes)
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        likes = f"{schema.quoted}.likes"
        counters = f"{schema.quoted}.counters"
        row = conn.execute(
            "SELECT pg_relation_size(%s), pg_table_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s),"
            " pg_total_relation_size(%s), (SELECT count(*) FROM " + counters + ")",
            (likes, likes, likes, likes, counters),
        ).fetchone()
        tuples = conn.execute(
            sql.SQL("SELECT avg(pg_column_size(l.*)) FROM (SELECT * FROM {}.likes LIMIT 10000) AS l").format(
                schema.ident
            )
        ).fetchone()
    assert row is not None and tuples is not None
    main_fork, heap, indexes, total, counters_total, counter_rows = (int(value) for value in row)
    rows = schema.stored_likes
    return {
        "likes": rows,
        "heap_bytes_per_like": round(heap / rows, 1),
        "heap_main_fork_bytes_per_like": round(main_fork / rows, 1),
        "index_bytes_per_like": round(indexes / rows, 1),
        "total_bytes_per_like": round(total / rows, 1),
        "tuple_bytes": round(float(tuples[0]), 1),
        "counters_rows": counter_rows,
        "counters_total_bytes": counters_total,
        "seed_design_bytes_per_like": SEED_DESIGN_BYTES_PER_LIKE,
        "ratio_to_seed": round(total / rows / SEED_DESIGN_BYTES_PER_LIKE, 3),
    }


def scale_run(case_id: str, likes: int, threads: int) -> Callable[[Env, int], RunResult]:
    def run(env: Env, index: int) -> RunResult:
        schema = stored_schema(env, likes)
        result = run_on(env, schema, case_id, index, threads, like_with(uniform_pair))
        result.extra["stored_likes"] = schema.stored_likes
        return result

    return run


def _short(count: int) -> str:
    if count >= 1_000_000 and count % 1_000_000 == 0:
        return f"{count // 1_000_000}M"
    if count >= 1000 and count % 1000 == 0:
        return f"{count // 1000}K"
    return str(count)


# -- the list --------------------------------------------------------------------------------------


def cases(options: Options) -> list[Case | Probe]:
    found: list[Case | Probe] = []

    def add(
        case_id: str,
        group: str,
        label: str,
        unit: str,
        threads: int,
        block: str,
        run: Callable[[Env, int], RunResult],
        quick: bool,
    ) -> None:
        found.append(Case(case_id, "ours", group, label, unit, threads, block, run, quick))

    for threads in THREADS:
        case_id = f"ours.like.uniform.t{threads}"
        add(
            case_id,
            "like",
            f"ours like uniform t={threads}",
            "likes/s",
            threads,
            f"like-t{threads}",
            threaded(case_id, "like", threads, like_with(uniform_pair)),
            threads in QUICK_THREADS,
        )
    case_id = "ours.async.like.uniform.t64"
    add(
        case_id,
        "async",
        "ours async like uniform tasks=64",
        "likes/s",
        64,
        "like-t64",
        async_like_run(case_id, 64),
        True,
    )
    for threads in THREADS:
        case_id = f"ours.like.zipf.t{threads}"
        add(
            case_id,
            "zipf",
            f"ours like zipf(1.1) t={threads}",
            "likes/s",
            threads,
            "zipf",
            threaded(case_id, "zipf", threads, like_with(zipf_pair)),
            threads == 16,
        )
    add(
        "ours.hot.t64",
        "hot",
        "ours like hot item t=64",
        "likes/s",
        64,
        "hot",
        hot_item_run("ours.hot.t64", 64),
        True,
    )
    add(
        "ours.unlike.t16",
        "unlike",
        "ours unlike t=16",
        "unlikes/s",
        16,
        "unlike",
        unlike_run("ours.unlike.t16", 16),
        True,
    )
    for threads in (1, 2):
        case_id = f"ours.bulk.t{threads}"
        add(
            case_id,
            "bulk",
            f"ours like_many x{BULK_STEP} t={threads}",
            "likes/s",
            threads,
            f"bulk-t{threads}",
            threaded(case_id, "bulk", threads, bulk_op),
            threads == 1,
        )
    reads: tuple[tuple[str, str, Callable[[LikeCounter, random.Random, int], Op]], ...] = (
        ("count", "count", count_op),
        ("counts", f"counts({READ_KEYS})", counts_op),
        ("has_liked", f"has_liked({READ_KEYS})", has_liked_op),
    )
    for threads in (1, 4):
        for name, label, make_op in reads:
            case_id = f"ours.{name}.t{threads}"
            add(
                case_id,
                "reads",
                f"ours {label} t={threads}",
                "calls/s",
                threads,
                f"{name}-t{threads}",
                read_run(case_id, threads, make_op),
                threads == 1,
            )
    add(
        "ours.replay.cofacts",
        "replay",
        f"ours replay cofacts (apply_events x{REPLAY_STEP})",
        "events/s",
        1,
        "replay",
        replay_run,
        True,
    )
    found.append(
        Probe(
            "ours.storage",
            "ours",
            "storage",
            f"bytes per like at {_short(options.storage_likes)}",
            "storage",
            storage_probe,
            True,
        )
    )
    sizes = sorted({100_000, options.storage_likes} | ({options.big_likes} if options.big else set()))
    for likes in sizes:
        case_id = f"ours.scale.{_short(likes)}.t16"
        add(
            case_id,
            "scale",
            f"ours like t=16 @{_short(likes)} stored",
            "likes/s",
            16,
            "scale",
            scale_run(case_id, likes, 16),
            False,
        )
    return found
