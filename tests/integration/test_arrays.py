"""The packed array parameters against PostgreSQL's own binary array format."""

from __future__ import annotations

import struct
from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from likecounter._arrays import BoolArray, Int2Array, Int8Array
from likecounter._validation import INT64_MAX, INT64_MIN

CASES: list[tuple[type[list[Any]], str, list[Any]]] = [
    (Int8Array, "bigint", [INT64_MIN, -1, 0, 1, INT64_MAX]),
    (Int8Array, "bigint", [7]),
    (Int8Array, "bigint", []),
    (Int2Array, "smallint", [-32768, 0, 1, 32767]),
    (Int2Array, "smallint", []),
    (BoolArray, "boolean", [True, False, False, True]),
    (BoolArray, "boolean", []),
]


@pytest.mark.parametrize(("cls", "sql_type", "values"), CASES)
def test_packed_arrays_are_byte_for_byte_what_the_server_sends(
    db: psycopg.Connection[Any], cls: type[list[Any]], sql_type: str, values: list[Any]
) -> None:
    # array_send is the server's own binary output function: our dump must equal it, and the
    # server must read our bytes back as the same values of the declared type.
    with db.cursor(binary=True) as cur:
        cur.execute(f"SELECT %b::{sql_type}[], array_send(%s::{sql_type}[])", [cls(values), list(values)])
        row = cur.fetchone()
    assert row is not None
    assert row[0] == values
    dumper = db.adapters.get_dumper(cls, psycopg.adapt.PyFormat.BINARY)(cls, None)
    packed = dumper.dump(cls(values))
    assert packed is not None and bytes(packed) == bytes(row[1])


@settings(max_examples=50, deadline=None)
@given(
    st.lists(st.integers(INT64_MIN, INT64_MAX), max_size=300),
    st.lists(st.integers(-32768, 32767), max_size=300),
    st.lists(st.booleans(), max_size=300),
)
def test_packed_arrays_round_trip(
    likecounter_dsn: str, int8s: list[int], int2s: list[int], bools: list[bool]
) -> None:
    with psycopg.connect(likecounter_dsn) as conn:
        row = conn.execute(
            "SELECT %b::bigint[], %b::smallint[], %b::boolean[]",
            [Int8Array(int8s), Int2Array(int2s), BoolArray(bools)],
        ).fetchone()
    assert row == (int8s, int2s, bools)


def test_a_value_out_of_range_is_refused_before_anything_is_sent() -> None:
    dumper = psycopg.adapters.get_dumper(Int2Array, psycopg.adapt.PyFormat.BINARY)(Int2Array, None)
    with pytest.raises(struct.error, match="format requires"):
        dumper.dump(Int2Array([40000]))
