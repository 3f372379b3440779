"""The sans-I/O core: every operation as a plan that yields queries and receives their rows.

A plan is a generator. It validates its arguments before its first yield, so a shell can run it up
to that point without touching the pool; it then yields `Query` objects, is sent back the rows of
each, and returns the operation's result. The sync and async shells only drive plans:

    plan = core.like(1, 2, "post")
    query = next(plan)                # validation and rate limiting happen here
    rows = execute(query)             # the shell's I/O, sync or async
    plan.send(rows)                   # ...until StopIteration carries the LikeResult

Nothing here blocks or awaits, so the same code serves threads and asyncio tasks.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from psycopg import sql

from . import _queries
from ._arrays import BoolArray, Int2Array, Int8Array
from ._config import Settings
from ._errors import InvalidInput, SchemaError
from ._hot import HotItems
from ._ratelimit import SlidingWindowLimiter
from ._results import (
    BulkResult,
    Drift,
    Health,
    Item,
    LikeResult,
    PoolStats,
    ReconcileReport,
    VerifyReport,
)
from ._validation import INT64_MAX, INT64_MIN, check_batch, check_id, check_item_type, check_positive_int

T = TypeVar("T")
Rows = list[tuple[Any, ...]]


@dataclass(frozen=True, slots=True)
class Query:
    """One statement for the shell to execute, with its bound parameters."""

    statement: sql.SQL | sql.Composed
    params: Mapping[str, Any] | None = None


Plan = Generator[Query, Rows, T]


@dataclass(frozen=True, slots=True)
class Transaction:
    """A sub-plan for the shell to run as one short transaction on one connection; the sub-plan's
    result is sent back to the plan that yielded it."""

    plan: Plan[Any]


# A paged plan (verify, reconcile, erase_user) works in batches: it yields a Query for each
# statement to run on its own in autocommit, or a Transaction for work that needs several
# statements under the same locks. The shell may take a different connection for each step.
Step = Query | Transaction
Paged = Generator[Step, Any, T]


def single(query: Query) -> Plan[Rows]:
    """The plan of one statement, whose result is its rows."""
    rows = yield query
    return rows


# Keyset pagination walks (type_id, item_id) keys from the smallest possible one.
SMALLINT_MIN, SMALLINT_MAX = -(2**15), 2**15 - 1
FIRST_KEY = (SMALLINT_MIN, INT64_MIN)
DEFAULT_SCAN_BATCH = 10_000
MAX_SCAN_BATCH = 1_000_000
DEFAULT_MAX_REPORTED = 1_000


def _key_after(type_id: int, item_id: int) -> tuple[int, int] | None:
    """The smallest (type_id, item_id) key after the given one; None after the largest."""
    if item_id < INT64_MAX:
        return (type_id, item_id + 1)
    if type_id < SMALLINT_MAX:
        return (type_id + 1, INT64_MIN)
    return None


@dataclass(frozen=True, slots=True)
class _DriftRow:
    type_id: int
    drift: Drift
    missing: int
    orphaned: int


@dataclass(frozen=True, slots=True)
class _ScanBatch:
    items: int
    drift: list[_DriftRow]
    next_key: tuple[int, int] | None  # None: no items after this batch


def _write_params(
    user_ids: list[int], item_ids: list[int], type_ids: list[int], is_like: list[bool], shards: list[int]
) -> dict[str, Any]:
    """The parameters of the write_batch statement: one entry per op in each list."""
    return {
        "user_ids": Int8Array(user_ids),
        "item_ids": Int8Array(item_ids),
        "type_ids": Int2Array(type_ids),
        "is_like": BoolArray(is_like),
        "shards": Int2Array(shards),
    }


def _counts_params(type_ids: list[int], item_ids: list[int]) -> dict[str, Any]:
    """The parameters of the counts statement: (type_ids[i], item_ids[i]) is the i-th item."""
    return {"type_ids": Int2Array(type_ids), "item_ids": Int8Array(item_ids)}


@dataclass(frozen=True, slots=True)
class WriteOp:
    """One validated like (liked=True) or unlike, with its type resolved: ready to be executed."""

    user_id: int
    item_id: int
    type_id: int
    liked: bool

    @property
    def key(self) -> tuple[int, int, int]:
        return (self.user_id, self.item_id, self.type_id)


def _result(liked: bool, changed: bool, like_count: int) -> LikeResult:
    if liked:
        return LikeResult("liked" if changed else "already_liked", like_count, True)
    return LikeResult("unliked" if changed else "not_liked", like_count, False)


LIKE = "like"
UNLIKE = "unlike"
_ACTIONS = {LIKE: True, UNLIKE: False}


class Core:
    """Validation, SQL selection, parameters and result reading for one counter. No I/O."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.statements = _queries.Statements(settings.schema)
        limit = settings.rate_limit_per_minute
        self.limiter = SlidingWindowLimiter(limit) if limit is not None else None
        self.hot = HotItems(settings.hot_shards, settings.hot_threshold)
        # item type name -> type_id. The registry is append-only, so a cached id never goes stale.
        self._type_ids: dict[str, int] = {}

    # -- schema -------------------------------------------------------------------------------------

    def bootstrap(self) -> Plan[int]:
        """Apply missing migrations. The shell runs this plan inside one transaction."""
        statements = self.statements
        # Lock before CREATE SCHEMA: concurrent CREATE SCHEMA IF NOT EXISTS can still collide.
        yield Query(statements["migration_lock"], {"schema": self.settings.schema})
        yield Query(statements["create_schema"])
        yield Query(statements["create_version_table"])
        rows = yield Query(statements["current_version"])
        current = int(rows[0][0])
        self.check_version(current)
        for migration in _queries.migrations()[current:]:
            yield Query(statements["use_schema"])
            yield Query(statements.migration(migration))
            yield Query(statements["record_version"], {"version": migration.version})
        return _queries.latest_version()

    def check_version(self, version: int) -> None:
        latest = _queries.latest_version()
        if version > latest:
            raise SchemaError(
                f"schema {self.settings.schema!r} is at version {version}, newer than the {latest} "
                "this likecounter knows; upgrade likecounter"
            )

    def schema_version(self) -> Plan[int | None]:
        """The applied schema version, or None when the schema has not been created."""
        statements = self.statements
        rows = yield Query(statements["table_exists"], {"table": statements.table_names["schema_version"]})
        if not rows[0][0]:
            return None
        rows = yield Query(statements["current_version"])
        return int(rows[0][0])

    # -- item types ---------------------------------------------------------------------------------

    def _read_type_ids(self, names: Iterable[str]) -> Plan[dict[str, int]]:
        """Known ids for `names`; unknown names are left out (and nothing is created)."""
        found = {name: self._type_ids[name] for name in names if name in self._type_ids}
        missing = [name for name in names if name not in found]
        if missing:
            rows = yield Query(self.statements["find_types"], {"names": missing})
            for name, type_id in rows:
                self._type_ids[name] = found[name] = type_id
        return found

    def _write_type_id(self, name: str) -> Plan[int]:
        type_id = self._type_ids.get(name)
        if type_id is None:
            query = Query(self.statements["register_type"], {"name": name})
            rows = yield query
            if not rows:
                # A concurrent registration committed after that statement's snapshot was taken (its
                # INSERT waited for it, then did nothing); a new statement sees the row.
                rows = yield query
            type_id = self._type_ids[name] = int(rows[0][0])
        return type_id

    # -- writes -------------------------------------------------------------------------------------

    def _rate_limit(self, user_id: int) -> None:
        if self.limiter is not None:
            self.limiter.acquire(user_id)

    def like(self, user_id: Any, item_id: Any, item_type: Any) -> Plan[LikeResult]:
        return self._set(user_id, item_id, item_type, liked=True)

    def unlike(self, user_id: Any, item_id: Any, item_type: Any) -> Plan[LikeResult]:
        return self._set(user_id, item_id, item_type, liked=False)

    def _set(self, user_id: Any, item_id: Any, item_type: Any, *, liked: bool) -> Plan[LikeResult]:
        prepared = yield from self.prepare_write(user_id, item_id, item_type, liked=liked)
        if isinstance(prepared, LikeResult):
            return prepared
        return (yield from self.write_one(prepared))

    def prepare_write(
        self, user_id: Any, item_id: Any, item_type: Any, *, liked: bool
    ) -> Plan[WriteOp | LikeResult]:
        """Validate, rate-limit and resolve the type of one like/unlike.

        Returns the op to execute, or the final result when nothing needs to be written (unliking a
        type nobody ever liked). A coalescing shell runs this in the caller, before the op joins a
        batch, so one bad op can never fail the others.
        """
        user_id = check_id(user_id, "user_id")
        item_id = check_id(item_id, "item_id")
        name = check_item_type(item_type)
        self._rate_limit(user_id)
        if liked:
            type_id = yield from self._write_type_id(name)
        else:
            # Unliking a type nobody ever liked changes nothing, and must not register the type.
            known = yield from self._read_type_ids([name])
            if name not in known:
                return LikeResult("not_liked", 0, False)
            type_id = known[name]
        return WriteOp(user_id, item_id, type_id, liked)

    def write_one(self, op: WriteOp) -> Plan[LikeResult]:
        """One like/unlike as one statement."""
        shard = self._shards([(op.type_id, op.item_id, op.liked)], live=True)[0]
        params = {"user_id": op.user_id, "item_id": op.item_id, "type_id": op.type_id, "shard": shard}
        rows = yield Query(self.statements[LIKE if op.liked else UNLIKE], params)
        changed, like_count = rows[0]
        if like_count is None:
            # No count when nothing changed: this statement's snapshot predates a concurrent
            # like/unlike of the same key that the statement waited for and was decided by (it could
            # say already_liked with a count of 0). None either for a hot item, whose other shards
            # the snapshot may show stale. A new statement sees the committed count.
            rows = yield Query(self.statements["count"], {"type_id": op.type_id, "item_id": op.item_id})
            like_count = rows[0][0]
        return _result(op.liked, bool(changed), int(like_count))

    def write_batch(self, ops: list[WriteOp]) -> Plan[list[LikeResult]]:
        """Many like/unlike ops with distinct keys as one statement: one round trip, one commit.

        Each op gets its own status, and the count a serial run of the ops in the given order would
        show. Items that the statement left unchanged, and hot items, are counted again in a second
        statement, for the same reasons as in `write_one`.
        """
        if len(ops) == 1:
            return [(yield from self.write_one(ops[0]))]
        params = _write_params(
            [op.user_id for op in ops],
            [op.item_id for op in ops],
            [op.type_id for op in ops],
            [op.liked for op in ops],
            self._shards([(op.type_id, op.item_id, op.liked) for op in ops], live=True),
        )
        rows = yield Query(self.statements["write_batch"], params)
        stale = sorted(
            {(op.type_id, op.item_id) for op, row in zip(ops, rows, strict=True) if row[1] is None}
        )
        if not stale:
            return [
                _result(op.liked, bool(changed), int(like_count))
                for op, (changed, like_count) in zip(ops, rows, strict=True)
            ]
        params = _counts_params([key[0] for key in stale], [key[1] for key in stale])
        recount = yield Query(self.statements["counts"], params)
        now = dict.fromkeys(stale, 0)
        now.update({(type_id, item_id): int(count) for type_id, item_id, count in recount})
        # The ops of a recounted item take the counts of a serial run that ends with them: the
        # count read now, less their net change, plus their changes up to each op.
        net: dict[tuple[int, int], int] = dict.fromkeys(stale, 0)
        for op, (changed, _) in zip(ops, rows, strict=True):
            if changed and (op.type_id, op.item_id) in net:
                net[(op.type_id, op.item_id)] += 1 if op.liked else -1
        results = []
        for op, (changed, like_count) in zip(ops, rows, strict=True):
            item = (op.type_id, op.item_id)
            if like_count is None:
                if changed:
                    net[item] -= 1 if op.liked else -1
                like_count = max(0, now[item] - net[item])
            results.append(_result(op.liked, bool(changed), int(like_count)))
        return results

    def _shards(self, writes: list[tuple[int, int, bool]], *, live: bool) -> list[int]:
        """The counter shard each op's like is counted in: 0, or one shard per statement for the
        items that are hot (see `_hot`). Live writes count towards hotness; the bulk path only
        follows it, so a replay that repeats an item does not spread it."""
        hot = self.hot
        if not hot.enabled or (not live and not hot.any_hot()):
            return [0] * len(writes)
        check = hot.observe if live else hot.is_hot
        flags = [liked and check((type_id, item_id)) for type_id, item_id, liked in writes]
        if not any(flags):
            return [0] * len(writes)
        shard = hot.rotate()
        return [shard if flag else 0 for flag in flags]

    def apply_events(self, events: Any) -> Plan[BulkResult]:
        """One bulk step over (user_id, item_id, item_type, action) events, action "like"/"unlike".

        The whole step is validated before anything is sent, and runs as one statement: it is applied
        entirely or not at all. Events are applied in order: for each key the last action decides.
        """
        batch = check_batch(events, "events", self.settings.max_batch_size)
        final: dict[tuple[int, int, str], bool] = {}
        for position, event in enumerate(batch):
            user_id, item_id, item_type, action = _unpack(event, 4, "events", position)
            key = (check_id(user_id, "user_id"), check_id(item_id, "item_id"), check_item_type(item_type))
            if type(action) is not str or action not in _ACTIONS:
                raise InvalidInput(f"events[{position}]: action must be 'like' or 'unlike', got {action!r}")
            final.pop(key, None)  # re-insert so that dict order follows the last action
            final[key] = _ACTIONS[action]
        return self._apply(len(batch), final)

    def set_many(self, pairs: Any, item_type: Any, *, liked: bool) -> Plan[BulkResult]:
        """`like_many` / `unlike_many`: one bulk step over (user_id, item_id) pairs of one type."""
        batch = check_batch(pairs, "pairs", self.settings.max_batch_size)
        name = check_item_type(item_type)
        final: dict[tuple[int, int, str], bool] = {}
        for position, pair in enumerate(batch):
            user_id, item_id = _unpack(pair, 2, "pairs", position)
            final[(check_id(user_id, "user_id"), check_id(item_id, "item_id"), name)] = liked
        return self._apply(len(batch), final)

    def _apply(self, event_count: int, final: dict[tuple[int, int, str], bool]) -> Plan[BulkResult]:
        keys = len(final)
        liked_names = sorted({name for (_, _, name), liked in final.items() if liked})
        other_names = sorted({name for _, _, name in final} - set(liked_names))
        type_ids: dict[str, int] = {}
        for name in liked_names:
            type_ids[name] = yield from self._write_type_id(name)
        if other_names:
            # Types that are only unliked here are read, never registered: if nobody ever liked
            # them, there is nothing to remove.
            type_ids.update((yield from self._read_type_ids(other_names)))
            final = {key: liked for key, liked in final.items() if key[2] in type_ids}
        if not final:
            return BulkResult(event_count, keys, 0, 0)
        user_ids, item_ids, types, is_like = [], [], [], []
        for (user_id, item_id, name), value in final.items():
            user_ids.append(user_id)
            item_ids.append(item_id)
            types.append(type_ids[name])
            is_like.append(value)
        # The same statement as coalesced single ops: one home for the bulk write SQL.
        shards = self._shards(list(zip(types, item_ids, is_like, strict=True)), live=False)
        params = _write_params(user_ids, item_ids, types, is_like, shards)
        rows = yield Query(self.statements["write_batch"], params)
        liked = sum(1 for (changed, _), like in zip(rows, is_like, strict=True) if changed and like)
        unliked = sum(1 for (changed, _), like in zip(rows, is_like, strict=True) if changed and not like)
        return BulkResult(event_count, keys, liked, unliked)

    # -- reads --------------------------------------------------------------------------------------

    def count(self, item_id: Any, item_type: Any) -> Plan[int]:
        item_id = check_id(item_id, "item_id")
        name = check_item_type(item_type)
        known = yield from self._read_type_ids([name])
        if name not in known:
            return 0
        rows = yield Query(self.statements["count"], {"type_id": known[name], "item_id": item_id})
        return int(rows[0][0])

    def counts(self, items: Any) -> Plan[dict[Item, int]]:
        batch = check_batch(items, "items", self.settings.max_batch_size)
        asked: dict[Item, int] = {}
        for position, entry in enumerate(batch):
            item_id, item_type = _unpack(entry, 2, "items", position)
            asked[Item(check_id(item_id, "item_id"), check_item_type(item_type))] = 0
        if not asked:
            return asked
        known = yield from self._read_type_ids(sorted({item.item_type for item in asked}))
        names_by_id = {type_id: name for name, type_id in known.items()}
        wanted = [item for item in asked if item.item_type in known]
        if wanted:
            params = _counts_params(
                [known[item.item_type] for item in wanted], [item.item_id for item in wanted]
            )
            rows = yield Query(self.statements["counts"], params)
            for type_id, item_id, like_count in rows:
                asked[Item(item_id, names_by_id[type_id])] = int(like_count)
        return asked

    def has_liked(self, user_id: Any, item_ids: Any, item_type: Any) -> Plan[dict[int, bool]]:
        user_id = check_id(user_id, "user_id")
        batch = check_batch(item_ids, "item_ids", self.settings.max_batch_size)
        name = check_item_type(item_type)
        asked = {check_id(item_id, "item_id"): False for item_id in batch}
        if not asked:
            return asked
        known = yield from self._read_type_ids([name])
        if name not in known:
            return asked
        params = {"user_id": user_id, "type_id": known[name], "item_ids": Int8Array(asked)}
        rows = yield Query(self.statements["has_liked"], params)
        for (item_id,) in rows:
            asked[item_id] = True
        return asked

    # -- operations ---------------------------------------------------------------------------------

    def verify(
        self,
        batch_size: Any = DEFAULT_SCAN_BATCH,
        progress: Any = None,
        max_reported: Any = DEFAULT_MAX_REPORTED,
    ) -> Paged[VerifyReport]:
        """Compare every counter shard with the like rows naming it, `batch_size` items per
        statement. Reads only. `progress` is called after each batch with the items checked so far."""
        batch_size = check_positive_int(batch_size, "batch_size", maximum=MAX_SCAN_BATCH)
        max_reported = check_positive_int(max_reported, "max_reported", minimum=0)
        report = _check_progress(progress)
        checked = batches = drift_count = missing = orphaned = 0
        kept: list[Drift] = []
        key: tuple[int, int] | None = FIRST_KEY
        while key is not None:
            batch = yield from self._scan_batch(key, batch_size)
            batches += 1
            checked += batch.items
            for row in batch.drift:
                drift_count += 1
                missing += row.missing
                orphaned += row.orphaned
                if len(kept) < max_reported:
                    kept.append(row.drift)
            if report is not None:
                report(checked)
            key = batch.next_key
        return VerifyReport(checked, drift_count, tuple(kept), missing, orphaned, batches)

    def reconcile(self, batch_size: Any = DEFAULT_SCAN_BATCH, progress: Any = None) -> Paged[ReconcileReport]:
        """Set every drifted counter shard to the number of like rows naming it, batch by batch.

        Each batch is found drifted by the read-only verify statement, then repaired in one short
        transaction that locks just its drifted shards (see reconcile_lock in queries.sql), so
        live writers are never lost or counted twice.
        """
        batch_size = check_positive_int(batch_size, "batch_size", maximum=MAX_SCAN_BATCH)
        report = _check_progress(progress)
        checked = batches = drifted = rows_changed = 0
        fixed: set[tuple[int, int]] = set()
        key: tuple[int, int] | None = FIRST_KEY
        while key is not None:
            batch = yield from self._scan_batch(key, batch_size)
            batches += 1
            checked += batch.items
            drifted += len(batch.drift)
            if batch.drift:
                shards = sorted(
                    (row.type_id, row.drift.item_id, shard)
                    for row in batch.drift
                    for shard in row.drift.shards
                )
                changed = yield Transaction(self._repair(shards))
                rows_changed += len(changed)
                fixed.update((int(type_id), int(item_id)) for type_id, item_id, _ in changed)
            if report is not None:
                report(checked)
            key = batch.next_key
        return ReconcileReport(checked, drifted, len(fixed), rows_changed, batches)

    def _scan_batch(self, key: tuple[int, int], batch_size: int) -> Plan[_ScanBatch]:
        params = {"type_id": key[0], "item_id": key[1], "limit": batch_size}
        rows = yield Query(self.statements["verify_batch"], params)
        items, last_type, last_item = rows[0][:3]
        drift = [
            _DriftRow(
                int(type_id),
                Drift(int(item_id), name or f"#{type_id}", int(expected), int(actual), tuple(shards)),
                int(missing),
                int(orphaned),
            )
            for *_, type_id, item_id, name, expected, actual, shards, missing, orphaned in rows
            if type_id is not None
        ]
        done = int(items) < batch_size
        return _ScanBatch(int(items), drift, None if done else _key_after(last_type, last_item))

    def _repair(self, shards: list[tuple[int, int, int]]) -> Plan[Rows]:
        """Lock the shards (in key order), then set each to its like rows; returns the changed rows."""
        params = {
            "type_ids": [shard[0] for shard in shards],
            "item_ids": [shard[1] for shard in shards],
            "shards": [shard[2] for shard in shards],
        }
        yield Query(self.statements["reconcile_lock"], params)
        return (yield Query(self.statements["reconcile_fix"], params))

    def erase_user(self, user_id: Any, batch_size: Any = None) -> Paged[int]:
        """Remove all of a user's likes, taking each back from its counter shard, `batch_size` keys
        (at most max_batch_size, the default) per write_batch statement. Returns the likes removed.

        Keys are walked in order from a moving start, so a like the user adds behind it while this
        runs is kept (and counted, as every write is); the walk always ends.
        """
        user_id = check_id(user_id, "user_id")
        limit = self.settings.max_batch_size
        size = limit if batch_size is None else check_positive_int(batch_size, "batch_size", maximum=limit)
        erased = 0
        key: tuple[int, int] | None = FIRST_KEY
        while key is not None:
            params = {"user_id": user_id, "type_id": key[0], "item_id": key[1], "limit": size}
            rows = yield Query(self.statements["user_likes"], params)
            if not rows:
                break
            count = len(rows)
            params = _write_params(
                [user_id] * count,
                [row[1] for row in rows],
                [row[0] for row in rows],
                [False] * count,
                [0] * count,
            )
            results = yield Query(self.statements["write_batch"], params)
            erased += sum(1 for changed, _ in results if changed)
            key = _key_after(*rows[-1]) if count == size else None
        return erased

    # -- health -------------------------------------------------------------------------------------

    def health_report(
        self,
        *,
        version: int | None,
        latency_s: float | None,
        pool: PoolStats | None,
        error: BaseException | None,
    ) -> Health:
        expected = _queries.latest_version()
        message = None
        if error is not None:
            message = f"{type(error).__name__}: {error}"
            for secret in self.settings.secrets:
                message = message.replace(secret, "***")
        elif version is None:
            message = (
                f"schema {self.settings.schema!r} has not been created (run bootstrap or `likecounter init`)"
            )
        elif version != expected:
            message = f"schema {self.settings.schema!r} is at version {version}, expected {expected}"
        return Health(
            ok=message is None,
            database_up=error is None,
            latency_ms=None if latency_s is None else round(latency_s * 1000, 3),
            schema_version=version,
            expected_schema_version=expected,
            pool=pool,
            error=message,
        )


