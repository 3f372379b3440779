"""likecounter benchmarks (first scenarios): Cofacts replay throughput and bytes per stored like.

    python benchmarks/run.py [--dsn DSN] [--likes 1000000] [--runs 3] [--json results.json]

Without --dsn it starts a durable embedded PostgreSQL in a temporary directory. The full suite
(threads, pgbench ceiling, naive baseline) belongs to the performance work; this file grows there.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from likecounter import LikeCounter
from likecounter._replay import ReadStats, batches, bundled_cofacts, open_text, read_events


def replay_rate(dsn: str, runs: int) -> dict[str, Any]:
    events_path, _ = bundled_cofacts()
    with open_text(events_path) as source:
        events = list(read_events(source, events_path.name, ReadStats()))
    rates = []
    for _ in range(runs):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        with LikeCounter(dsn, schema=schema, rate_limit_per_minute=None, max_batch_size=2000) as counter:
            started = time.perf_counter()
            for step in batches(events, 2000):
                counter.apply_events(step)
            rates.append(len(events) / (time.perf_counter() - started))
        _drop(dsn, schema)
    return {
        "scenario": "replay cofacts",
        "events": len(events),
        "runs": runs,
        "median_events_per_s": round(statistics.median(rates)),
        "all": [round(rate) for rate in rates],
    }


def bytes_per_like(dsn: str, likes: int) -> dict[str, Any]:
    """Store `likes` random likes (users up to 1M, items up to 100K) and measure heap and indexes."""
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    rng = random.Random(42)
    stored = 0
    with LikeCounter(dsn, schema=schema, rate_limit_per_minute=None, max_batch_size=10_000) as counter:
        while stored < likes:
            pairs = {(rng.randrange(1_000_000), rng.randrange(100_000)) for _ in range(10_000)}
            stored += counter.like_many(list(pairs)[: likes - stored]).liked
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("VACUUM ANALYZE {}.likes").format(sql.Identifier(schema)))
        table = f'"{schema}".likes'
        heap, indexes, total, rows = conn.execute(
            "SELECT pg_table_size(%s), pg_indexes_size(%s), pg_total_relation_size(%s),"
            " (SELECT count(*) FROM " + table + ")",
            (table, table, table),
        ).fetchone()  # type: ignore[misc]
    _drop(dsn, schema)
    return {"scenario": "storage", "likes": rows, "heap_bytes_per_like": round(heap / rows, 1),
            "index_bytes_per_like": round(indexes / rows, 1), "total_bytes_per_like": round(total / rows, 1),
            "seed_design_bytes_per_like": 196, "ratio_to_seed": round(total / rows / 196, 3)}  # fmt: skip


def _drop(dsn: str, schema: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn")
    parser.add_argument("--likes", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/latest.json"))
    args = parser.parse_args()
    with ExitStack() as stack:
        dsn = args.dsn
        if dsn is None:
            from likecounter.embedded import EmbeddedPostgres

            dsn = stack.enter_context(EmbeddedPostgres()).dsn
        results = [replay_rate(dsn, args.runs), bytes_per_like(dsn, args.likes)]
    for result in results:
        print(" | ".join(f"{key}={value}" for key, value in result.items()))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
