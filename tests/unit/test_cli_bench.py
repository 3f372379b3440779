from __future__ import annotations

import pytest

from likecounter import cli


def test_bench_runs_the_checkouts_suite(capfd: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--", "--list"]) == cli.EXIT_OK
    listed = capfd.readouterr().out
    for case in ("ours.like.uniform.t64", "baseline.hot.t64", "pgbench.like.c16", "ours.storage"):
        assert case in listed


def test_bench_outside_a_checkout_says_where_the_suite_is(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(cli, "_find_benchmarks", lambda: None)
    assert cli.main(["bench"]) == cli.EXIT_USAGE
    assert "source repository" in capsys.readouterr().err
