"""The main job: replaying event logs through the CLI, against a real PostgreSQL."""

from __future__ import annotations

import csv
import gzip
import random
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest

from likecounter import LikeCounter
from likecounter._queries import latest_version
from likecounter._replay import bundled_cofacts
from likecounter.cli import EXIT_MISMATCH, EXIT_OK, EXIT_USAGE, main

from ..conftest import Snapshot


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


@pytest.mark.slow
def test_cofacts_replay_matches_the_oracle(
    likecounter_dsn: str, likecounter_schema: str, capsys: pytest.CaptureFixture[str],
    invariants: Callable[[], None],
) -> None:  # fmt: skip
    events, oracle = bundled_cofacts()
    code = main(
        ["replay", str(events), "--dsn", likecounter_dsn, "--schema", likecounter_schema,
         "--expect", str(oracle), "--no-progress"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == EXIT_OK, out
    assert "replayed 124,108 events (119,974 likes, 4,134 unlikes)" in out
    assert "rows inserted: 119,974, rows deleted: 11, no-ops: 4,123" in out
    assert "checked 41,969 items" in out and ": 0 mismatches" in out
    invariants()

    # has_liked on a sample of pairs agrees with a set model of the log.
    liked: set[tuple[int, int, str]] = set()
    with gzip.open(events, "rt", newline="") as source:
        for row in csv.DictReader(source):
            key = (int(row["user_id"]), int(row["item_id"]), row["item_type"])
            if row["action"] == "like":
                liked.add(key)
            else:
                liked.discard(key)
    rng = random.Random(7)
    sample = rng.sample(sorted(liked), 200)
    with LikeCounter(likecounter_dsn, schema=likecounter_schema, bootstrap=False) as counter:
        for user_id, item_id, item_type in sample:
            probe = [item_id, item_id + 1_000_000]  # the second id does not exist
            assert counter.has_liked(user_id, probe, item_type) == {item_id: True, item_id + 1_000_000: False}
    assert len(liked) == 119_974 - 11


def test_replay_detects_a_wrong_oracle(
    likecounter_dsn: str, likecounter_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _write(
        tmp_path / "e.csv", ["user_id,item_id,item_type,action", "1,5,post,like", "2,5,post,like"]
    )
    oracle = _write(tmp_path / "o.csv", ["item_id,item_type,count", "5,post,3", "6,post,0"])
    code = main(["replay", str(events), "--dsn", likecounter_dsn, "--schema", likecounter_schema,
                 "--expect", str(oracle), "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == EXIT_MISMATCH
    assert ": 1 mismatch\n" in out and "item 5 (post): expected 3, got 2" in out


def test_last_action_per_key_wins_within_and_across_steps(
    likecounter_dsn: str, likecounter_schema: str, tmp_path: Path
) -> None:
    lines = ["1,5,post,like", "1,5,post,unlike", "1,5,post,like", "2,5,post,like", "2,5,post,unlike",
             "3,6,reel,unlike", "3,6,reel,like"]  # fmt: skip
    events = _write(tmp_path / "e.csv", lines)
    oracle = _write(tmp_path / "o.csv", ["5,post,1", "6,reel,1"])
    for batch_size in ("1", "2", "3", "100"):
        schema = f"{likecounter_schema}_{batch_size}"
        code = main(["replay", str(events), "--dsn", likecounter_dsn, "--schema", schema,
                     "--expect", str(oracle), "--batch-size", batch_size, "--no-progress"])  # fmt: skip
        with psycopg.connect(likecounter_dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        assert code == EXIT_OK, batch_size


def test_bad_line_stops_with_its_number_and_applies_nothing_after_it(
    likecounter_dsn: str, likecounter_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    snapshot: Callable[[], Snapshot],
) -> None:  # fmt: skip
    events = _write(
        tmp_path / "e.csv",
        ["user_id,item_id,item_type,action,ts", "1,1,post,like,t", "1,2,post,like,t",
         "1,3,Post,like,t", "1,4,post,like,t"],
    )  # fmt: skip
    code = main(["replay", str(events), "--dsn", likecounter_dsn, "--schema", likecounter_schema,
                 "--batch-size", "10", "--no-progress"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == EXIT_USAGE
    assert "line 4" in captured.err and "item_type" in captured.err
    rows = snapshot()["likes"]
    assert [row[1] for row in rows] == [1, 2]  # the lines before the bad one, and nothing after


def test_skip_bad_applies_the_rest(
    likecounter_dsn: str, likecounter_schema: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _write(tmp_path / "e.csv", ["1,1,post,like", "oops", "1,2,post,maybe", "2,1,post,like"])
    code = main(["replay", str(events), "--dsn", likecounter_dsn, "--schema", likecounter_schema,
                 "--skip-bad", "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == EXIT_OK
    assert "skipped 2 malformed lines" in out and "line 2" in out
    with LikeCounter(likecounter_dsn, schema=likecounter_schema, bootstrap=False) as counter:
        assert counter.count(1) == 2
        assert counter.count(2) == 0


def test_count_health_and_init_commands(
    likecounter_dsn: str, likecounter_schema: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--dsn", likecounter_dsn, "--schema", likecounter_schema]
    assert main(["health", *base]) != EXIT_OK  # no schema yet
    assert "has not been created" in capsys.readouterr().out
    assert main(["init", *base]) == EXIT_OK
    assert f"is at version {latest_version()}" in capsys.readouterr().out
    assert main(["health", *base]) == EXIT_OK
    assert "ok: True" in capsys.readouterr().out
    with LikeCounter(likecounter_dsn, schema=likecounter_schema) as counter:
        counter.like(1, 77, "reel")
    assert main(["count", "77", "--type", "reel", *base]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "1"


def test_replay_without_a_database_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    events = _write(tmp_path / "e.csv", ["1,1,post,like"])
    assert main(["replay", str(events)]) == EXIT_USAGE
    assert "DATABASE_URL" in capsys.readouterr().err


def test_module_entry_point_runs(likecounter_dsn: str, likecounter_schema: str) -> None:
    import subprocess
    import sys

    completed = subprocess.run(
        [sys.executable, "-m", "likecounter", "init",
         "--dsn", likecounter_dsn, "--schema", likecounter_schema],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert f"is at version {latest_version()}" in completed.stdout
