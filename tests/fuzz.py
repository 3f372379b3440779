"""Hostile-input strategies and an independent model of the public API, shared by the fuzz tests.

The model decides, for any call, one of three outcomes: a TypeError (the arguments do not fit the
signature), InvalidInput (a value is refused), or the exact result and the liked set after the call.
It has its own checks, written without the library's validators, so that the two can disagree.
"""

from __future__ import annotations

import inspect
import itertools
import string
import traceback
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

from likecounter import BulkResult, Item, LikeCounter, LikeResult

# -- counting examples -------------------------------------------------------------------------------

#: examples run per test id; printed in the terminal summary (see tests/conftest.py).
EXAMPLES: Counter[str] = Counter()


def tried(node_id: str) -> None:
    EXAMPLES[node_id] += 1


# -- the model's own checks ------------------------------------------------------------------------

_TYPE_HEAD = string.ascii_lowercase
_TYPE_TAIL = string.ascii_lowercase + string.digits + "_"


def valid_id(value: Any) -> bool:
    return type(value) is int and -(2**63) <= value < 2**63


def valid_type(value: Any) -> bool:
    return (
        type(value) is str
        and 1 <= len(value) <= 32
        and value[0] in _TYPE_HEAD
        and all(char in _TYPE_TAIL for char in value)
    )


def valid_schema(value: Any) -> bool:
    return (
        type(value) is str
        and 1 <= len(value) <= 63
        and value[0] in _TYPE_HEAD + "_"
        and all(char in _TYPE_TAIL for char in value)
        and not value.startswith("pg_")
    )


class Bad(Exception):
    """The model's verdict: the library must raise InvalidInput."""


# -- hostile values --------------------------------------------------------------------------------


class StrSub(str):
    """A str subclass: not a plain str, so never an item type, schema or action."""


class IntSub(int):
    """An int subclass (like bool or an IntEnum member): not an id."""


EDGE_INTS = [0, 1, -1, 2**31, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**100, -(10**100)]
ODD_STRINGS = [
    "", " ", "post ", " post", "Post", "POST", "post\n", "post\x00", "\x00", "pöst", "post\u0301",
    "\u202epost", "post\u200b", "ｐｏｓｔ", "1post", "_post", "a" * 33, "a" * 64, "a" * 1000,
    "post'; DROP TABLE likes; --", 'x"; DROP SCHEMA public CASCADE; --', "likecounter.likes",
    "post OR 1=1", "$1", "%s", "{schema}", "pg_catalog", "pg_x", "\ud800", "\U0001f44d",
]  # fmt: skip

scalars: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from(EDGE_INTS),
    st.integers(),
    st.floats(),  # NaN, inf, -0.0 and floats equal to ints included
    st.sampled_from([0.0, -0.0, 1.0, 5.0, float("nan"), float("inf"), float("-inf"), 2.0**63]),
    st.builds(Decimal, st.integers(-5, 5)),
    st.just(Decimal("NaN")),
    st.builds(Fraction, st.integers(-5, 5)),
    st.builds(IntSub, st.integers(-5, 5)),
    st.builds(complex, st.integers(-2, 2)),
    st.sampled_from(ODD_STRINGS),
    st.text(max_size=40),
    st.builds(StrSub, st.sampled_from(["post", "like", "a"])),
    st.binary(max_size=8),
    st.just(b"post"),
    st.just(bytearray(b"post")),
    st.just(object()),
)
hostile: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.integers(0, 3), inner, max_size=2),
        st.frozensets(st.integers(0, 3), max_size=3),
    ),
    max_leaves=5,
)

