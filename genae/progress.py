"""Progress reporting for long loops, one helper for every command.

On a terminal it is a tqdm bar. When stderr is redirected (a log file, CI, a job scheduler) tqdm's ``\\r``
frames and escape codes would fill the log, so the same calls print plain lines instead: one each time another
tenth of the work is done (one every ``every`` updates when the total is unknown), and a last one at the end.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any, TypeVar

T = TypeVar("T")


class PlainProgress:
    """tqdm's ``update``/``set_postfix_str``/``close`` interface, writing whole lines."""

    def __init__(self, total: int | None, desc: str, unit: str, initial: int, stream: IO[str], every: int) -> None:
        self.total, self.desc, self.unit, self.n = total, desc, unit, initial
        self.stream, self.every, self.postfix = stream, every, ""
        self._reported, self._last_line_at = self._mark(), -1

    def _mark(self) -> int:
        if self.total:
            return min(10, 10 * self.n // self.total)
        return self.n // self.every

    def _line(self) -> None:
        done = f"{self.n:,}/{self.total:,} {self.unit} ({100 * self.n // self.total}%)" if self.total else \
            f"{self.n:,} {self.unit}"
        self.stream.write(f"{self.desc}: {done}{f', {self.postfix}' if self.postfix else ''}\n")
        self.stream.flush()
        self._last_line_at = self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        mark = self._mark()
        if mark > self._reported:
            self._reported = mark
            self._line()

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def close(self) -> None:
        """The final line, unless the last one already said where the loop ended."""
        if self._last_line_at != self.n:
            self._line()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NoProgress:
    """What a disabled bar is: every call does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> NoProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(total: int | None, *, desc: str, unit: str = "it", initial: int = 0, enabled: bool = True,
                 stream: IO[str] | None = None, every: int = 100, **tqdm_options: Any) -> Any:
    """A tqdm bar on a terminal, :class:`PlainProgress` lines otherwise, :class:`NoProgress` when disabled."""
    stream = sys.stderr if stream is None else stream
    if not enabled:
        return NoProgress()
    if getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, unit=unit, initial=initial, file=stream, dynamic_ncols=True,
                    **tqdm_options)
    return PlainProgress(total, desc, unit, initial, stream, every)


def progress_iter(iterable: Iterable[T], *, desc: str, total: int | None = None, unit: str = "it",
                  enabled: bool = True, stream: IO[str] | None = None, **tqdm_options: Any) -> Iterator[T]:
    """``iterable`` with :func:`progress_bar` advancing by one per item (``total`` from ``len`` when it has one)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)  # type: ignore[arg-type]
    with progress_bar(total, desc=desc, unit=unit, enabled=enabled, stream=stream, **tqdm_options) as bar:
        for item in iterable:
            yield item
            bar.update(1)
