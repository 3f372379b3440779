"""Hostile arguments and options against a real PostgreSQL, on both shells.

Each example reads the schema's rows, asks the model in tests/fuzz.py what the call must do, makes
the call, and then checks one of: the result and the rows are exactly the model's, or the call raised
InvalidInput (TypeError for arguments that do not fit the signature) and not one row changed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from psycopg import sql

from likecounter import Health, InvalidInput, LikeResult
from likecounter._core import MAX_SCAN_BATCH
from likecounter._queries import latest_version

from .. import fuzz
from ..conftest import Snapshot

MAX_BATCH = 5  # small, so that the fuzzed batches (up to 8 entries) are often too big


@pytest.fixture
def likecounter_options() -> Mapping[str, Any]:
    return {"rate_limit_per_minute": None, "max_batch_size": MAX_BATCH}


def _model(rows: Snapshot) -> fuzz.Model:
    names: dict[int, str] = dict(rows["item_types"])
    liked = {(user_id, item_id, names[type_id]) for user_id, item_id, type_id, *_ in rows["likes"]}
    return fuzz.Model(liked, set(names.values()), MAX_BATCH, latest_version())


def _verdict(model: fuzz.Model, call: fuzz.Call) -> tuple[str, Any]:
    try:
        return "ok", model.predict(call)
    except TypeError:
        return "TypeError", None
    except fuzz.Bad as bad:
        return "InvalidInput", bad


def assert_refused(
    value: Any, verdict: str, what: object, before: Snapshot, snapshot: Callable[[], Snapshot]
) -> None:
    """The call raised the verdict's exception type, and no row changed."""
    expected = TypeError if verdict == "TypeError" else InvalidInput
    assert isinstance(value, BaseException), f"{what} returned {value!r}, expected {verdict}"
    assert isinstance(value, expected), f"{what} raised {type(value).__name__}: {value}; expected {verdict}"
    if expected is TypeError:
        assert not isinstance(value, InvalidInput)
    assert snapshot() == before, f"{what} was refused but changed rows"


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(call=fuzz.calls())
def test_every_method_matches_the_model_or_refuses_without_writing(
    call: fuzz.Call,
    like_counter: Any,
    snapshot: Callable[[], Snapshot],
    invariants: Callable[[], None],
    request: pytest.FixtureRequest,
) -> None:
    fuzz.tried(request.node.nodeid)
    like_counter.bootstrap()  # the schema exists from the first example on (and bootstrap is a no-op)
    before = snapshot()
    model = _model(before)
    verdict, expected = _verdict(model, call)
    event(f"{call.method}: {verdict}")
    outcome, value = fuzz.run_or_error(lambda: call.run(like_counter))
    if verdict != "ok":
        assert_refused(value, verdict, call, before, snapshot)
        return
    assert outcome == "ok", f"{call} raised {type(value).__name__}: {value}"
    if call.method == "health":
        assert isinstance(value, Health)
        assert (value.ok, value.database_up, value.error) == (True, True, None)
        assert value.schema_version == latest_version()
    else:
        assert value == expected, call
    after = _model(snapshot())
    assert after.liked == model.liked, call
    assert after.types == model.types, call
    invariants()


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(options=fuzz.option_sets(small_pools=True))
def test_constructor_options_build_a_working_counter_or_are_refused(
    options: dict[str, Any],
    make_counter: Callable[..., Any],
    likecounter_dsn: str,
    likecounter_schema: str,
    snapshot: Callable[[], Snapshot],
    db: psycopg.Connection[Any],
    request: pytest.FixtureRequest,
) -> None:
    fuzz.tried(request.node.nodeid)
    make_counter(likecounter_dsn, schema=likecounter_schema).close()  # the tables to snapshot
    valid = fuzz.options_valid(options)
    given_options = dict(options)
    if valid:
        # Opening is real: keep the pool small. A valid schema name is made this test's own, at
        # PostgreSQL's full identifier length.
        assume(options.get("min_pool_size", 1) <= 4)
        if "schema" in options:
            options["schema"] = likecounter_schema.ljust(63, "_")
    before = snapshot()
    outcome, counter = fuzz.run_or_error(
        lambda: make_counter(likecounter_dsn, **{"schema": likecounter_schema, **options})
    )
    if not valid:
        assert_refused(counter, "InvalidInput", given_options, before, snapshot)
        return
    assert outcome == "ok", f"{given_options} raised {type(counter).__name__}: {counter}"
    schema = counter.settings.schema
    try:
        for name, value in options.items():
            assert getattr(counter.settings, name) == value, name
        if schema != likecounter_schema and not counter.settings.bootstrap:
            counter.bootstrap()
        user = fuzz.EXAMPLES[request.node.nodeid]
        start = counter.count(7)
        assert counter.like(user, 7) == LikeResult("liked", start + 1, True)
        assert counter.count(7) == start + 1
        assert counter.has_liked(user, [7]) == {7: True}
    finally:
        counter.close()
        if schema != likecounter_schema:
            db.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# -- the operations tools: verify, reconcile, erase_user ---------------------------------------------