# Small pools of valid values make collisions (already liked, duplicates in a batch) common.
valid_ids = st.one_of(st.integers(0, 4), st.sampled_from([-(2**63), 2**63 - 1]))
valid_types = st.one_of(
    st.sampled_from(["post", "post", "reel", "a", "x_9"]),
    st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True).filter(str.isascii),
)
ids = st.one_of(valid_ids, valid_ids, valid_ids, hostile)
item_types = st.one_of(valid_types, valid_types, valid_types, st.sampled_from(ODD_STRINGS), hostile)
actions = st.one_of(
    st.sampled_from(["like", "unlike", "like", "unlike"]),
    st.sampled_from(["Like", "like ", "LIKE", "", "delete", StrSub("like")]),
    hostile,
)


# -- containers --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shaped:
    """A value given in some container shape. `build()` makes a fresh one (generators are used up);
    `view()` is what the model sees: the values in iteration order, or Bad for a refused shape."""

    kind: str
    values: tuple[Any, ...]
    size: int  # the number of values a valid entry of this position holds; 0 for a batch

    def build(self) -> Any:
        kind, values = self.kind, self.values
        if kind == "list":
            return list(values)
        if kind == "tuple":
            return values
        if kind == "generator":
            return (value for value in values)
        if kind == "iterator":
            return iter(list(values))
        if kind == "set":
            return set(values)
        if kind == "dict_keys":
            return dict.fromkeys(values)
        if kind == "infinite":
            return itertools.repeat(values[0] if values else 1)
        if kind == "str":
            return StrSub(",".join(map(str, values)))
        if kind == "bytes":
            return repr(values).encode()
        if kind == "mapping":
            return dict(enumerate(values))
        return values[0] if values else None  # "scalar": a lone value where a container belongs

    def view(self, limit: int) -> list[Any]:
        """The model's reading, with `limit` the largest number of values accepted."""
        if self.kind == "infinite":
            raise Bad("endless")
        built = self.build()
        # The contract: strings are not containers, a mapping is not an entry.
        if isinstance(built, str | bytes | bytearray) or not hasattr(built, "__iter__"):
            raise Bad("not iterable")
        if self.size and isinstance(built, Mapping):
            raise Bad("mapping")
        values = list(built)  # a set's order, a dict's keys: exactly as the library sees them
        if len(values) > limit:
            raise Bad("too many")
        return values

    def __repr__(self) -> str:
        return f"{self.kind}{self.values!r}"


def _kinds(hashable: bool) -> st.SearchStrategy[str]:
    common = ["list", "tuple", "generator", "iterator", "infinite", "str", "bytes", "mapping", "scalar"]
    common += ["list", "tuple", "list", "tuple"]  # mostly the shapes a caller would really use
    return st.sampled_from(common + (["set", "dict_keys"] if hashable else []))


def _hashable(values: tuple[Any, ...]) -> bool:
    if any(isinstance(value, Shaped) for value in values):
        return False  # a set of entries would have to be built from fresh entries, in a new order
    try:
        hash(values)
    except TypeError:
        return False
    return True


@st.composite
def shaped(draw: st.DrawFn, parts: st.SearchStrategy[tuple[Any, ...]], size: int) -> Shaped:
    values = draw(parts)
    return Shaped(draw(_kinds(_hashable(values))), values, size)


