"""Array parameters in PostgreSQL's binary array format, packed in one `struct` call.

psycopg's generic list dumper calls an element dumper once per value, which costs about a
microsecond per element: a thousand-op bulk write spent over a millisecond of client CPU there.
The ids we send are already validated ints of a known width, so each array type below is packed
by one precompiled `struct.Struct`. Each class is a `list` subclass: on a connection whose
adapters were copied before this module registered its dumpers (a pool built before likecounter
was imported), psycopg falls back on its own list dumper, which sends the same values.

The format (PostgreSQL's `array_send`, src/backend/utils/adt/arrayfuncs.c): int32 ndim, int32
has-nulls flag, uint32 element type oid, then per dimension int32 size and int32 lower bound,
then per element int32 byte length and the element in network byte order. No I/O here.
"""

from __future__ import annotations

import functools
import itertools
import struct
from typing import Any, ClassVar

import psycopg
from psycopg import pq
from psycopg.adapt import Buffer, Dumper

__all__ = ["BoolArray", "Int2Array", "Int8Array"]

# Element type oids and the oids of their array types (pg_type.dat).
_INT2_OID, _INT2_ARRAY_OID = 21, 1005
_INT8_OID, _INT8_ARRAY_OID = 20, 1016
_BOOL_OID, _BOOL_ARRAY_OID = 16, 1000
_HEAD = struct.Struct(">iiIii")  # ndim=1, no nulls, element oid, size, lower bound 1
_EMPTY = struct.Struct(">iiI")  # an empty array has no dimensions


class Int8Array(list[int]):
    """A bigint[] parameter: every value must fit in a signed 64-bit integer."""

    __slots__ = ()


class Int2Array(list[int]):
    """A smallint[] parameter: every value must fit in a signed 16-bit integer."""

    __slots__ = ()


class BoolArray(list[bool]):
    """A boolean[] parameter."""

    __slots__ = ()


@functools.lru_cache(maxsize=64)
def _body(code: str, count: int) -> struct.Struct:
    # One (length, value) pair per element; the handful of batch sizes in use stay cached.
    return struct.Struct(">" + ("i" + code) * count)


class _ArrayDumper(Dumper):
    format = pq.Format.BINARY
    code: ClassVar[str]
    width: ClassVar[int]
    element_oid: ClassVar[int]

    def dump(self, obj: list[Any]) -> Buffer:
        count = len(obj)
        if not count:
            return _EMPTY.pack(0, 0, self.element_oid)
        values = itertools.chain.from_iterable(zip(itertools.repeat(self.width, count), obj, strict=True))
        return _HEAD.pack(1, 0, self.element_oid, count, 1) + _body(self.code, count).pack(*values)


class _Int8ArrayDumper(_ArrayDumper):
    oid = _INT8_ARRAY_OID
    code, width, element_oid = "q", 8, _INT8_OID


class _Int2ArrayDumper(_ArrayDumper):
    oid = _INT2_ARRAY_OID
    code, width, element_oid = "h", 2, _INT2_OID


class _BoolArrayDumper(_ArrayDumper):
    oid = _BOOL_ARRAY_OID
    code, width, element_oid = "?", 1, _BOOL_OID


for _cls, _dumper in (
    (Int8Array, _Int8ArrayDumper),
    (Int2Array, _Int2ArrayDumper),
    (BoolArray, _BoolArrayDumper),
):
    psycopg.adapters.register_dumper(_cls, _dumper)
