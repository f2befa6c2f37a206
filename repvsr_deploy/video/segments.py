"""A video cut into segments that each begin at a keyframe: the units a chunked upscale runs, writes
and resumes.

The frames are indexed first: the timestamp each frame comes with, in display order, and which are
keyframes, where decoding may start. Where every video packet has a timestamp of its own, they say it
(nothing decoded); where some have none or share one (a broken file, a raw H.264 stream), the video is
decoded once, its pictures not converted, and the decoder says it. The times follow the one rule of
`timeline`, which the sequential upscale follows too, so both give every frame the same time. A
segment starts at a keyframe; its first `warmup` frames before that are run through the model only
to prime the recurrent state at the seam, and their output is dropped. Its frames are decoded from a
cut point at or before the first frame it reads, and every decoded frame is checked against the
index (its timestamp as it came, frame by frame): a file that decodes otherwise is refused, never
given other times or pictures than a sequential run gives it.
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
    0, as the sequential upscale takes it), how many are keyframes, and the cut points where a
    segment may start: the first frame, and keyframes whose timestamp is past every earlier
    frame's (a seek to it lands at or before it)."""

    stamps: list[int | None]
    times: list[FrameTime]
    keyframes: int
    cuts: list[int]
    time_base: Fraction

    def frame_time(self, index: int) -> FrameTime:
        return self.times[index]

    def seconds(self, index: int) -> Fraction:
        """When the frame starts, seconds on the output's time line."""
        return self.times[index].pts * self.time_base

    def __len__(self) -> int:
        return len(self.times)


def index_frames(clip: VideoFile, carried: list) -> FrameIndex:
    """The frames of `clip`'s video stream, timed by `timeline`'s rule: from its packets where each
    has a timestamp of its own, else decoded once. A file whose frames end short of what it declares
    (truncated, corrupt) is refused, as the sequential upscale refuses it."""
    stamps, keys = _from_packets(clip) or _decoded(clip)
    if not stamps:
        raise ReportedError(f"{clip.path}: its video stream has no frame that decodes")
    tb, origin = clip.time_base, clip.start_time(carried)
    timeline = list(timed(((None, None if t is None else t * tb) for t in stamps), tb, clip.rate))
    _, last_start, last_duration = timeline[-1]
    clip.check_ends(len(stamps), last_start + last_duration)
    times = [FrameTime.of(start, duration, origin, tb) for _, start, duration in timeline]
    return FrameIndex(stamps, times, sum(keys), _cut_points(stamps, keys), tb)


def _from_packets(clip: VideoFile) -> tuple[list, list[bool]] | None:
    """(timestamps, keyframe flags) of the video packets, in display order (by timestamp); None
    where one has no timestamp or shares it with another (the decoder must say where they show)."""
    av = import_av()
    keyed: list[tuple] = []
    try:
        with av.open(str(clip.path)) as container:
            for packet in container.demux(container.streams[clip.video.index]):
                if packet.size:  # not the demuxer's flush packet
                    keyed.append((packet.pts, bool(packet.is_keyframe)))
    except av.FFmpegError as exc:
        raise ReportedError(f"{clip.path}: cannot read its packets ({first_sentence(exc)})") from None
    stamps = [stamp for stamp, _ in keyed]
    if None in stamps or len(set(stamps)) < len(stamps):
        return None
    keyed.sort(key=lambda item: item[0])
    return [stamp for stamp, _ in keyed], [key for _, key in keyed]


def _decoded(clip: VideoFile) -> tuple[list, list[bool]]:
    """(timestamps, keyframe flags) of the frames as the decoder gives them (display order)."""
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
    return stamps, keys


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
    for key in index.cuts[1:]:
        if index.seconds(key) - index.seconds(starts[-1]) >= length:
            starts.append(key)
    ends = starts[1:] + [total]
    return [Segment(n, first, end, min(warmup, first)) for n, (first, end) in enumerate(zip(starts, ends))]


def segment_frames(clip: VideoFile, index: FrameIndex, segment: Segment) -> Iterator[np.ndarray]:
    """RGB frames of `segment`, its warm-up first, decoded from the cut point before them; every
    one checked to be the frame the index places there (its timestamp as it came)."""
    first = segment.first - segment.warmup
    cuts = [cut for cut in index.cuts if cut <= first]
    # where a seek lands past its target (MPEG-TS, some mp4), the cut point before, then the start
    for cut in dict.fromkeys((cuts[-1], cuts[-2] if len(cuts) > 1 else 0, 0)):
        frames = _frames_from(clip, index, cut)
        for position, frame in frames:
            if position is None:  # landed past the cut point: try an earlier one
                break
            if position >= first:
                yield clip.rgb(frame)
            if position + 1 == segment.end:
                frames.close()
                return
        else:
            break
    raise ReportedError(
        f"{clip.path}: frame {first} or one after it does not decode where its index places it "
        "(it cannot be cut at its keyframes); run it whole"
    )


def _frames_from(clip: VideoFile, index: FrameIndex, cut: int) -> Iterator[tuple[int | None, object]]:
    """(position, frame) of the frames from cut point `cut` on, each checked against the index; it
    stops at the first that differs, and gives (None, None) where decoding started past the cut."""
    av = import_av()
    with av.open(str(clip.path)) as container:
        stream = container.streams[clip.video.index]
        if cut:
            container.seek(index.stamps[cut], stream=stream, backward=True)
        position: int | None = None
        try:
            for frame in container.decode(stream):
                if position is None:
                    if cut and frame.pts is not None and frame.pts > index.stamps[cut]:
                        yield None, None
                        return
                    if cut and not (frame.key_frame and frame.pts == index.stamps[cut]):
                        continue  # decoding runs up to the cut point
                    position = cut
                if position == len(index) or frame.pts != index.stamps[position]:
                    return
                yield position, frame
                position += 1
        except av.FFmpegError as exc:
            raise ReportedError(f"{clip.path}: cannot decode frame {position or cut} ({first_sentence(exc)})") from None


def segment_paths(folder: Path, segments: list[Segment], suffix: str) -> list[Path]:
    """Where each segment's file goes, numbered in order."""
    return [folder / f"segment-{segment.number:05d}{suffix}" for segment in segments]
