"""Key generators and bulk loading.

Keys follow the README's scale: users 1..1,000,000 and items 1..100,000. Item popularity is either
uniform or zipfian (s = 1.1: the most popular item draws about 13% of all likes). Every generator takes
the worker's own `random.Random`, so threads never share random state.
"""

from __future__ import annotations

import itertools
import random
import threading
from bisect import bisect_left
from functools import cache

import psycopg
from psycopg import sql

from likecounter import LikeCounter

from .context import ITEM_TYPE, Env, Schema

USERS = 1_000_000
ITEMS = 100_000
ZIPF_S = 1.1
LOAD_BATCH = 10_000


class Zipf:
    """Ranks 1..n drawn with probability proportional to 1 / rank**s: a precomputed CDF and bisect."""

    def __init__(self, n: int, s: float) -> None:
        self._cdf = list(itertools.accumulate(1.0 / rank**s for rank in range(1, n + 1)))
        self._total = self._cdf[-1]
        self.n = n

    def sample(self, rng: random.Random) -> int:
        return min(bisect_left(self._cdf, rng.random() * self._total), self.n - 1) + 1

    def share_of_top(self) -> float:
        return float(self._cdf[0] / self._total)


@cache
def zipf_items() -> Zipf:
    return Zipf(ITEMS, ZIPF_S)


def uniform_pair(rng: random.Random) -> tuple[int, int]:
    return rng.randint(1, USERS), rng.randint(1, ITEMS)


def zipf_pair(rng: random.Random) -> tuple[int, int]:
    return rng.randint(1, USERS), zipf_items().sample(rng)


def random_pairs(rng: random.Random, count: int) -> list[tuple[int, int]]:
    randint = rng.randint
    return [(randint(1, USERS), randint(1, ITEMS)) for _ in range(count)]


def load_likes(env: Env, schema: Schema, likes: int, *, seed: str) -> Schema:
    """Store `likes` distinct random likes through like_many, in steps of 10,000 on a few threads."""
    threads = max(1, env.options.load_threads)
    lock = threading.Lock()
    claimed = [0]  # likes stored or being stored; a batch gives back what its duplicates did not add
    failures: list[BaseException] = []

    def worker(counter: LikeCounter, index: int) -> None:
        rng = random.Random(f"{seed}:{index}")
        try:
            while True:
                with lock:
                    wanted = min(LOAD_BATCH, likes - claimed[0])
                    claimed[0] += max(wanted, 0)
                if wanted <= 0:
                    return
                result = counter.like_many(random_pairs(rng, wanted), ITEM_TYPE)
                with lock:
                    claimed[0] -= wanted - result.liked
        except BaseException as exc:
            failures.append(exc)

    with env.counter(schema, threads, max_batch_size=LOAD_BATCH) as counter:
        pool = [threading.Thread(target=worker, args=(counter, index)) for index in range(threads)]
        for thread in pool:
            thread.start()
        for thread in pool:
            thread.join()
    if failures:
        raise failures[0]
    with psycopg.connect(env.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM ANALYZE {}.likes").format(schema.ident))
        conn.execute(sql.SQL("VACUUM ANALYZE {}.counters").format(schema.ident))
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}.likes").format(schema.ident)).fetchone()
    assert row is not None
    return Schema(schema.name, schema.type_id, int(row[0]))
