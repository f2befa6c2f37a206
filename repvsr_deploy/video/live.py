"""Live input: frames that arrive in real time (a network stream, a capture piped in), upscaled with
bounded latency, and a stream that stalls or drops reconnected.

Decoding never waits for the model. At most LIVE_DEPTH frames wait for it; when another arrives, the
oldest waiting one is taken off the model by the fallback rule: passed through (bicubic x4, in its
place in the output) or dropped. So a frame leaves the model stage at most (LIVE_DEPTH + 1) model
steps and the passes waiting before it (LIVE_LIMIT - LIVE_DEPTH at most) after it arrived
(`LiveCounts.bound`), then waits for the encoder (which live outputs tune to emit each frame as it
comes). Whatever waits beyond LIVE_LIMIT items (an output
that cannot keep up) is dropped. Every frame is counted: upscaled, passed through or dropped.

A frame passed through is Pillow's bicubic x4 (7 ms at 720p here, against 25-30 for the demo model
on 2 cores: a fallback that cost as much as the model would keep the model from ever catching up).

A URL input that ends, stalls (no data within the timeout) or fails is opened again, up to
`reconnect` times in a run, each time trying for as long as the timeout; the recurrent state starts
afresh with the new connection, its frames go on the output's time line after the gap (as long as
it lasted), and the gap is said as it happens.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ReportedError
from ..runtime.frame_layout import chw
from .pipeline import END, POLL_S, StageStopped, StageTimes, pipelined
from .timeline import FrameTime

LIVE_DEPTH = 2  # frames that may wait for the model
LIVE_LIMIT = 16  # items of any kind that may wait; beyond, the oldest is dropped
FALLBACKS = ("bicubic", "drop")
RETRY_S = 0.5  # between tries to open a lost stream again


@dataclass
class LiveCounts:
    """What became of a live input's frames (and how many a constant-rate output repeated to hold
    through the gaps), its reconnections (`events`: each loss and what followed, as said when it
    happened), and the longest time a frame took from arriving (decoded) to being written, against
    the bound the model stage allowed."""

    arrived: int = 0
    upscaled: int = 0
    passed: int = 0
    dropped: int = 0
    reconnections: int = 0
    latency: float = 0.0  # seconds, the longest from a frame's arrival to its being written
    longest_step: float = 0.0  # seconds, the model's longest step
    longest_pass: float = 0.0  # seconds, the longest a frame passed through took
    held: int = 0  # frames a constant-rate output (y4m) repeated through gaps
    events: list[str] = field(default_factory=list)  # each loss of the input and what followed, as said

    @property
    def bound(self) -> float:
        """The most the model stage can hold a frame: the step under way, the one model frame and
        the passes (LIVE_LIMIT - LIVE_DEPTH at most) waiting before it, then its own step."""
        return (LIVE_DEPTH + 1) * self.longest_step + (LIVE_LIMIT - LIVE_DEPTH) * self.longest_pass

    def describe(self) -> str:
        allowed = f"{LIVE_DEPTH + 1} steps of at most {self.longest_step * 1e3:.0f} ms"
        if self.passed:
            allowed += f" and {LIVE_LIMIT - LIVE_DEPTH} passes of at most {self.longest_pass * 1e3:.1f}"
        held = f", {self.held} held (the last frame repeated through gaps)" if self.held else ""
        return (
            f"live: {self.arrived} frames arrived, {self.upscaled} upscaled, {self.passed} passed through "
            f"(bicubic), {self.dropped} dropped{held}, {self.reconnections} reconnection(s); latency at most "
            f"{self.latency * 1e3:.0f} ms (the model stage allows {self.bound * 1e3:.0f}: {allowed}; plus encoding)"
        )


@dataclass
class _Waiting:
    """A frame waiting for the model stage: to be upscaled, or (taken off the model) passed through."""

    rgb: np.ndarray
    time: FrameTime
    connection: int
    arrival: float
    upscale: bool = True


class LiveChannel:
    """The model stage's inbox: `put` never waits; `get` as the pipeline's `Channel`."""

    def __init__(self, stop: threading.Event, fallback: str, counts: LiveCounts):
        self.stop, self.fallback, self.counts = stop, fallback, counts
        self.items: deque = deque()
        self.ready = threading.Condition()

    def put(self, item) -> None:
        if self.stop.is_set():
            raise StageStopped
        with self.ready:
            if item is END:
                self.items.append(END)
            else:
                self._arrive(_Waiting(*item, arrival=time.perf_counter()))
            self.ready.notify()

    def _arrive(self, frame: _Waiting) -> None:
        self.counts.arrived += 1
        self.items.append(frame)
        waiting = [item for item in self.items if item.upscale]
        if len(waiting) > LIVE_DEPTH:
            oldest = waiting[0]
            if self.fallback == "drop":
                self.items.remove(oldest)
                self.counts.dropped += 1
            else:
                oldest.upscale = False
        while len(self.items) > LIVE_LIMIT:
            self.items.popleft()
            self.counts.dropped += 1

    def get(self):
        """The next item, and the seconds spent waiting for it."""
        start = time.perf_counter()
        with self.ready:
            while not self.items:
                if self.stop.is_set():
                    raise StageStopped
                self.ready.wait(POLL_S)
            return self.items.popleft(), time.perf_counter() - start


def run_live(
    source,
    reopen: Callable[[], object],
    reconnect: int,
    timeout: float,
    sink,
    session,
    fallback: str,
    tick: Callable[[], None],
    counts: LiveCounts,
    on_event: Callable[[str], None],
) -> StageTimes:
    """`source`'s frames as they arrive (and with `reconnect`, those of `reopen()`'s sources after
    it is lost: `reconnecting`) upscaled into `sink` by `session` (a streaming one) by the rules
    above; the state reset where the connection changes. Every source is closed when it ends."""
    import PIL.Image  # noqa: F401  # now, not in the first pass's time

    scale = session.info.scale
    stop = threading.Event()

    def model(waiting: Iterator[_Waiting]) -> Iterator:
        connection = None
        for frame in waiting:
            if frame.connection != connection:
                session.reset()
                connection = frame.connection
            begun = time.perf_counter()
            if frame.upscale:
                hr = next(session.run_levels([chw(frame.rgb)], sink.dtype))
                counts.longest_step = max(counts.longest_step, time.perf_counter() - begun)
                counts.upscaled += 1
            else:
                hr = bicubic_levels(frame.rgb, scale, sink.dtype)
                counts.longest_pass = max(counts.longest_pass, time.perf_counter() - begun)
                counts.passed += 1
            yield hr, frame.time, frame.arrival

    def write(item) -> None:
        hr, frame_time, arrival = item
        sink.write(hr, frame_time)
        counts.latency = max(counts.latency, time.perf_counter() - arrival)
        tick()

    frames = reconnecting(source, reopen, reconnect, timeout, counts, on_event, stop)
    try:
        with contextlib.closing(frames):  # the connection in use, closed however the run ends
            return pipelined(frames, model, write, inbox=lambda stop: LiveChannel(stop, fallback, counts), stop=stop)
    finally:
        counts.held = sink.held


def bicubic_levels(rgb: np.ndarray, scale: int, dtype) -> np.ndarray:
    """RGB levels [H, W, 3] bicubic x`scale` as `dtype` levels: Pillow's resampling (its cubic, a =
    -0.5), 7 ms for 720p here against 47 for the numpy bicubic `repvsr-eval` scores with: a frame
    passed through must cost far less than the model step it stands in for."""
    from PIL import Image

    size = (rgb.shape[1] * scale, rgb.shape[0] * scale)
    if rgb.dtype == np.uint8 and np.dtype(dtype) == np.uint8:
        return np.asarray(Image.fromarray(rgb).resize(size, Image.BICUBIC))
    top_in, top_out = np.iinfo(rgb.dtype).max, np.iinfo(dtype).max
    planes = [
        np.asarray(Image.fromarray(plane.astype(np.float32), "F").resize(size, Image.BICUBIC))
        for plane in rgb.transpose(2, 0, 1)
    ]
    levels = np.stack(planes, -1) * (top_out / top_in)
    return np.clip(np.rint(levels), 0, top_out).astype(dtype)


def reconnecting(
    source,
    reopen: Callable[[], object],
    reconnect: int,
    timeout: float,
    counts: LiveCounts,
    on_event: Callable[[str], None],
    stop: threading.Event,
) -> Iterator[tuple[np.ndarray, FrameTime, int]]:
    """The frames of `source`, then, where it ends, stalls or fails, of `reopen()` (a new source
    for the same URL) up to `reconnect` times, each tried for `timeout` seconds or until `stop`:
    (rgb, time on the first connection's time line, connection number). A gap goes on the time
    line as long as it lasted, from the last frame's arrival to the reconnection. Where no new
    connection comes, the frames end: after an error, with it."""
    first, time_base = source, source.time_base
    offset, connection = 0, 0
    last = FrameTime(-1, 1)  # on the output's time line
    last_seen = time.perf_counter()
    try:
        while True:
            try:
                for rgb, frame_time in source.frames():
                    last, last_seen = frame_time.rebased(source.time_base, time_base, offset), time.perf_counter()
                    yield rgb, last, connection
                error = None
            except ReportedError as exc:
                error = exc
            why = str(error) if error else source.shortfall or f"{source.path}: ended"
            if connection == reconnect:
                if error is not None:
                    raise error
                if source.shortfall:  # went quiet: said (a stream that closed has simply ended)
                    on_event(why)
                return
            on_event(f"{why}; opening it again (for {timeout:g} s at most)")
            fresh, refused = _reopened(reopen, timeout, stop)
            if fresh is None:
                if stop.is_set():
                    return
                tried = f"not there again within {timeout:g} s" + (f" ({refused})" if refused else "")
                if error is not None:
                    raise ReportedError(f"{why}; {tried}") from None
                on_event(f"{source.path}: {tried}: the run ends")
                return
            source = fresh
            _check_same(first, source)
            gap = time.perf_counter() - last_seen
            connection += 1
            counts.reconnections += 1
            offset = last.pts + max(last.duration, round(gap / time_base))
            on_event(
                f"{source.path}: reconnected after {gap:.1f} s, the state reset (reconnection {connection} of {reconnect})"
            )
    finally:
        source.close()


def _reopened(reopen: Callable[[], object], timeout: float, stop: threading.Event):
    """(a new source from `reopen()`, None) tried every RETRY_S for `timeout` seconds; (None, why
    the last try failed) if none came, or the pipeline stopped."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            return reopen(), None
        except ReportedError as exc:
            if time.perf_counter() + RETRY_S > deadline or stop.wait(RETRY_S):
                return None, str(exc)


def _check_same(first, source) -> None:
    """A new connection's frames must be what the output is encoding."""
    if (source.width, source.height, source.picture.bit_depth) != (first.width, first.height, first.picture.bit_depth):
        source.close()
        raise ReportedError(
            f"{source.path}: reconnected to {source.width}x{source.height} {source.picture.bit_depth}-bit frames; "
            f"the output holds {first.width}x{first.height} {first.picture.bit_depth}-bit"
        )
