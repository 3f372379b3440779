"""Replaying damaged event logs: each malformed line is refused by its number, everything before it
is applied in whole bulk steps, nothing after it (unless --skip-bad, which skips and counts it)."""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from likecounter.cli import EXIT_OK, EXIT_USAGE, main

HEADER = b"user_id,item_id,item_type,action,ts\n"
# (name, the malformed line, a word the error message must hold)
MALFORMED = [
    ("too few fields", b"1,9,post", b"fields"),
    ("too many fields", b"1,9,post,like,ts,extra", b"fields"),
    ("one field", b"   ", b"fields"),
    ("id not a number", b"one,9,post,like", b"user_id"),
    ("id a float", b"1.0,9,post,like", b"user_id"),
    ("id with unicode digits", "١,9,post,like".encode(), b"user_id"),
    ("id with a superscript digit", "²,9,post,like".encode(), b"user_id"),
    ("id out of range", b"9223372036854775808,9,post,like", b"user_id"),
    ("item id out of range", b"1,-9223372036854775809,post,like", b"item_id"),
    ("bad action", b"1,9,post,dislike", b"action"),
    ("action with a space", b"1,9,post,like ", b"action"),
    ("bad item type", b"1,9,Post,like", b"item_type"),
    ("sql in item type", b"1,9,post'; DROP TABLE likes; --,like", b"item_type"),
    ("not utf-8", b"1,9,p\xffst,like", b"UTF-8"),
    ("not utf-8 in ts", b"1,9,post,like,\xff", b"UTF-8"),
    ("a second header", b"user_id,item_id,item_type,action", b"user_id"),
    ("a field over the csv limit", b"1,9,post,like," + b"x" * 200_000, b"CSV"),
]


def _liked(db: psycopg.Connection[Any], schema: str) -> list[tuple[Any, ...]]:
    query = sql.SQL("SELECT user_id, item_id FROM {}.likes ORDER BY 1, 2").format(sql.Identifier(schema))
    return db.execute(query).fetchall()


@pytest.fixture
def replay(
    likecounter_dsn: str, likecounter_schema: str, capsys: pytest.CaptureFixture[str]
) -> Callable[..., tuple[int, str, str]]:
    def run(path: Path, *options: str) -> tuple[int, str, str]:
        code = main(["replay", str(path), "--dsn", likecounter_dsn, "--schema", likecounter_schema,
                     "--no-progress", *options])  # fmt: skip
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


def _good(users: range, item: int = 1) -> list[bytes]:
    return [f"{user},{item},post,like,t".encode() for user in users]


@pytest.mark.parametrize(("case", "bad", "word"), MALFORMED, ids=[case for case, _, _ in MALFORMED])
@pytest.mark.parametrize("batch_size", ["2", "3"])
def test_a_malformed_line_stops_the_replay_after_whole_steps(
    replay: Callable[..., tuple[int, str, str]], db: psycopg.Connection[Any], likecounter_schema: str,
    tmp_path: Path, case: str, bad: bytes, word: bytes, batch_size: str,
) -> None:  # fmt: skip
    # Lines 2-6 are good, line 7 is bad, line 8 is good: with 2 events a step, two whole steps and a
    # one-event step are applied; with 3, one whole step and a two-event step.
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"\n".join([*_good(range(1, 6)), bad, *_good(range(6, 7))]) + b"\n")
    code, out, err = replay(path, "--batch-size", batch_size)
    assert code == EXIT_USAGE, out
    assert "line 7:" in err and word.decode() in err, err
    assert "the 5 events before it were applied" in err
    assert _liked(db, likecounter_schema) == [(user, 1) for user in range(1, 6)]


