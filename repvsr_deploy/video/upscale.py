"""A clip through a session, frame by frame: decode, upscale, encode (each in a thread of its own);
the state reset at scene cuts."""

from __future__ import annotations

import queue
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import groupby

import numpy as np

from ..runtime.frame_layout import chw
from .pipeline import StageTimes, pipelined
from .scenes import SceneCuts


def upscale_frames(
    session, frames: Iterable[np.ndarray], cuts: SceneCuts | None = None, dtype=np.uint8
) -> Iterator[np.ndarray]:
    """HR RGB frames (`dtype`: uint8 or uint16 levels) of RGB uint8 or uint16 frames [H, W, 3];
    with `cuts`, a fresh state at every scene."""
    for _, scene in groupby(_scene_numbers(frames, cuts), key=lambda item: item[0]):
        session.reset()
        yield from session.run_levels((chw(rgb) for _, rgb in scene), dtype)  # levels in: the session scales them


def _scene_numbers(frames: Iterable[np.ndarray], cuts: SceneCuts | None):
    scene = 0
    for rgb in frames:
        scene += bool(cuts and cuts.is_cut(rgb))
        yield scene, rgb


def run(source, sink, session, cuts: SceneCuts | None, tick: Callable[[], None], carried: list = ()) -> StageTimes:
    """Every selected frame of `source` upscaled into `sink` at the time it had, the `carried`
    streams copied: decoding, the model and encoding each in a thread of their own (`pipelined`).
    Only the encoding thread writes the sink: the carried packets decoding meets wait in a queue it
    empties before each frame (decoding never waits on the encoder), the rest once the stages end.
    Returns what each stage took (`items`: the frames written)."""
    times: deque = deque()  # of the frames in the session, oldest first (sessions keep the order)
    packets: queue.SimpleQueue = queue.SimpleQueue()  # of the carried streams, not yet in the sink

    def copy_waiting() -> None:
        while True:
            try:
                sink.copy(packets.get_nowait())
            except queue.Empty:
                return

    def model(decoded: Iterator) -> Iterator:
        def frames():
            for rgb, time in decoded:
                times.append(time)
                yield rgb

        for hr in upscale_frames(session, frames(), cuts, sink.dtype):
            yield hr, times.popleft()

    def write(timed_frame) -> None:
        copy_waiting()
        sink.write(*timed_frame)
        tick()

    stages = pipelined(source.frames(carried, packets.put), model, write)
    copy_waiting()  # what came after the last frame (the stages have ended: no other writer)
    return stages
