"""Three stages in their own threads, joined by bounded queues, so that the slowest one sets the rate:
a producer thread (decoding), the calling thread (the model: signals reach it there), a consumer
thread (encoding). What each stage spent working is timed, to show which one bounds the rate.

A failure in any stage, or a signal (KeyboardInterrupt, a stop) in the calling thread, stops the others
and is raised in the calling thread once every thread has ended: nothing is left writing when the
caller cleans up, and nothing keeps the interpreter from exiting. Signals wait while the threads
start and while they are joined: one raised inside `Thread.start` would leave a thread launched that
the cleanup does not see yet, reading a file its caller then closes (a crash, seen).
"""

from __future__ import annotations

import contextlib
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Protocol

DEPTH = 4  # items a queue holds: enough to ride out one slow frame, little memory (4 HR 4K frames: 100 MB)
POLL_S = 0.1  # how often a blocked stage looks whether another has failed
END = object()


@dataclass
class StageTimes:
    """Seconds each stage spent working (not waiting on a queue), and the wall time, over `items`."""

    produce: float = 0.0
    transform: float = 0.0
    consume: float = 0.0
    wall: float = 0.0
    items: int = 0
    names: tuple[str, str, str] = field(default=("decode", "model", "encode"))

    def describe(self) -> str:
        """Per item, in ms, and the stage that sets the rate."""
        per = {name: 1e3 * busy / max(self.items, 1) for name, busy in zip(self.names, self.busy)}
        slowest = max(per, key=per.get)
        stages = ", ".join(f"{name} {ms:.1f}" for name, ms in per.items())
        return (
            f"{stages} ms/frame working; {1e3 * self.wall / max(self.items, 1):.1f} ms/frame wall "
            f"({self.items} frames; the {slowest} stage sets the rate)"
        )

    @property
    def busy(self) -> tuple[float, float, float]:
        return self.produce, self.transform, self.consume

    def add(self, stage: str, seconds: float) -> None:
        setattr(self, stage, getattr(self, stage) + seconds)


class StageStopped(Exception):
    """Another stage failed: this one ends quietly."""


class Inbox(Protocol):
    """What passes items between two stages: `put` an item, `get` (the next item, seconds waited)."""

    def put(self, item) -> None: ...

    def get(self) -> tuple[object, float]: ...


class Channel:
    """A bounded queue whose ends give up once the pipeline is stopped."""

    def __init__(self, stop: threading.Event):
        self.queue: queue.Queue = queue.Queue(DEPTH)
        self.stop = stop

    def put(self, item) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=POLL_S)
                return
            except queue.Full:
                pass
        raise StageStopped

    def get(self):
        """The next item, and the seconds spent waiting for it."""
        start = time.perf_counter()
        while not self.stop.is_set():
            try:
                return self.queue.get(timeout=POLL_S), time.perf_counter() - start
            except queue.Empty:
                pass
        raise StageStopped


def pipelined(
    produce: Iterable,
    transform: Callable[[Iterator], Iterator],
    consume: Callable[[object], None],
    inbox: Callable[[threading.Event], Inbox] | None = None,
    stop: threading.Event | None = None,
) -> StageTimes:
    """Items of `produce` (iterated in a thread of its own) through `transform` (in this thread: an
    iterator over them, in order) into `consume` (in a thread of its own). `inbox` makes the channel
    between the first two from the pipeline's stop event (the default: a bounded queue; live input
    has one that never makes decoding wait). `stop` is set when any stage fails or all end (the
    caller's, to tell `produce` too)."""
    stop = stop or threading.Event()
    inbox, outbox = (inbox or Channel)(stop), Channel(stop)
    times = StageTimes()
    failures: list[BaseException] = []

    def guarded(work):
        def run():
            try:
                work()
            except StageStopped:
                pass
            except BaseException as exc:  # the caller raises it
                failures.append(exc)
                stop.set()

        return run

    def producer():
        _pass_on(iter(produce), inbox, times, "produce")

    def consumer():
        while (item := outbox.get()[0]) is not END:
            start = time.perf_counter()
            consume(item)
            times.consume += time.perf_counter() - start
            times.items += 1

    def received() -> Iterator:
        while True:
            item, waited = inbox.get()
            times.transform -= waited
            if item is END:
                return
            yield item

    threads = [threading.Thread(target=guarded(work), name=work.__name__) for work in (producer, consumer)]
    start = time.perf_counter()
    try:
        with _signals_held():
            for thread in threads:
                thread.start()
        _pass_on(transform(received()), outbox, times, "transform")
        threads[1].join()  # the consumer has done its last item
    except StageStopped:
        pass
    finally:
        stop.set()  # the threads have ended, or end now
        with _signals_held():
            for thread in threads:
                if thread.is_alive():
                    thread.join()
    if failures:
        raise failures[0]
    times.wall = time.perf_counter() - start
    return times


@contextlib.contextmanager
def _signals_held():
    """Interrupting signals that come in the block are raised when it ends. Python runs signal
    handlers in the main thread only, so there the handlers are swapped for ones that take note
    (blocking the signals would not do: another thread receives them and the main thread still
    runs the handler)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = [getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)]
    before = {signum: signal.signal(signum, lambda signum, frame: caught.append(signum)) for signum in held}
    try:
        yield
    finally:
        for signum, handler in before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        for signum in caught:
            signal.raise_signal(signum)


def _pass_on(items: Iterator, channel: Inbox, times: StageTimes, stage: str) -> None:
    """Each item of `items`, then the end, into `channel`; the time `items` took to give them to `stage`."""
    while True:
        begun = time.perf_counter()
        item = next(items, END)
        times.add(stage, time.perf_counter() - begun)
        channel.put(item)
        if item is END:
            return
