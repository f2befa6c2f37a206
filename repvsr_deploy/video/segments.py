"""A video cut into segments that each begin at a keyframe: the units a chunked upscale runs, writes
and resumes.

The frames are indexed once, decoded (not converted) in display order as the decoder gives them:
each one's timestamp as it came and whether it is a keyframe, where decoding may start. Their times
follow the one rule of `timeline`, which the sequential upscale follows too, so both give every frame
the same time, repeated, missing and out-of-order timestamps included. A segment starts at a
keyframe; its first `warmup` frames before that are run through the model only to prime the
recurrent state at the seam, and their output is dropped. Its frames are decoded from the keyframe at
or before the first frame it reads, and every decoded frame is checked against the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ReportedError, first_sentence
from .source import VideoFile, import_av
from .timeline import FrameTime, timed


@dataclass(frozen=True)
class FrameIndex:
    """A video stream's frames in display order: the timestamp each came with (ticks of
    `time_base`; None where it had none), its time on the output's time line (from the input's time
    0, as the sequential upscale takes it), and the keyframes where a segment may start: the first
    frame, and keyframes whose timestamp is past every earlier frame's (a seek to it lands at or
    before it)."""

    stamps: list[int | None]
    times: list[FrameTime]
    keyframes: list[int]
    time_base: Fraction

    def frame_time(self, index: int) -> FrameTime:
        return self.times[index]

    def seconds(self, index: int) -> Fraction:
        """When the frame starts, seconds on the output's time line."""
        return self.times[index].pts * self.time_base

    def __len__(self) -> int:
        return len(self.times)


def index_frames(clip: VideoFile, carried: list) -> FrameIndex:
    """The frames of `clip`'s video stream, decoded once (no conversion), timed by `timeline`'s rule."""
    av = import_av()
    stamps: list[int | None] = []
    keys: list[bool] = []
    try:
        with av.open(str(clip.path)) as container:
            stream = container.streams[clip.video.index]
            stream.thread_type = "AUTO"
            for frame in container.decode(stream):
                stamps.append(frame.pts)
                keys.append(bool(frame.key_frame))
    except av.FFmpegError as exc:
        raise ReportedError(f"{clip.path}: cannot decode frame {len(stamps)} ({first_sentence(exc)})") from None
    if not stamps:
        raise ReportedError(f"{clip.path}: its video stream has no frame that decodes")
    tb, origin = clip.time_base, clip.start_time(carried)
    seconds = ((None, None if stamp is None else stamp * tb) for stamp in stamps)
    times = [FrameTime.of(start, duration, origin, tb) for _, start, duration in timed(seconds, tb, clip.rate)]
    return FrameIndex(stamps, times, _cut_points(stamps, keys), tb)


def _cut_points(stamps: list[int | None], keys: list[bool]) -> list[int]:
    """Frame 0, and the keyframes whose timestamp is past every earlier frame's."""
    points, latest = [0], stamps[0]
    for index, (stamp, key) in enumerate(zip(stamps, keys)):
        if index and key and stamp is not None and (latest is None or stamp > latest):
            points.append(index)
        if stamp is not None and (latest is None or stamp > latest):
            latest = stamp
    return points


@dataclass(frozen=True)
class Segment:
    """Frames [first, end) of the video, written as one piece; `warmup` frames before `first` are
    run first to prime the state, their output dropped."""

    number: int
    first: int
    end: int
    warmup: int

    @property
    def frames(self) -> int:
        return self.end - self.first


def plan_segments(index: FrameIndex, streams: int, seconds: float, warmup: int) -> list[Segment]:
    """Segments starting at keyframes, each at least `seconds` long (or the video's length over
    `streams`, if shorter, so that every stream has work), the last one to the end."""
    total = len(index)
    length = min(Fraction(seconds), (index.seconds(total - 1) - index.seconds(0)) / streams)
    starts = [0]
    for key in index.keyframes[1:]:
        if index.seconds(key) - index.seconds(starts[-1]) >= length:
            starts.append(key)
    ends = starts[1:] + [total]
    return [Segment(n, first, end, min(warmup, first)) for n, (first, end) in enumerate(zip(starts, ends))]


def segment_frames(clip: VideoFile, index: FrameIndex, segment: Segment) -> Iterator[np.ndarray]:
    """RGB frames of `segment`, its warm-up first, decoded from the keyframe before them; every
    one checked to be the frame the index places there (its timestamp as it came)."""
    av = import_av()
    first = segment.first - segment.warmup
    key = max(k for k in index.keyframes if k <= first)
    position: int | None = None  # the index of the frame decoded; None before the keyframe
    with av.open(str(clip.path)) as container:
        stream = container.streams[clip.video.index]
        if key:
            container.seek(index.stamps[key], stream=stream, backward=True)
        try:
            for frame in container.decode(stream):
                if position is None:
                    if not key or (frame.key_frame and frame.pts == index.stamps[key]):
                        position = key
                    else:
                        continue  # decoding runs up to the keyframe
                if frame.pts != index.stamps[position]:
                    break
                if position >= first:
                    yield clip.rgb(frame)
                position += 1
                if position == segment.end:
                    return
        except av.FFmpegError as exc:
            raise ReportedError(f"{clip.path}: cannot decode frame {position or key} ({first_sentence(exc)})") from None
    raise ReportedError(
        f"{clip.path}: frame {position if position is not None else key} does not decode where its index "
        "places it (it cannot be cut at its keyframes); run it whole"
    )


def segment_paths(folder: Path, segments: list[Segment], suffix: str) -> list[Path]:
    """Where each segment's file goes, numbered in order."""
    return [folder / f"segment-{segment.number:05d}{suffix}" for segment in segments]