def entries(*fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """One batch entry of len(fields) values, in any shape, sometimes with a value too few or many."""
    exact = st.tuples(*fields)
    wrong_size = st.lists(fields[0], max_size=len(fields) + 2).map(tuple)
    return shaped(st.one_of(exact, exact, exact, exact, wrong_size), len(fields))


def batches(entry: st.SearchStrategy[Any], max_size: int = 8) -> st.SearchStrategy[Shaped]:
    return shaped(st.lists(entry, max_size=max_size).map(tuple), 0)


def materialise(value: Any) -> Any:
    """Build the fresh argument the library gets (and its entries, for batches)."""
    if isinstance(value, Shaped):
        built = value.build()
        if value.kind in ("list", "tuple", "generator", "iterator"):
            # Entries are Shaped too: rebuild the same container around fresh entries.
            inner = [materialise(entry) for entry in value.values]
            return Shaped(value.kind, tuple(inner), value.size).build()
        return built
    return value


# -- calls ---------------------------------------------------------------------------------------------

METHODS = (
    "like", "unlike", "count", "counts", "has_liked", "apply_events", "like_many", "unlike_many",
    "health", "bootstrap",
)  # fmt: skip


@dataclass
class Call:
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def run(self, counter: Any) -> Any:
        built = materialise_call(self)
        return getattr(counter, self.method)(*built.args, **built.kwargs)


def materialise_call(call: Call) -> Call:
    """The call with fresh arguments, as the library gets them."""
    kwargs = {name: materialise(value) for name, value in call.kwargs.items()}
    return Call(call.method, tuple(materialise(arg) for arg in call.args), kwargs)


# A value that is wrong in a place where everything else is right: the likeliest to slip through.
wrong = st.one_of(
    st.sampled_from([True, False, None, 1.0, -0.0, float("nan"), 2**63, -(2**63) - 1, 10**100]),
    st.sampled_from([IntSub(1), StrSub("post"), b"post", Decimal(1), "1", ["post"], ("post",)]),
    st.sampled_from(ODD_STRINGS),
    hostile,
)
_SHAPES = st.sampled_from(["list", "tuple", "generator"])


@st.composite
def _batch(draw: st.DrawFn, fields: tuple[st.SearchStrategy[Any], ...], poison: bool) -> Shaped:
    """A batch as callers pass one: a list, tuple or generator of tuples (of ids, when `fields` is a
    single strategy). Valid values still collide, repeat keys and overflow the batch limit. With
    `poison`, one entry is wrong: one field, or the entry's own shape."""
    size = len(fields) if len(fields) > 1 else 0

    def entry(values: tuple[Any, ...]) -> Any:
        return Shaped("tuple", values, size) if size else values[0]

    batch = [entry(values) for values in draw(st.lists(st.tuples(*fields), max_size=6))]
    if poison:
        values = list(draw(st.tuples(*fields)))
        field = draw(st.integers(0, len(values)))
        if field < len(values):
            values[field] = draw(wrong)
            bad = entry(tuple(values))
        else:
            bad = draw(shaped(st.tuples(*fields), size)) if size else draw(wrong)
        batch.insert(draw(st.integers(0, len(batch))), bad)
    return Shaped(draw(_SHAPES), tuple(batch), 0)


def _arguments(poison: bool) -> dict[str, list[st.SearchStrategy[Any]]]:
    """Per method, a strategy for each positional argument: valid values, or (with `poison`) values
    of the same kind with one wrong part."""
    ids_: st.SearchStrategy[Any] = valid_ids
    types_: st.SearchStrategy[Any] = valid_types
    actions_: st.SearchStrategy[Any] = st.sampled_from(["like", "unlike"])
    if poison:
        seconds: st.SearchStrategy[Any] = wrong
        ids_, types_ = wrong, st.one_of(wrong, st.sampled_from(ODD_STRINGS))
        actions_ = st.one_of(actions, wrong)
    else:
        seconds = st.one_of(st.floats(0.5, 30), st.integers(1, 30))
    return {
        "like": [ids_, ids_, types_],
        "unlike": [ids_, ids_, types_],
        "count": [ids_, types_],
        "counts": [_batch((valid_ids, valid_types), poison)],
        "has_liked": [ids_, _batch((valid_ids,), poison), types_],
        "apply_events": [_batch((valid_ids, valid_ids, valid_types, actions_), poison)],
        "like_many": [_batch((valid_ids, valid_ids), poison), types_],
        "unlike_many": [_batch((valid_ids, valid_ids), poison), types_],
        "health": [seconds],
        "bootstrap": [],
    }


_CLEAN, _POISONED = _arguments(poison=False), _arguments(poison=True)
_HOSTILE: dict[str, list[st.SearchStrategy[Any]]] = {
    "like": [ids, ids, item_types],
    "unlike": [ids, ids, item_types],
    "count": [ids, item_types],
    "counts": [batches(entries(ids, item_types))],
    "has_liked": [ids, batches(ids), item_types],
    "apply_events": [batches(entries(ids, ids, item_types, actions))],
    "like_many": [batches(entries(ids, ids)), item_types],
    "unlike_many": [batches(entries(ids, ids)), item_types],
    "health": [hostile],
    "bootstrap": [],
}
_KEYWORDS = {"item_type": item_types, "timeout": st.floats(0.5, 30), "user_id": ids, "bogus": hostile}


@st.composite
def calls(draw: st.DrawFn, methods: tuple[str, ...] = METHODS) -> Call:
    method = draw(st.sampled_from(methods))
    # All valid; all valid but one argument (or one part of a batch); or anything at all.
    mode = draw(st.sampled_from(["clean", "clean", "poisoned", "poisoned", "hostile"]))
    strategies = list(_CLEAN[method])
    if mode == "poisoned" and strategies:
        position = draw(st.integers(0, len(strategies) - 1))
        strategies[position] = _POISONED[method][position]
    elif mode == "hostile":
        strategies = list(_HOSTILE[method])
    # Usually the right number of positional arguments; sometimes fewer, more, or some as keywords.
    shape = draw(st.sampled_from(["exact"] * 12 + ["fewer", "more", "keyword"]))
    count = len(strategies)
    if shape == "keyword" and count:
        count -= 1  # the last one may come as a keyword instead
    elif shape == "fewer" and count:
        count = draw(st.integers(0, count - 1))
    elif shape == "more":
        count += draw(st.integers(1, 2))
    args = tuple(draw(strategies[i] if i < len(strategies) else hostile) for i in range(count))
    kwargs: dict[str, Any] = {}
    if shape == "keyword":
        names = draw(st.lists(st.sampled_from(sorted(_KEYWORDS)), max_size=2, unique=True))
        kwargs = {name: draw(_KEYWORDS[name]) for name in names}
    return Call(method, args, kwargs)


# -- the model -----------------------------------------------------------------------------------------

Key = tuple[int, int, str]


@dataclass
class Model:
    """What the database holds, as the public API sees it: liked keys and registered type names."""

    liked: set[Key]
    types: set[str]
    max_batch_size: int = 1000
    schema_version: int = 0

    def count(self, item_id: int, item_type: str) -> int:
        return sum(1 for _, item, name in self.liked if item == item_id and name == item_type)

    def predict(self, call: Call) -> Any:
        """The call's result, applying its effect to the model; raises TypeError or Bad."""
        signature = inspect.signature(getattr(LikeCounter, call.method))
        bound = signature.bind(None, *call.args, **call.kwargs)  # TypeError: wrong arguments
        bound.apply_defaults()
        arguments = dict(bound.arguments)
        del arguments["self"]
        # Every data method takes a per-call deadline; a valid one does not change the result.
        timeout = arguments.pop("timeout", None) if call.method != "health" else None
        if timeout is not None and not (type(timeout) in (int, float) and 0 < timeout < 2**31):
            raise Bad("timeout")
        return getattr(self, "_" + call.method)(**arguments)

    # Each check mirrors the API contract, not the library's code.
    def _id(self, value: Any) -> int:
        if not valid_id(value):
            raise Bad("id")
        return int(value)

    def _type(self, value: Any) -> str:
        if not valid_type(value):
            raise Bad("item type")
        return str(value)

    def _batch(self, value: Any) -> list[Any]:
        if not isinstance(value, Shaped):
            raise Bad("not a batch")
        return value.view(self.max_batch_size)

    def _entry(self, value: Any, size: int) -> list[Any]:
        if not isinstance(value, Shaped):
            raise Bad("not an entry")
        values = value.view(size)
        if len(values) != size:
            raise Bad("entry size")
        return values

    def _write(self, user_id: Any, item_id: Any, item_type: Any, liked: bool) -> LikeResult:
        key = (self._id(user_id), self._id(item_id), self._type(item_type))
        changed = (key in self.liked) != liked
        if liked:
            self.types.add(key[2])
            self.liked.add(key)
            return LikeResult("liked" if changed else "already_liked", self.count(key[1], key[2]), True)
        self.liked.discard(key)
        return LikeResult("unliked" if changed else "not_liked", self.count(key[1], key[2]), False)

    def _like(self, user_id: Any, item_id: Any, item_type: Any) -> LikeResult:
        return self._write(user_id, item_id, item_type, True)

    def _unlike(self, user_id: Any, item_id: Any, item_type: Any) -> LikeResult:
        return self._write(user_id, item_id, item_type, False)

    def _count(self, item_id: Any, item_type: Any) -> int:
        return self.count(self._id(item_id), self._type(item_type))

    def _counts(self, items: Any) -> dict[Item, int]:
        asked = []
        for entry in self._batch(items):
            item_id, item_type = self._entry(entry, 2)
            asked.append(Item(self._id(item_id), self._type(item_type)))
        return {item: self.count(*item) for item in asked}

    def _has_liked(self, user_id: Any, item_ids: Any, item_type: Any) -> dict[int, bool]:
        user = self._id(user_id)
        name = self._type(item_type)
        asked = [self._id(item_id) for item_id in self._batch(item_ids)]
        return {item: (user, item, name) in self.liked for item in asked}

    def _bulk(self, events: list[tuple[Key, bool]]) -> BulkResult:
        final: dict[Key, bool] = {}
        for key, liked in events:
            final[key] = liked
        liked_now = sum(1 for key, want in final.items() if want and key not in self.liked)
        unliked_now = sum(1 for key, want in final.items() if not want and key in self.liked)
        for key, want in final.items():
            if want:
                self.types.add(key[2])
                self.liked.add(key)
            else:
                self.liked.discard(key)
        return BulkResult(len(events), len(final), liked_now, unliked_now)

    def _apply_events(self, events: Any) -> BulkResult:
        parsed = []
        for entry in self._batch(events):
            user_id, item_id, item_type, action = self._entry(entry, 4)
            key = (self._id(user_id), self._id(item_id), self._type(item_type))
            if type(action) is not str or action not in ("like", "unlike"):
                raise Bad("action")
            parsed.append((key, action == "like"))
        return self._bulk(parsed)

    def _set_many(self, pairs: Any, item_type: Any, liked: bool) -> BulkResult:
        batch = self._batch(pairs)
        name = self._type(item_type)
        parsed = []
        for entry in batch:
            user_id, item_id = self._entry(entry, 2)
            parsed.append(((self._id(user_id), self._id(item_id), name), liked))
        return self._bulk(parsed)

    def _like_many(self, pairs: Any, item_type: Any) -> BulkResult:
        return self._set_many(pairs, item_type, True)

    def _unlike_many(self, pairs: Any, item_type: Any) -> BulkResult:
        return self._set_many(pairs, item_type, False)

    def _health(self, timeout: Any) -> str:
        if type(timeout) not in (int, float) or not 0 < timeout <= 2**31 - 1:
            raise Bad("timeout")
        return "healthy"

    def _bootstrap(self) -> int:
        return self.schema_version


def run_or_error(action: Callable[[], Any]) -> tuple[str, Any]:
    """("ok", result) or ("raised", exception): one place that catches, for the verdict checks."""
    try:
        return "ok", action()
    except Exception as exc:
        return "raised", exc


def rendered(exc: BaseException) -> str:
    """Everything an error reporter could show: the traceback with every chained exception, whether
    or not it is suppressed (`from None` still keeps `__context__`)."""
    parts = ["".join(traceback.format_exception(exc))]
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args)]
        pending += [current.__cause__, current.__context__]
    return "\n".join(parts)


