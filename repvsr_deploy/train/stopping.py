"""Stopping a training run without losing its work: the first Ctrl-C, SIGTERM or SIGHUP asks the
loop to stop after the iteration in progress, which it saves; a second stops at once (the last
saved checkpoint stands), except while a checkpoint is written: that finishes first, whole.

Under torchrun a second signal is not a second request: the agent passes the signal it gets on to
every process (which a terminal's Ctrl-C reached already), then kills them all after its grace
period (30 s); every process goes on to the agreed stop, so that rank 0's save can complete."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from ..errors import Stopped

SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")


class StopRequests:
    """Holds the signals' handlers while training (in the main thread; elsewhere it only listens)."""

    def __init__(self, repeats_end: bool = True):
        self.repeats_end = repeats_end  # whether a second signal stops at once
        self.signum: int | None = None
        self._saving = False
        self._pending: int | None = None
        self._previous: dict = {}

    @property
    def asked(self) -> bool:
        return self.signum is not None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for name in SIGNALS:
                if hasattr(signal, name):  # Windows has no SIGHUP
                    number = getattr(signal, name)
                    self._previous[number] = signal.signal(number, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for number, handler in self._previous.items():
            signal.signal(number, handler)

    def _handle(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
            again = " (again to stop at once)" if self.repeats_end else ""
            print(
                f"{signal.Signals(signum).name}: stopping after this iteration, which is saved{again}",
                file=sys.stderr,
                flush=True,
            )
        elif not self.repeats_end:
            return
        elif self._saving:
            self._pending = signum
        else:
            raise Stopped(signum, ": the last saved checkpoint stands")

    @contextlib.contextmanager
    def saving(self):
        """A checkpoint being written: a second signal waits for it."""
        self._saving = True
        try:
            yield
        finally:
            self._saving = False
        if self._pending is not None:
            raise Stopped(self._pending, ": the last saved checkpoint stands")
