"""The `likecounter` command line: replay, demo, count, health, init, verify, reconcile, erase-user,
bench."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from . import __version__, _replay
from ._core import DEFAULT_SCAN_BATCH
from ._errors import InvalidInput, LikeCounterError
from ._results import BulkResult, Item, VerifyReport
from ._sync import LikeCounter

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_DATABASE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    # The pool logs every failed connection attempt as a warning; a PoolTimeout already says
    # that the server cannot be reached and why, so one line on stderr is enough.
    logging.getLogger("psycopg.pool").setLevel(logging.ERROR)
    try:
        return int(args.handler(args))
    except _replay.BadLine as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InvalidInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LikeCounterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_DATABASE
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="likecounter", description="Deduplicated like counting on PostgreSQL."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dsn", help="PostgreSQL DSN (default: $DATABASE_URL)")
    common.add_argument("--schema", default=None, help="schema to use (default: likecounter)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    replay = commands.add_parser(
        "replay", parents=[common], help="apply a like/unlike event CSV in bulk steps, in order"
    )
    _replay_options(replay)
    replay.add_argument("file", type=Path, help="user_id,item_id,item_type,action[,ts] CSV, plain or .gz")
    replay.set_defaults(handler=_cmd_replay)

    demo = commands.add_parser(
        "demo",
        parents=[common],
        help="replay the bundled Cofacts log (124,108 real events) against its oracle; "
        "starts an embedded PostgreSQL when no DSN is given",
    )
    _replay_options(demo, oracle=False)
    demo.set_defaults(handler=_cmd_demo)

    count = commands.add_parser("count", parents=[common], help="print an item's like count")
    count.add_argument("item_id", type=int)
    count.add_argument("--type", dest="item_type", default="post", help="item type (default: post)")
    count.set_defaults(handler=_cmd_count)

    health = commands.add_parser("health", parents=[common], help="check the database and schema")
    health.set_defaults(handler=_cmd_health)

    init = commands.add_parser("init", parents=[common], help="create or migrate the schema, then exit")
    init.set_defaults(handler=_cmd_init)

    for name, handler, summary in (
        ("verify", _cmd_verify, "compare every counter with its like rows (read-only); exit 1 on drift"),
        ("reconcile", _cmd_reconcile, "set drifted counters to their like rows; safe with live writers"),
    ):
        scan = commands.add_parser(name, parents=[common], help=summary)
        scan.add_argument(
            "--batch-size",
            type=_positive_int,
            default=DEFAULT_SCAN_BATCH,
            help=f"items per statement (default: {DEFAULT_SCAN_BATCH:,})",
        )
        scan.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
        scan.set_defaults(handler=handler)
        if name == "verify":
            scan.add_argument(
                "--show", type=_positive_int, default=20, help="drifted items to list (default: 20)"
            )

    erase = commands.add_parser(
        "erase-user", parents=[common], help="remove all of a user's likes and take them off the counts"
    )
    erase.add_argument("user_id", type=int)
    erase.add_argument(
        "--batch-size", type=_positive_int, default=None, help="likes per statement (default: 1000)"
    )
    erase.set_defaults(handler=_cmd_erase_user)

    bench = commands.add_parser(
        "bench",
        help="run the benchmark suite of a source checkout (benchmarks/run.py); try `bench -- --help`",
    )
    bench.add_argument("suite_args", nargs=argparse.REMAINDER, help="arguments for benchmarks/run.py")
    bench.set_defaults(handler=_cmd_bench)
    return parser


def _replay_options(parser: argparse.ArgumentParser, *, oracle: bool = True) -> None:
    if oracle:
        parser.add_argument("--expect", type=Path, help="item_id,item_type,count oracle CSV to check against")
    parser.add_argument(
        "--batch-size", type=_positive_int, default=2000, help="events per bulk statement (default: 2000)"
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip malformed lines instead of stopping at the first"
    )
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _plural(count: int, word: str, plural: str | None = None) -> str:
    return f"{count:,} {word if count == 1 else (plural or word + 's')}"


def _dsn(args: argparse.Namespace) -> str | None:
    return args.dsn or os.environ.get("DATABASE_URL") or None


def _counter(dsn: str, args: argparse.Namespace, **options: Any) -> LikeCounter:
    if args.schema:
        options["schema"] = args.schema
    return LikeCounter(dsn, rate_limit_per_minute=None, **options)


def _require_dsn(args: argparse.Namespace) -> str:
    dsn = _dsn(args)
    if dsn is None:
        raise InvalidInput("no database: pass --dsn or set DATABASE_URL")
    return dsn


# -- commands ---------------------------------------------------------------------------------------


def _cmd_replay(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, max_batch_size=args.batch_size) as counter:
        return replay(counter, args.file, args.expect, args)


def _cmd_demo(args: argparse.Namespace) -> int:
    events, oracle = _replay.bundled_cofacts()
    print("Cofacts (g0v Cofacts Project), https://github.com/cofacts/opendata - CC0 1.0")
    dsn = _dsn(args)
    if dsn is not None and not args.schema:
        # A real database (perhaps the app's own DATABASE_URL): keep the demo's 120k rows out of the
        # schema the app uses.
        args.schema = "likecounter_demo"
        print(f"using the given database, schema {args.schema!r} (pass --schema to choose another)")
    with contextlib.ExitStack() as stack:
        if dsn is None:
            from .embedded import EmbeddedPostgres

            started = time.perf_counter()
            server = stack.enter_context(EmbeddedPostgres())
            print(f"started an embedded PostgreSQL in {time.perf_counter() - started:.1f} s")
            dsn = server.dsn
        counter = stack.enter_context(_counter(dsn, args, max_batch_size=args.batch_size))
        return replay(counter, events, oracle, args)
    return EXIT_OK  # pragma: no cover - the with block always returns


def _cmd_count(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, bootstrap=False) as counter:
        print(counter.count(args.item_id, args.item_type))
    return EXIT_OK


def _cmd_health(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, bootstrap=False, pool_timeout=3.0, min_pool_size=0) as counter:
        report = counter.health()
    for name in ("ok", "database_up", "latency_ms", "schema_version", "expected_schema_version", "error"):
        print(f"{name}: {getattr(report, name)}")
    return EXIT_OK if report.ok else EXIT_DATABASE


def _find_benchmarks() -> Path | None:
    """benchmarks/run.py of the source checkout: above the working directory, or above this package
    (an editable install). The wheel does not ship the suite."""
    places = [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    for place in places:
        candidate = place / "benchmarks" / "run.py"
        if candidate.is_file():
            return candidate
    return None


def _cmd_bench(args: argparse.Namespace) -> int:
    suite = _find_benchmarks()
    if suite is None:
        print(
            "error: the benchmark suite lives in likecounter's source repository, not in the wheel; "
            "run `likecounter bench` inside a checkout (or `python benchmarks/run.py` there)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    suite_args = [arg for arg in args.suite_args if arg != "--"]
    return subprocess.call([sys.executable, str(suite), *suite_args])


def _cmd_init(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, bootstrap=False) as counter:
        version = counter.bootstrap()
    print(f"schema {counter.settings.schema!r} is at version {version}")
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, bootstrap=False) as counter:
        started = time.perf_counter()
        with _progress(None, args.no_progress, "verify") as advance:
            report = counter.verify(args.batch_size, advance, max_reported=args.show)
        elapsed = time.perf_counter() - started
    print(f"checked {_plural(report.items_checked, 'item')} in {elapsed:.2f} s: {_drift_summary(report)}")
    for drift in report.drifted:
        shards = ", ".join(str(shard) for shard in drift.shards)
        print(
            f"  drift: item {drift.item_id} ({drift.item_type}): {drift.expected} like rows, "
            f"counters sum to {drift.actual} (shard {shards})"
        )
    if report.drift_count > len(report.drifted):
        print(f"  ... and {_plural(report.drift_count - len(report.drifted), 'more item')}")
    return EXIT_OK if report.ok else EXIT_MISMATCH


def _drift_summary(report: VerifyReport) -> str:
    if report.ok:
        return "no drift"
    return (
        f"{_plural(report.drift_count, 'drifted item')} "
        f"({_plural(report.missing_counters, 'missing counter row')}, "
        f"{_plural(report.orphan_counters, 'counter row')} with no like rows)"
    )


def _cmd_reconcile(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, bootstrap=False) as counter:
        started = time.perf_counter()
        with _progress(None, args.no_progress, "reconcile") as advance:
            report = counter.reconcile(args.batch_size, advance)
        elapsed = time.perf_counter() - started
    print(
        f"checked {_plural(report.items_checked, 'item')} in {elapsed:.2f} s: "
        f"{_plural(report.items_drifted, 'drifted item')}, fixed {_plural(report.items_fixed, 'item')} "
        f"({_plural(report.rows_changed, 'counter row')} changed)"
    )
    return EXIT_OK


def _cmd_erase_user(args: argparse.Namespace) -> int:
    with _counter(_require_dsn(args), args, bootstrap=False) as counter:
        erased = counter.erase_user(args.user_id, args.batch_size)
    print(f"erased {_plural(erased, 'like')} of user {args.user_id}")
    return EXIT_OK


# -- replay -----------------------------------------------------------------------------------------


def replay(
    counter: LikeCounter, events_path: Path, oracle_path: Path | None, args: argparse.Namespace
) -> int:
    """Apply the event file in bulk steps, print the rate, and check the oracle if one is given.

    Each step is one statement, applied whole or not at all. A malformed line stops the replay
    after the steps before it (unless --skip-bad): nothing from that line on is applied.
    """
    stats = _replay.ReadStats()
    size = events_path.stat().st_size
    applied = BulkResult(0, 0, 0, 0)
    started = time.perf_counter()
    with _replay.open_text(events_path) as source, _progress(size, args.no_progress, "replay") as advance:
        events = _replay.read_events(source, str(events_path), stats, skip_bad=args.skip_bad)
        try:
            for step in _replay.batches(events, counter.settings.max_batch_size):
                applied += counter.apply_events(step)
                advance(_position(source, size))
        except _replay.BadLine as exc:
            print(
                f"stopped at line {exc.line}: the {_plural(applied.events, 'event')} before it were "
                "applied, nothing from that line on",
                file=sys.stderr,
            )
            raise
    elapsed = time.perf_counter() - started
    rate = applied.events / elapsed if elapsed > 0 else float("inf")
    print(
        f"replayed {applied.events:,} events ({stats.likes:,} likes, {stats.unlikes:,} unlikes) "
        f"in {elapsed:.2f} s: {rate:,.0f} events/s"
    )
    print(
        f"rows inserted: {applied.liked:,}, rows deleted: {applied.unliked:,}, no-ops: {applied.unchanged:,}"
    )
    if stats.bad_lines:
        print(f"skipped {_plural(len(stats.bad_lines), 'malformed line')}; first: {stats.bad_lines[0]}")
    if oracle_path is None:
        return EXIT_OK
    return check_oracle(counter, oracle_path, args.no_progress)


def check_oracle(counter: LikeCounter, oracle_path: Path, no_progress: bool) -> int:
    with _replay.open_text(oracle_path) as source:
        expected = _replay.read_oracle(source, str(oracle_path))
    items = list(expected)
    actual: dict[Item, int] = {}
    with _progress(len(items), no_progress, "check") as advance:
        for chunk in _replay.chunked(items, counter.settings.max_batch_size):
            actual.update(counter.counts(chunk))
            advance(len(actual))
    mismatches = _replay.compare(expected, actual)
    found = _plural(len(mismatches), "mismatch", "mismatches")
    print(f"checked {len(items):,} items against {oracle_path.name}: {found}")
    for mismatch in mismatches[:20]:
        print(
            f"  mismatch: item {mismatch.item.item_id} ({mismatch.item.item_type}): "
            f"expected {mismatch.expected}, got {mismatch.actual}"
        )
    return EXIT_MISMATCH if mismatches else EXIT_OK


def _position(source: IO[str], fallback: int) -> int:
    """How far into the file the reader is, in bytes of the file on disk (compressed for .gz)."""
    raw: Any = getattr(source, "buffer", None)
    raw = getattr(raw, "fileobj", None) or raw  # gzip reads from `fileobj`
    try:
        return int(raw.tell()) if raw is not None else fallback
    except (OSError, ValueError):
        return fallback


@contextlib.contextmanager
def _progress(total: int | None, disabled: bool, label: str) -> Iterator[Any]:
    """A progress callback taking the absolute position: tqdm when installed, else plain lines.

    With no total (verify, reconcile: the item count is not known up front) it counts items."""
    if disabled:
        yield lambda position: None
        return
    try:
        from tqdm import tqdm
    except ImportError:
        last = [-1]

        def report(position: int) -> None:
            if total is None:
                print(f"{label}: {position:,} items", file=sys.stderr, flush=True)
                return
            percent = int(100 * position / total) if total else 100
            if percent // 10 > last[0]:
                last[0] = percent // 10
                print(f"{label}: {percent}%", file=sys.stderr, flush=True)

        yield report
        return
    # disable=None: no bar when stderr is not a terminal (logs, CI), where it would only interleave.
    unit = "B" if label == "replay" else " items"
    with tqdm(total=total, desc=label, unit=unit, unit_scale=True, leave=False, disable=None) as bar:

        def advance(position: int) -> None:
            bar.update(max(0, position - bar.n))

        yield advance
