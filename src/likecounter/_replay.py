"""Reading like/unlike event logs and count oracles, and comparing counts. No database I/O.

Event CSV: `user_id,item_id,item_type,action[,ts]`, plain or gzip (by the `.gz` suffix), with or
without that header line. Oracle CSV: `item_id,item_type,count`.
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

from ._errors import InvalidInput
from ._results import Item
from ._validation import check_id, check_item_type

Event = tuple[int, int, str, str]
EVENT_HEADER = ("user_id", "item_id", "item_type", "action")
ORACLE_HEADER = ("item_id", "item_type", "count")
_ACTIONS = frozenset({"like", "unlike"})
_SURROGATE = re.compile("[\udc80-\udcff]")  # undecodable bytes, as `surrogateescape` keeps them


class BadLine(InvalidInput):
    """A line of an input file could not be read; `line` is its 1-based number."""

    __module__ = "likecounter"

    def __init__(self, path: str, line: int, reason: str) -> None:
        super().__init__(f"{path}, line {line}: {reason}")
        self.path = path
        self.line = line
        self.reason = reason


def open_text(path: str | Path) -> IO[str]:
    """Open a plain or gzip CSV as text.

    A leading byte order mark is dropped. Bytes that are not UTF-8 are kept as lone surrogates
    (`surrogateescape`) rather than raised while decoding: the decoder works on whole chunks, so it
    would fail before the good lines ahead of the bad bytes were read. `parse_event` refuses the
    line that holds them, by its number.
    """
    path = Path(path)
    encoding, errors = "utf-8-sig", "surrogateescape"
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding=encoding, errors=errors, newline="")
    return open(path, encoding=encoding, errors=errors, newline="")  # the caller closes it


_INTEGER = re.compile(r"-?[0-9]+", re.ASCII)


def _int_field(value: str, what: str) -> int:
    # ASCII digits only: str.isdigit() also says yes to "²" (which int() refuses) and to other
    # scripts' digits.
    text = value.strip()
    if _INTEGER.fullmatch(text) is None:
        raise InvalidInput(f"{what} is not an integer: {value!r}")
    return check_id(int(text), what)


def parse_event(row: list[str]) -> Event:
    """Validate one CSV row of the event log; raise InvalidInput with the reason."""
    if any(_SURROGATE.search(field) for field in row):
        raise InvalidInput("the line is not valid UTF-8")
    if len(row) not in (4, 5):
        raise InvalidInput(f"expected 4 or 5 fields (user_id,item_id,item_type,action[,ts]), got {len(row)}")
    user_id = _int_field(row[0], "user_id")
    item_id = _int_field(row[1], "item_id")
    item_type = check_item_type(row[2])
    action = row[3]
    if action not in _ACTIONS:
        raise InvalidInput(f"action must be 'like' or 'unlike', got {action!r}")
    return user_id, item_id, item_type, action


@dataclass
class ReadStats:
    """What reading an event file found. `bad_lines` lists the skipped lines with `skip_bad`."""

    lines: int = 0
    events: int = 0
    likes: int = 0
    unlikes: int = 0
    bad_lines: list[BadLine] | None = None


def read_events(source: IO[str], name: str, stats: ReadStats, *, skip_bad: bool = False) -> Iterator[Event]:
    """Yield the valid events of `source` in order.

    A malformed line raises BadLine (after every earlier event has been yielded), unless `skip_bad`,
    which records it in `stats.bad_lines` and goes on.
    """
    if stats.bad_lines is None:
        stats.bad_lines = []
    reader = csv.reader(source)
    while True:
        problem: str | None = None
        try:
            row: list[str] | None = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. a field over the csv module's size limit
            row, problem = None, f"unreadable CSV: {exc}"
        except (EOFError, OSError, zlib.error) as exc:
            # A truncated or corrupt gzip stream: nothing after this point can be read, skip_bad or
            # not. The line that could not be read is the one after the last line read.
            raise BadLine(name, reader.line_num + 1, f"the file is damaged or ends early ({exc})") from None
        stats.lines = reader.line_num
        if row is not None:
            if reader.line_num == 1 and tuple(field.strip() for field in row[:4]) == EVENT_HEADER:
                continue
            if not row:
                continue
            try:
                event = parse_event(row)
            except InvalidInput as exc:
                problem = str(exc)
        if problem is not None:
            bad = BadLine(name, reader.line_num, problem)
            if not skip_bad:
                raise bad
            stats.bad_lines.append(bad)
            continue
        stats.events += 1
        if event[3] == "like":
            stats.likes += 1
        else:
            stats.unlikes += 1
        yield event


def batches(events: Iterable[Event], size: int) -> Iterator[list[Event]]:
    """Cut the event stream into bulk steps of at most `size` events, keeping the order."""
    batch: list[Event] = []
    try:
        for event in events:
            batch.append(event)
            if len(batch) == size:
                yield batch
                batch = []
    except InvalidInput:
        # A bad line: hand over the events before it first, so that the applied part of the file is
        # exactly the lines before the bad one; the error reaches the caller on its next request.
        if batch:
            yield batch
        raise
    if batch:
        yield batch


def read_oracle(source: IO[str], name: str) -> dict[Item, int]:
    """Read `item_id,item_type,count` rows into {Item: count}."""
    expected: dict[Item, int] = {}
    reader = csv.reader(source)
    for row in reader:
        if reader.line_num == 1 and tuple(field.strip() for field in row) == ORACLE_HEADER:
            continue
        if not row:
            continue
        try:
            if len(row) != 3:
                raise InvalidInput(f"expected 3 fields (item_id,item_type,count), got {len(row)}")
            item = Item(_int_field(row[0], "item_id"), check_item_type(row[1]))
            count = _int_field(row[2], "count")
        except InvalidInput as exc:
            raise BadLine(name, reader.line_num, str(exc)) from None
        expected[item] = count
    return expected


@dataclass(frozen=True)
class Mismatch:
    item: Item
    expected: int
    actual: int


def compare(expected: dict[Item, int], actual: dict[Item, int]) -> list[Mismatch]:
    """Every item whose stored count differs from the oracle."""
    return [
        Mismatch(item, want, actual.get(item, 0))
        for item, want in expected.items()
        if actual.get(item, 0) != want
    ]


def chunked(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def bundled_cofacts() -> tuple[Path, Path]:
    """The Cofacts event log (CC0) and its oracle, as shipped in the wheel or in a source checkout."""
    names = ("cofacts-likes.csv.gz", "cofacts-expected-counts.csv.gz")
    packaged = resources.files("likecounter") / "data"
    candidates = [Path(str(packaged)), Path(__file__).resolve().parents[2] / "benchmarks" / "data"]
    for folder in candidates:
        if all((folder / name).is_file() for name in names):
            return folder / names[0], folder / names[1]
    raise FileNotFoundError("the bundled Cofacts data is missing from this installation")
