"""likecounter benchmarks: `python benchmarks/run.py [--quick] [--only SCENARIO...] [--dsn DSN] ...`

Runs LikeCounter and AsyncLikeCounter (like at 1/4/16/64 threads with uniform and zipfian keys, one
hot item, unlike, bulk like_many, reads, the Cofacts replay, bytes per like, stored-size scaling)
next to a naive one-transaction-per-like client and to pgbench running the same SQL, on a durable
PostgreSQL. `--help` lists the options; the suite itself lives in the `benchmarks` package.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    # Run as a script, sys.path[0] is this folder; the package needs its parent (the repository root)
    # instead, and its modules must not shadow anything as top-level names.
    here, root = Path(__file__).resolve().parent, str(Path(__file__).resolve().parent.parent)
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != here]
    if root not in sys.path:
        sys.path.insert(0, root)
    from benchmarks.suite import main as suite_main

    return suite_main()


if __name__ == "__main__":
    sys.exit(main())
