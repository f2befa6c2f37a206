"""A video cut into segments that each begin at a keyframe: the units a chunked upscale runs, writes
and resumes.

The frames are indexed from the demuxer's packets (nothing decoded): their times in display order and
which are keyframes, where decoding may start. A segment starts at a keyframe; its first `warmup`
frames before that are run through the model only to prime the recurrent state at the seam, and
their output is dropped. Its frames are decoded from the keyframe at or before the first frame it
reads, and every decoded frame is checked against the index.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import ReportedError, first_sentence
from .source import FrameTime, VideoFile, import_av


@dataclass(frozen=True)
class FrameIndex:
    """A video stream's frames in display order: their pts (in `time_base`) and the keyframes'
    positions; `origin` (seconds) is the input's time 0, as the sequential upscale takes it."""

    pts: list[int]
    keyframes: list[int]
    time_base: Fraction
    origin: Fraction

    def frame_time(self, index: int) -> FrameTime:
        """The frame's time on the output's time line, lasting until the next frame starts (the
        last one as long as the one before it): what a sequential upscale gives it."""
        last = len(self.pts) - 1
        start = self.seconds(index)
        end = self.seconds(index + 1) if index < last else start + (start - self.seconds(index - 1) if index else 0)
        pts = round((start - self.origin) / self.time_base)
        return FrameTime(pts, max(1, round((end - self.origin) / self.time_base) - pts))

    def seconds(self, index: int) -> Fraction:
        return self.pts[index] * self.time_base


def index_frames(clip: VideoFile, carried: list) -> FrameIndex:
    """The frames of `clip`'s video stream, from its packets; refused where the packets cannot say
    where each frame is (no timestamps, two frames at one time)."""
    av = import_av()
    keyed: list[tuple[int, bool]] = []
    try:
        with av.open(str(clip.path)) as container:
            for packet in container.demux(container.streams[clip.video.index]):
                if packet.size == 0:
                    continue  # the demuxer's flush packet
                if packet.pts is None:
                    raise ReportedError(
                        f"{clip.path}: its video packets carry no timestamps: it cannot be cut; run it whole"
                    )
                keyed.append((packet.pts, bool(packet.is_keyframe)))
    except av.FFmpegError as exc:
        raise ReportedError(f"{clip.path}: cannot read its packets ({first_sentence(exc)})") from None
    keyed.sort()
    pts = [p for p, _ in keyed]
    if not pts or not keyed[0][1]:
        raise ReportedError(f"{clip.path}: its first frame is not a keyframe: it cannot be cut; run it whole")
    if len(set(pts)) != len(pts):
        raise ReportedError(f"{clip.path}: two of its frames have one timestamp: it cannot be cut; run it whole")
    return FrameIndex(pts, [i for i, (_, key) in enumerate(keyed) if key], clip.time_base, clip.start_time(carried))


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
    total = len(index.pts)
    length = min(Fraction(seconds), (index.seconds(total - 1) - index.seconds(0)) / streams)
    starts = [0]
    for key in index.keyframes[1:]:
        if index.seconds(key) - index.seconds(starts[-1]) >= length:
            starts.append(key)
    ends = starts[1:] + [total]
    return [Segment(n, first, end, min(warmup, first)) for n, (first, end) in enumerate(zip(starts, ends))]


def segment_frames(clip: VideoFile, index: FrameIndex, segment: Segment) -> Iterator[np.ndarray]:
    """RGB frames of `segment`, its warm-up first, decoded from the keyframe before them; every
    one checked to be the frame the index places there."""
    av = import_av()
    first = segment.first - segment.warmup
    wanted = index.pts[first : segment.end]
    key = max(k for k in index.keyframes if k <= first)
    with av.open(str(clip.path)) as container:
        stream = container.streams[clip.video.index]
        if key:
            container.seek(index.pts[key], stream=stream, backward=True)
        position = 0
        try:
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts < wanted[0]:
                    if frame.pts is None or position:
                        break
                    continue  # decoding runs up to the segment's first frame
                if frame.pts != wanted[position]:
                    break
                yield clip.rgb(frame)
                position += 1
                if position == len(wanted):
                    return
        except av.FFmpegError as exc:
            raise ReportedError(
                f"{clip.path}: cannot decode frame {first + position} ({first_sentence(exc)})"
            ) from None
    raise ReportedError(
        f"{clip.path}: frame {first + position} does not decode where its index places it "
        "(it cannot be cut at its keyframes); run it whole"
    )


def segment_paths(folder: Path, segments: list[Segment], suffix: str) -> list[Path]:
    """Where each segment's file goes, numbered in order."""
    return [folder / f"segment-{segment.number:05d}{suffix}" for segment in segments]
