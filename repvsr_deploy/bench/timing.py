"""Timing a session over a clip: warm-up frames, then the time from one HR frame to the next.

Without host I/O (the default) the clip is uploaded to the backend's device first and every HR
frame stays there: a frame's time is its compute, measured on the host clock after the device
finished it (so it includes the launch overhead a real stream pays, not the copies). With host I/O,
frames go in and come out as host arrays, as an application sees them.
"""

import time
from dataclasses import dataclass

import numpy as np

from ..runtime.session import ClipSession


@dataclass(frozen=True)
class Timing:
    latencies_s: np.ndarray

    @property
    def fps(self) -> float:
        return len(self.latencies_s) / float(self.latencies_s.sum())

    @property
    def median_ms(self) -> float:
        return float(np.median(self.latencies_s)) * 1e3

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.latencies_s, 90)) * 1e3


def time_session(session, clip: np.ndarray, frames: int, warmup: int, *, include_io: bool, progress=None) -> Timing:
    """`warmup` untimed frames, then `frames` timed ones from a fresh state, `clip` cycled. A frame's
    latency is the time since the previous HR frame; for a bidirectional session the first frame
    of each window carries the window's backward sweep, and both counts are at least 2 (a clip
    needs two frames). `progress(n, warmup)` is called per frame."""
    if isinstance(session, ClipSession):
        warmup, frames = (max(warmup, 2) if warmup else 0), max(frames, 2)

    def cycle(n: int):
        source = clip if include_io else [session.upload(frame) for frame in clip]
        return (source[i % len(source)] for i in range(n))

    tick = progress or (lambda n, warmup: None)
    if warmup:
        for _ in session.run(cycle(warmup), download=include_io):
            tick(1, True)
        session.reset()
    latencies = []
    frames_in = cycle(frames)
    last = time.perf_counter()
    for _ in session.run(frames_in, download=include_io):
        now = time.perf_counter()
        latencies.append(now - last)
        last = now
        tick(1, False)
    return Timing(np.array(latencies))


def time_streams(batch, clip: np.ndarray, frames: int, warmup: int, streams: int, progress=None) -> Timing:
    """`streams` streams joined to `batch` (a StreamBatch), each from its own frame of `clip` on, all
    stepped together: `warmup` untimed steps, then `frames` timed ones. A latency is one batch step
    (each stream's time from one HR frame to the next); frames go in and out as host arrays. Timing's
    fps counts one frame per step: multiply by `streams` for all streams' frames."""
    ids = [batch.join() for _ in range(streams)]
    tick = progress or (lambda n, warmup: None)
    latencies = []
    for step in range(warmup + frames):
        start = time.perf_counter()
        batch.step({stream: clip[(step + k) % len(clip)] for k, stream in enumerate(ids)})
        if step >= warmup:
            latencies.append(time.perf_counter() - start)
        tick(1, step < warmup)
    return Timing(np.array(latencies))
