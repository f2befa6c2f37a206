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

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..errors import ReportedError
from ..runtime.frame_layout import chw
from .pipeline import END, POLL_S, StageTimes, Stopped, pipelined
from .timeline import FrameTime

LIVE_DEPTH = 2  # frames that may wait for the model
LIVE_LIMIT = 16  # items of any kind that may wait; beyond, the oldest is dropped
FALLBACKS = ("bicubic", "drop")
RETRY_S = 0.5  # between tries to open a lost stream again


@dataclass
class LiveCounts:
    """What became of a live input's frames, its reconnections, and the longest time a frame took
    from arriving (decoded) to being written."""

    arrived: int = 0
    upscaled: int = 0
    passed: int = 0
    dropped: int = 0
    reconnections: int = 0
    latency: float = 0.0  # seconds, the longest from a frame's arrival to its being written
    longest_step: float = 0.0  # seconds, the model's longest step
    longest_pass: float = 0.0  # seconds, the longest a frame passed through took
    gaps: list[str] = field(default_factory=list)  # each loss of the input, and what followed

    @property
    def bound(self) -> float:
        """The most the model stage can hold a frame: the step under way, the one model frame and
        the passes (LIVE_LIMIT - LIVE_DEPTH at most) waiting before it, then its own step."""
        return (LIVE_DEPTH + 1) * self.longest_step + (LIVE_LIMIT - LIVE_DEPTH) * self.longest_pass

    def describe(self) -> str:
        return (
            f"live: {self.arrived} frames arrived, {self.upscaled} upscaled, {self.passed} passed through "
            f"(bicubic), {self.dropped} dropped, {self.reconnections} reconnection(s); latency at most "
            f"{self.latency * 1e3:.0f} ms (the model stage allows {self.bound * 1e3:.0f}: {LIVE_DEPTH + 1} steps of "
            f"at most {self.longest_step * 1e3:.0f} ms and {LIVE_LIMIT - LIVE_DEPTH} passes of at most "
            f"{self.longest_pass * 1e3:.1f}; plus encoding)"
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
                    raise Stopped
                self.ready.wait(POLL_S)
            return self.items.popleft(), time.perf_counter() - start


def run_live(
    frames: Iterator,
    sink,
    session,
    fallback: str,
    tick: Callable[[], None],
    counts: LiveCounts,
) -> StageTimes:
    """`frames` ((rgb, FrameTime, connection) as they arrive) upscaled into `sink` by `session`
    (a streaming one), by the rules above; the state reset where the connection changes."""
    import PIL.Image  # noqa: F401  # now, not in the first pass's time

    scale = session.info.scale

    def model(waiting: Iterator[_Waiting]) -> Iterator:
        connection = None
        for frame in waiting:
            if frame.connection != connection:
                session.reset()
                connection = frame.connection
            if frame.upscale:
                begun = time.perf_counter()
                hr = next(session.run_levels([chw(frame.rgb)], sink.dtype))
                counts.longest_step = max(counts.longest_step, time.perf_counter() - begun)
                counts.upscaled += 1
            else:
                begun = time.perf_counter()
                hr = bicubic_levels(frame.rgb, scale, sink.dtype)
                counts.longest_pass = max(counts.longest_pass, time.perf_counter() - begun)
                counts.passed += 1
            yield hr, frame.time, frame.arrival

    def write(item) -> None:
        hr, frame_time, arrival = item
        sink.write(hr, frame_time)
        counts.latency = max(counts.latency, time.perf_counter() - arrival)
        tick()

    return pipelined(frames, model, write, inbox=lambda stop: LiveChannel(stop, fallback, counts))


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
    on_gap: Callable[[str], None],
) -> Iterator[tuple[np.ndarray, FrameTime, int]]:
    """The frames of `source`, then, where it ends, stalls or fails, of `reopen()` (a new source
    for the same URL) up to `reconnect` times, each tried for `timeout` seconds: (rgb, time on the
    first connection's time line, connection number). A gap goes on the time line as long as it
    lasted. Where no new connection comes, the frames end: after an error, with it."""
    first, time_base = source, source.time_base
    offset, end, connection = 0, 0, 0
    while True:
        try:
            for rgb, frame_time in source.frames():
                start = offset + round(frame_time.pts * source.time_base / time_base)
                duration = max(1, round(frame_time.duration * source.time_base / time_base))
                end = start + duration
                yield rgb, FrameTime(start, duration), connection
            error = None
        except ReportedError as exc:
            error = exc
        lost = time.perf_counter()
        why = str(error) if error else source.shortfall or f"{source.path}: ended"
        if connection == reconnect:
            if error is not None:
                raise error
            if source.shortfall:  # went quiet: said (a stream that closed has simply ended)
                on_gap(why)
            return
        source = _reopened(reopen, timeout)
        if source is None:
            if error is not None:
                raise ReportedError(f"{why}; not there again within {timeout:g} s") from None
            on_gap(f"{why}; not there again within {timeout:g} s: the run ends")
            return
        _check_same(first, source)
        gap = time.perf_counter() - lost
        connection += 1
        counts.reconnections += 1
        offset = end + round(gap / time_base)
        on_gap(f"{why}; reconnected after {gap:.1f} s, the state reset (reconnection {connection} of {reconnect})")


def _reopened(reopen: Callable[[], object], timeout: float):
    """A new source from `reopen()`, tried every RETRY_S for `timeout` seconds; None if none came."""
    deadline = time.perf_counter() + timeout
    while True:
        try:
            return reopen()
        except ReportedError:
            if time.perf_counter() + RETRY_S > deadline:
                return None
            time.sleep(RETRY_S)


def _check_same(first, source) -> None:
    """A new connection's frames must be what the output is encoding."""
    if (source.width, source.height, source.picture.bit_depth) != (first.width, first.height, first.picture.bit_depth):
        source.close()
        raise ReportedError(
            f"{source.path}: reconnected to {source.width}x{source.height} {source.picture.bit_depth}-bit frames; "
            f"the output holds {first.width}x{first.height} {first.picture.bit_depth}-bit"
        )
