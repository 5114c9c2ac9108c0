"""Ctrl-C during training: finish the current step, checkpoint it, then stop.

A ``KeyboardInterrupt`` raised in the middle of a step could leave half the parameters updated, so the first
Ctrl-C only asks the loop to stop at the next step boundary, where the state is exactly what a resume
expects. A second Ctrl-C interrupts at once (for a step that hangs); the last checkpoint is then the
periodic one.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType, TracebackType
from typing import Any


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped training at a step boundary, after that step was checkpointed."""


class DeferredInterrupt:
    """While active, SIGINT sets :attr:`requested` instead of raising; a second SIGINT raises at once.

    Only takes over Python's default SIGINT handler in the main thread; anywhere else (a worker thread, a
    handler installed by the caller) the interrupt keeps its usual meaning.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> DeferredInterrupt:
        self.requested = False
        if (self.enabled and threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        sys.stderr.write("\ninterrupt: stopping after this step to write a checkpoint (Ctrl-C again stops at once)\n")

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