def _check_progress(progress: Any) -> Callable[[int], None] | None:
    if progress is not None and not callable(progress):
        raise InvalidInput(f"progress must be a callable or None, not {type(progress).__name__}")
    return progress  # type: ignore[no-any-return]


def _unpack(entry: Any, size: int, what: str, position: int) -> tuple[Any, ...]:
    """The values of batch entry `what[position]`, which must be a tuple or other iterable of `size`."""
    if type(entry) is tuple and len(entry) == size:
        return entry  # the common case, without the checks below (bulk calls spend time here)
    return _unpack_any(entry, size, f"{what}[{position}]")


def _unpack_any(entry: Any, size: int, what: str) -> tuple[Any, ...]:
    if isinstance(entry, str | bytes | bytearray | Mapping) or not isinstance(entry, Iterable):
        raise InvalidInput(f"{what} must be a tuple of {size} values, not {type(entry).__name__}")
    # At most one value too many: an endless iterator as an entry must not be read forever.
    values = tuple(itertools.islice(entry, size + 1))
    if len(values) != size:
        raise InvalidInput(f"{what} must hold {size} values, got {len(values)}")
    return values


def pool_stats(stats: Mapping[str, int], max_size: int) -> PoolStats:
    """Read psycopg_pool's get_stats() into our PoolStats."""
    return PoolStats(
        size=stats.get("pool_size", 0),
        available=stats.get("pool_available", 0),
        waiting=stats.get("requests_waiting", 0),
        max_size=max_size,
    )
