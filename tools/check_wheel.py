"""Fail unless the newest wheel in dist/ contains the SQL files and the bundled Cofacts data."""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every migration of the source tree must ship: a missing one would leave new installs a version
# behind the code.
REQUIRED = [
    "likecounter/sql/queries.sql",
    *sorted(
        f"likecounter/sql/migrations/{path.name}" for path in (ROOT / "sql" / "migrations").glob("*.sql")
    ),
    "likecounter/data/cofacts-likes.csv.gz",
    "likecounter/data/cofacts-expected-counts.csv.gz",
    "likecounter/py.typed",
]


def main() -> int:
    wheels = sorted(Path("dist").glob("likecounter-*.whl"), key=lambda path: path.stat().st_mtime)
    if not wheels:
        print("no wheel in dist/", file=sys.stderr)
        return 1
    names = set(zipfile.ZipFile(wheels[-1]).namelist())
    missing = [name for name in REQUIRED if name not in names]
    if missing:
        print(f"{wheels[-1].name} lacks: {', '.join(missing)}", file=sys.stderr)
        return 1
    print(f"{wheels[-1].name}: all {len(REQUIRED)} required files present")
    return 0


if __name__ == "__main__":
    sys.exit(main())