sizes = st.one_of(st.integers(-1, MAX_BATCH + 2), fuzz.hostile)
OPERATION_ARGUMENTS: dict[str, st.SearchStrategy[tuple[Any, ...]]] = {
    "verify": st.tuples(
        sizes, st.sampled_from([None, print, 3, "x"]), st.one_of(st.integers(-1, 5), fuzz.hostile)
    ),
    "reconcile": st.tuples(sizes, st.sampled_from([None, print, 3, "x"])),
    "erase_user": st.tuples(st.one_of(st.integers(0, 4), fuzz.hostile), st.one_of(st.none(), sizes)),
}


def _valid_size(value: Any, maximum: int) -> bool:
    return type(value) is int and 1 <= value <= maximum


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    method=st.sampled_from(sorted(OPERATION_ARGUMENTS)),
    data=st.data(),
    arity=st.sampled_from(["all", "all", "all", "fewer", "more"]),
)
def test_operations_tools_do_their_job_or_refuse_without_writing(
    method: str,
    data: st.DataObject,
    arity: str,
    like_counter: Any,
    snapshot: Callable[[], Snapshot],
    invariants: Callable[[], None],
    request: pytest.FixtureRequest,
) -> None:
    fuzz.tried(request.node.nodeid)
    like_counter.like_many([(user, item) for user in (1, 2) for item in (1, 2)])
    like_counter.like_many([(3, 1), (3, 2)])
    args = data.draw(OPERATION_ARGUMENTS[method])
    if arity == "fewer":
        args = args[:1] if method != "erase_user" else ()
    elif arity == "more":
        args = (*args, None, None)
    before = snapshot()
    liked_before = _model(before).liked
    outcome, value = fuzz.run_or_error(lambda: getattr(like_counter, method)(*args))
    event(f"{method}: {outcome}")
    if arity == "more" or (arity == "fewer" and method == "erase_user"):
        assert_refused(value, "TypeError", (method, args), before, snapshot)
        return
    if method == "erase_user":
        valid = fuzz.valid_id(args[0]) and (
            len(args) < 2 or args[1] is None or _valid_size(args[1], MAX_BATCH)
        )
    else:
        valid = _valid_size(args[0], MAX_SCAN_BATCH) and (
            len(args) < 2 or args[1] is None or callable(args[1])
        )
        if method == "verify" and len(args) > 2:
            valid = valid and type(args[2]) is int and args[2] >= 0
    if not valid:
        assert_refused(value, "InvalidInput", (method, args), before, snapshot)
        return
    assert outcome == "ok", f"{method}{args} raised {type(value).__name__}: {value}"
    if method == "erase_user":
        erased = {key for key in liked_before if key[0] == args[0]}
        assert value == len(erased)
        assert _model(snapshot()).liked == liked_before - erased
        invariants()
    else:
        assert snapshot() == before  # nothing had drifted, so nothing changes
        drift = value.drift_count if method == "verify" else value.items_fixed
        assert drift == 0