def no_leak(text: str, secrets: Iterator[str] | tuple[str, ...]) -> None:
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into: {text[:500]!r}"


# -- constructor options -----------------------------------------------------------------------------

MAX_SECONDS = 2**31 - 1  # libpq reads connect_timeout as a C int
MAX_POOL_SIZE = 262_143  # PostgreSQL's own ceiling on connections (MAX_BACKENDS)
MAX_LINGER_US = 1_000_000


def _int_in(value: Any, low: int, high: float = float("inf")) -> bool:
    return type(value) is int and low <= value <= high


def _seconds(value: Any) -> bool:
    return type(value) in (int, float) and 0 < value <= MAX_SECONDS


OPTION_RULES: dict[str, Callable[[Any], bool]] = {
    "rate_limit_per_minute": lambda v: v is None or _int_in(v, 1),
    "max_batch_size": lambda v: _int_in(v, 1),
    "bootstrap": lambda v: type(v) is bool,
    "debug": lambda v: type(v) is bool,
    "coalesce": lambda v: type(v) is bool,
    "min_pool_size": lambda v: _int_in(v, 0, MAX_POOL_SIZE),
    "max_pool_size": lambda v: _int_in(v, 1, MAX_POOL_SIZE),
    "pool_timeout": _seconds,
    "connect_timeout": _seconds,
    "coalesce_max_batch": lambda v: _int_in(v, 1),
    "coalesce_max_inflight": lambda v: v is None or _int_in(v, 1),
    "coalesce_linger_us": lambda v: _int_in(v, 0, MAX_LINGER_US),
    "hot_shards": lambda v: _int_in(v, 1, 256),
    "hot_threshold": lambda v: _int_in(v, 1),
    "schema": valid_schema,
}
DEFAULTS = {"min_pool_size": 1, "max_pool_size": 10}


