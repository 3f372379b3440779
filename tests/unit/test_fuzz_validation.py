"""Fuzzing of argument and option validation, without a database.

Every public method's plan is run up to its first query: the library must refuse exactly what the
model in tests/fuzz.py refuses, with InvalidInput (TypeError for arguments that do not fit the
signature), and nothing else may escape. The integration fuzz (tests/integration/test_fuzz.py) then
checks results and rows against a real PostgreSQL.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likecounter import AsyncLikeCounter, InvalidInput
from likecounter._config import Settings, normalize_dsn, redact_dsn
from likecounter._core import Core

from .. import fuzz

# The public method -> the plan of the core that validates its arguments.
PLANS = {
    "like": lambda core, a: core.like(a["user_id"], a["item_id"], a["item_type"]),
    "unlike": lambda core, a: core.unlike(a["user_id"], a["item_id"], a["item_type"]),
    "count": lambda core, a: core.count(a["item_id"], a["item_type"]),
    "counts": lambda core, a: core.counts(a["items"]),
    "has_liked": lambda core, a: core.has_liked(a["user_id"], a["item_ids"], a["item_type"]),
    "apply_events": lambda core, a: core.apply_events(a["events"]),
    "like_many": lambda core, a: core.set_many(a["pairs"], a["item_type"], liked=True),
    "unlike_many": lambda core, a: core.set_many(a["pairs"], a["item_type"], liked=False),
}
DATA_METHODS = tuple(PLANS)


@settings(max_examples=2000, deadline=None)
@given(call=fuzz.calls(DATA_METHODS), max_batch_size=st.sampled_from([1, 3, 1000]))
def test_plans_refuse_exactly_what_the_model_refuses(
    call: fuzz.Call, max_batch_size: int, request: pytest.FixtureRequest
) -> None:
    fuzz.tried(request.node.nodeid)
    core = Core(Settings(rate_limit_per_minute=None, max_batch_size=max_batch_size))
    model = fuzz.Model(set(), set(), max_batch_size)
    try:
        model.predict(call)
        verdict = "valid"
    except TypeError:
        verdict = "TypeError"
    except fuzz.Bad as bad:
        verdict = f"InvalidInput ({bad})"

    def first_step() -> Any:
        signature = inspect.signature(getattr(AsyncLikeCounter, call.method))
        built = fuzz.materialise_call(call)
        bound = signature.bind(None, *built.args, **built.kwargs)  # the same TypeError as a real call
        bound.apply_defaults()
        plan = PLANS[call.method](core, bound.arguments)
        try:
            return next(plan)
        except StopIteration as done:
            return done.value  # answered without a query (an empty batch)

    outcome, value = fuzz.run_or_error(first_step)
    if verdict == "valid":
        assert outcome == "ok", f"{call} was refused: {value!r}"
    else:
        assert outcome == "raised", f"{call} was accepted, expected {verdict}"
        expected = TypeError if verdict == "TypeError" else InvalidInput
        assert type(value) is expected or (expected is InvalidInput and isinstance(value, InvalidInput)), (
            f"{call} raised {type(value).__name__}: {value}, expected {verdict}"
        )


@settings(max_examples=800, deadline=None)
@given(options=fuzz.option_sets(small_pools=False))
def test_constructor_options_are_validated_before_any_io(
    options: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    fuzz.tried(request.node.nodeid)
    # AsyncLikeCounter's constructor does no I/O (LikeCounter's opens the pool), so any DSN will do.
    outcome, value = fuzz.run_or_error(lambda: AsyncLikeCounter("postgresql://app@db.invalid/app", **options))
    if fuzz.options_valid(options):
        assert outcome == "ok", f"{options} refused: {value!r}"
        for name, given_value in options.items():
            assert getattr(value.settings, name) == given_value
    else:
        assert outcome == "raised", f"{options} accepted"
        assert isinstance(value, InvalidInput), f"{options} raised {type(value).__name__}: {value}"


SECRET = "S3cr3t-must-not-leak-7f9e"
dsn_pieces = st.one_of(
    st.sampled_from(
        ["@", ":", "/", "?", "%", "%4", "%zz", "%40", "'", "\\", " ", "=", "[", "]", "#", "\x00"]
    ),
    st.text(max_size=6),
)


@st.composite
def dsns_with_a_password(draw: st.DrawFn) -> str:
    noise = draw(st.lists(dsn_pieces, max_size=4).map("".join))
    host = draw(st.sampled_from(["db", "127.0.0.1", "[::1]", "[::1", "h1:5432,h2:5433", ""]))
    form = draw(st.sampled_from(["url", "url+driver", "keyvalue", "quoted"]))
    if form == "url":
        return f"postgresql://bob:{SECRET}{noise}@{host}/app"
    if form == "url+driver":
        return f"postgresql+psycopg://bob:{noise}{SECRET}@{host}/app?sslmode=disable{noise}"
    if form == "keyvalue":
        return f"host={host} user=bob password={SECRET}{noise} dbname=app"
    return f"host={host} password='{SECRET}{noise}' {noise}"


@settings(max_examples=1000, deadline=None)
@given(dsn=dsns_with_a_password())
def test_dsn_parsing_refuses_with_invalid_input_and_never_shows_the_password(
    dsn: str, request: pytest.FixtureRequest
) -> None:
    fuzz.tried(request.node.nodeid)
    outcome, value = fuzz.run_or_error(lambda: AsyncLikeCounter(dsn, debug=False))
    if outcome == "raised":
        assert isinstance(value, InvalidInput), f"{dsn!r} raised {type(value).__name__}: {value}"
        fuzz.no_leak(fuzz.rendered(value), (SECRET,))
        return
    fuzz.no_leak(repr(value), (SECRET,))
    fuzz.no_leak(repr(value.settings), (SECRET,))
    fuzz.no_leak(redact_dsn(normalize_dsn(dsn)), (SECRET,))


@settings(max_examples=600, deadline=None)
@given(name=st.one_of(st.text(max_size=70), st.sampled_from(fuzz.ODD_STRINGS), fuzz.hostile))
def test_schema_and_item_type_checks_agree_with_the_model(name: Any, request: pytest.FixtureRequest) -> None:
    fuzz.tried(request.node.nodeid)
    schema_ok = fuzz.run_or_error(lambda: Settings(schema=name))[0] == "ok"
    assert schema_ok == fuzz.valid_schema(name), repr(name)
    core = Core(Settings())
    type_ok = fuzz.run_or_error(lambda: next(core.count(1, name)))[0] == "ok"
    assert type_ok == fuzz.valid_type(name), repr(name)