@pytest.mark.parametrize(("case", "bad", "word"), MALFORMED, ids=[case for case, _, _ in MALFORMED])
def test_skip_bad_skips_and_counts_each_malformed_line(
    replay: Callable[..., tuple[int, str, str]], db: psycopg.Connection[Any], likecounter_schema: str,
    tmp_path: Path, case: str, bad: bytes, word: bytes,
) -> None:  # fmt: skip
    path = tmp_path / "events.csv"
    path.write_bytes(HEADER + b"\n".join([*_good(range(1, 4)), bad, *_good(range(4, 6)), bad]) + b"\n")
    code, out, _ = replay(path, "--batch-size", "2", "--skip-bad")
    assert code == EXIT_OK
    assert "replayed 5 events" in out
    assert "skipped 2 malformed lines; first:" in out and "line 5:" in out
    assert _liked(db, likecounter_schema) == [(user, 1) for user in range(1, 6)]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\xef\xbb\xbf" + HEADER + b"1,1,post,like,t\n2,1,post,like,t\n", id="bom-and-header"),
        pytest.param(b"\xef\xbb\xbf1,1,post,like\n2,1,post,like\n", id="bom-no-header"),
        pytest.param(HEADER.replace(b"\n", b"\r\n") + b"1,1,post,like,t\r\n2,1,post,like,t\r\n", id="crlf"),
        pytest.param(b"1,1,post,like\n\n\n2,1,post,like", id="blank-lines-no-final-newline"),
        pytest.param(b' 1 ,"1",post,like\n2,1,"post",like\n', id="quoted-and-padded-ids"),
    ],
)
def test_well_formed_variants_are_read(
    replay: Callable[..., tuple[int, str, str]], db: psycopg.Connection[Any], likecounter_schema: str,
    tmp_path: Path, content: bytes,
) -> None:  # fmt: skip
    path = tmp_path / "events.csv"
    path.write_bytes(content)
    code, out, err = replay(path)
    assert code == EXIT_OK, err
    assert "replayed 2 events" in out
    assert _liked(db, likecounter_schema) == [(1, 1), (2, 1)]


def test_bad_bytes_far_into_the_file_keep_every_line_before_them(
    replay: Callable[..., tuple[int, str, str]], db: psycopg.Connection[Any], likecounter_schema: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    # 2,000 lines (far more than one decoding chunk) before the bad bytes: all of them are applied.
    path = tmp_path / "events.csv"
    path.write_bytes(b"\n".join([*_good(range(1, 2001)), b"1,9,\xc3\x28,like", *_good(range(1, 5), 2)]))
    code, _, err = replay(path, "--batch-size", "300")
    assert code == EXIT_USAGE
    assert "line 2001:" in err and "UTF-8" in err
    assert len(_liked(db, likecounter_schema)) == 2000


def test_a_truncated_gzip_applies_the_lines_read_and_names_the_next(
    replay: Callable[..., tuple[int, str, str]], db: psycopg.Connection[Any], likecounter_schema: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    whole = gzip.compress(HEADER + b"\n".join(_good(range(1, 20_001))) + b"\n")
    path = tmp_path / "events.csv.gz"
    path.write_bytes(whole[: len(whole) // 2])
    for options in ([], ["--skip-bad"]):  # a damaged stream cannot be skipped over
        code, _, err = replay(path, "--batch-size", "1000", *options)
        assert code == EXIT_USAGE
        match = re.search(r"line (\d+): the file is damaged or ends early", err)
        assert match is not None, err
        read = int(match.group(1)) - 2  # the lines read: all but the header and the unreadable one
        assert 0 < read < 20_000
        # Exactly the lines before the one named, in whole steps: users 1..read.
        assert _liked(db, likecounter_schema) == [(user, 1) for user in range(1, read + 1)]


def test_a_file_that_is_not_gzip_is_refused_at_line_one(
    replay: Callable[..., tuple[int, str, str]], db: psycopg.Connection[Any], likecounter_schema: str,
    tmp_path: Path,
) -> None:  # fmt: skip
    path = tmp_path / "events.csv.gz"
    path.write_bytes(HEADER + b"1,1,post,like,t\n")
    code, _, err = replay(path)
    assert code == EXIT_USAGE
    assert "line 1: the file is damaged or ends early" in err
