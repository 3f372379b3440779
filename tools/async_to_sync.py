"""Generate src/likecounter/_sync.py (LikeCounter) from src/likecounter/_async.py (AsyncLikeCounter).

    python tools/async_to_sync.py          # write _sync.py
    python tools/async_to_sync.py --check  # exit 1 if _sync.py is not what _async.py generates

The async shell is the source, as in psycopg: the sync twin is a mechanical rewrite of it, so no
logic is written twice. The output is passed through `ruff format` and ruff's import sorting.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "likecounter"
# source -> (generated file, its docstring title)
TWINS = {
    PACKAGE / "_async.py": (
        PACKAGE / "_sync.py",
        "LikeCounter: the synchronous I/O shell around the sans-I/O core.",
    ),
    PACKAGE / "_async_coalesce.py": (PACKAGE / "_sync_coalesce.py", "Write coalescing for LikeCounter."),
}

# Whole-word rewrites, applied in order.
WORDS = [
    ("AsyncLikeCounter", "LikeCounter"),
    ("AsyncCoalescer", "Coalescer"),
    ("_async_coalesce", "_sync_coalesce"),
    ("asyncio.Event", "ThreadSignal"),  # a lighter threading.Event, see _signal.py
    ("asyncio.sleep", "time.sleep"),
    ("Awaitable[list[LikeResult]]", "list[LikeResult]"),  # a sync callback returns its value
    ("AsyncConnectionPool", "ConnectionPool"),
    ("AsyncConnection", "Connection"),
    ("AsyncIterator", "Iterator"),
    ("asynccontextmanager", "contextmanager"),
    ("__aenter__", "__enter__"),
    ("__aexit__", "__exit__"),
    ("asyncio.Lock", "threading.Lock"),
    ("import asyncio", "import threading"),
]
_MODULE_DOCSTRING = re.compile(r'\A""".*?"""\n', re.DOTALL)
_ASYNC_ONLY = re.compile(r"^.*#\s*async-only\s*\n", re.MULTILINE)
_SYNC_ONLY = re.compile(r"^(\s*)#\s*sync-only:\s*(.*)$", re.MULTILINE)


def convert(source: str, title: str, source_name: str, target: Path) -> str:
    header = (
        f'"""{title}\n\nGENERATED from {source_name} by tools/async_to_sync.py: do not edit it; edit '
        f'{source_name}\nand regenerate.\n"""\n'
    )
    text = _MODULE_DOCSTRING.sub("", source, count=1)
    text = _ASYNC_ONLY.sub("", text)
    # Threads cannot be cancelled from outside, so there is nothing to shield a call from.
    text = re.sub(r"\basyncio\.shield\((.*)\)$", r"\1", text, flags=re.MULTILINE)
    text = _SYNC_ONLY.sub(r"\1\2", text)
    for old, new in WORDS:
        text = re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", new, text)
    text = re.sub(r"\basync (def|with|for)\b", r"\1", text)
    text = re.sub(r"\bawait ", "", text)
    if "time.sleep" in text and "\nimport time\n" not in text:
        text = text.replace("\nimport threading\n", "\nimport threading\nimport time\n", 1)
    return _ruff(header + text, target)


def _ruff(text: str, target: Path) -> str:
    fixed = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--quiet", "--select", "I,F401", "--fix", "--exit-zero",
         "--stdin-filename", str(target), "-"],
        input=text, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    return subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--quiet", "--stdin-filename", str(target), "-"],
        input=fixed, capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if _sync.py is out of date")
    args = parser.parse_args()
    stale = []
    for source, (target, title) in TWINS.items():
        generated = convert(source.read_text(encoding="utf-8"), title, source.name, target)
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if args.check:
            if current != generated:
                stale.append(target)
            continue
        if current != generated:
            target.write_text(generated, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if stale:
        names = ", ".join(str(path.relative_to(ROOT)) for path in stale)
        print(f"out of date: {names}; run python tools/async_to_sync.py", file=sys.stderr)
        return 1
    if args.check:
        print("the sync twins match their async sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
