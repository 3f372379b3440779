"""Run AsyncLikeCounter behind a synchronous facade, so one test body checks both shells.

The async counter lives on an event loop in a background thread; each call is submitted to that
loop. Calls from many threads at once therefore run as concurrent tasks on one loop: the thread
races in the suite exercise the async shell's concurrency too.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

from likecounter import AsyncLikeCounter

T = TypeVar("T")


class LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="async-shell-loop", daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class SyncFacade:
    """The LikeCounter interface over an AsyncLikeCounter that runs on `LoopThread`."""

    def __init__(self, loop: LoopThread, *args: Any, **options: Any) -> None:
        self._loop = loop
        self.inner = AsyncLikeCounter(*args, **options)
        # LikeCounter opens (and bootstraps) in its constructor; do the same here.
        loop.run(self.inner.open())

    @classmethod
    def from_env(cls, loop: LoopThread, **overrides: Any) -> SyncFacade:
        """The facade over `AsyncLikeCounter.from_env(**overrides)`, opened as LikeCounter.from_env is."""
        facade = cls.__new__(cls)
        facade._loop = loop
        facade.inner = AsyncLikeCounter.from_env(**overrides)
        loop.run(facade.inner.open())
        return facade

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if not asyncio.iscoroutinefunction(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            return self._loop.run(attribute(*args, **kwargs))

        return call

    def close(self) -> None:
        self._loop.run(self.inner.close())

    def __enter__(self) -> SyncFacade:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self.inner)