def options_valid(options: dict[str, Any]) -> bool:
    if not all(OPTION_RULES[name](value) for name, value in options.items()):
        return False
    sizes = {**DEFAULTS, **{k: v for k, v in options.items() if k in DEFAULTS}}
    return bool(sizes["max_pool_size"] >= sizes["min_pool_size"])


def _option_values(name: str, sane: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Sane values most of the time, and the edges and hostile values the rest."""
    edges = st.sampled_from([0, -1, True, False, None, 2**63, 10**100, 1.0, float("nan"), "1"])
    return st.one_of(sane, sane, edges, hostile)


def option_sets(*, small_pools: bool) -> st.SearchStrategy[dict[str, Any]]:
    """A few options at a time. With `small_pools` every valid pool stays small enough to open."""
    seconds = st.one_of(st.floats(0.5, 60), st.integers(1, 60), st.just(MAX_SECONDS), st.just(1e300))
    pool_high = 4 if small_pools else MAX_POOL_SIZE + 1
    sane: dict[str, st.SearchStrategy[Any]] = {
        "rate_limit_per_minute": st.one_of(st.none(), st.integers(1, 10**20)),
        "max_batch_size": st.integers(1, 2**64),
        "bootstrap": st.booleans(),
        "debug": st.booleans(),
        "coalesce": st.booleans(),
        "min_pool_size": st.integers(0, min(pool_high, 2)) if small_pools else st.integers(0, pool_high),
        "max_pool_size": st.integers(1, pool_high),
        "pool_timeout": seconds,
        "connect_timeout": seconds,
        "coalesce_max_batch": st.integers(1, 2**64),
        "coalesce_max_inflight": st.one_of(st.none(), st.integers(1, 2**64)),
        "coalesce_linger_us": st.one_of(st.integers(0, 2000), st.just(MAX_LINGER_US + 1), st.just(10**400)),
        "hot_shards": st.integers(1, 300),
        "hot_threshold": st.integers(1, 2**64),
        "schema": st.sampled_from([*ODD_STRINGS, "_", "a" * 63, "a" * 64, "Likes", "public_x"]),
    }
    names = st.lists(st.sampled_from(sorted(sane)), min_size=1, max_size=4, unique=True)
    return names.flatmap(
        lambda chosen: st.fixed_dictionaries({name: _option_values(name, sane[name]) for name in chosen})
    )
