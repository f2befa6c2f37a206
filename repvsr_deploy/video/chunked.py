"""A long video upscaled in segments that run as the streams of one batch, and resumed after a kill.

The video is cut at keyframes into segments (`segments`); K of them run at a time as K streams of
one `StreamBatch`, each primed by its warm-up frames. Each segment is encoded into a file of its own
in the output's staging folder, `.OUT.segments/`, written whole or not at all. When every segment
is there, they are joined by stream copy into OUT with the input's other streams copied once from
the input, every frame at the time it had; then the staging folder goes.

The staging folder records its job: the input (path, size, modification time), the model file's
digest and every option that changes a segment. A run of the same job takes the segments an earlier,
interrupted run finished and upscales only the others; a run of another job starts over.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import math
import shutil
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path

from .. import __version__
from ..atomic import atomic_path
from ..runtime.frame_layout import chw, hwc_levels
from .encoders import CONTAINERS, Encoding
from .pipeline import StageTimes, pipelined
from .segments import FrameIndex, Segment, segment_frames, segment_paths
from .sink import carried_writer, open_sink
from .source import VideoFile, import_av
from .streams import StreamCut, TimeRange, carry_tags

JOB_FILE = "job.json"


def describe_job(clip: VideoFile, model_digest: str, encoding: Encoding, chunks, segments: list[Segment]):
    """What makes the segments what they are (`chunks`: the `upscaling.Chunks` asked for, and the
    segments they cut, frame by frame): equal jobs give equal segments."""
    stat = clip.path.stat()
    return {
        "input": [str(clip.path.resolve()), stat.st_size, stat.st_mtime_ns],
        "model": model_digest,
        "encoding": asdict(encoding),
        "streams": chunks.streams,
        "segment_seconds": chunks.segment,
        "warmup": chunks.warmup,
        "segments": [[segment.first, segment.end] for segment in segments],
        "version": __version__,
    }


class Staging:
    """The finished segments of one job, in `.OUT.segments/` beside the output; what another job
    left there is removed."""

    def __init__(self, target: Path, job: dict, segments: list[Segment]):
        self.folder = target.parent / f".{target.name}.segments"
        self.paths = segment_paths(self.folder, segments, target.suffix.lower())
        if self.folder.is_dir() and self._recorded_job() != job:
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if self._recorded_job() is None:
            with atomic_path(self.folder / JOB_FILE) as tmp:
                tmp.write_text(json.dumps(job))

    def _recorded_job(self) -> dict | None:
        try:
            return json.loads((self.folder / JOB_FILE).read_text())
        except (OSError, ValueError):
            return None

    def path(self, segment: Segment) -> Path:
        return self.paths[segment.number]

    def done(self, segment: Segment) -> bool:
        return self.path(segment).is_file()

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def upscale_segments(
    clip: VideoFile,
    index: FrameIndex,
    segments: list[Segment],
    batch,
    streams: int,
    staging: Staging,
    encoding: Encoding,
    tick: Callable[[], None],
) -> StageTimes:
    """Every segment through `batch`, `streams` of them at a time, each into its staging file:
    decoding, the model and encoding each in a thread of their own (`pipelined`)."""
    writers: dict[Segment, tuple[contextlib.ExitStack, object]] = {}

    def model(steps: Iterator[list]) -> Iterator[tuple]:
        ids: dict[Segment, int] = {}
        for step in steps:
            for segment, position, _ in step:
                if position == 0:
                    ids[segment] = batch.join()
            hr = batch.step({ids[segment]: chw(rgb) for segment, _, rgb in step})
            for segment, position, _ in step:
                yield segment, position, hr[ids[segment]]
                if position == segment.warmup + segment.frames - 1:
                    batch.leave(ids.pop(segment))

    def write(item) -> None:
        segment, position, hr = item
        if position < segment.warmup:  # a frame that primed the state
            return
        if segment not in writers:
            stack = contextlib.ExitStack()
            writers[segment] = (
                stack,
                stack.enter_context(open_sink(staging.path(segment), clip, batch.info.scale, encoding)),
            )
        stack, sink = writers[segment]
        frame = segment.first + position - segment.warmup
        sink.write(hwc_levels(hr, sink.dtype), index.frame_time(frame))
        tick()
        if frame == segment.end - 1:
            del writers[segment]
            stack.close()  # the segment's file is whole: it takes its name

    try:
        return pipelined(_steps(clip, index, segments, streams), model, write)
    finally:
        for stack, _ in writers.values():  # unfinished: their files are not written
            stack.__exit__(RuntimeError, RuntimeError("the run stopped"), None)


def _steps(clip: VideoFile, index: FrameIndex, segments: list[Segment], width: int) -> Iterator[list]:
    """For each batch step, (segment, position, RGB frame) of every running segment: `width` of
    them run at a time, the next one taking the place of one that ends."""
    pending = iter(segments)
    running: dict[Segment, list] = {}

    def fill() -> None:
        while len(running) < width and (segment := next(pending, None)) is not None:
            running[segment] = [segment_frames(clip, index, segment), 0]

    fill()
    while running:
        step = []
        for segment, slot in list(running.items()):
            step.append((segment, slot[1], next(slot[0])))
            slot[1] += 1
            if slot[1] == segment.warmup + segment.frames:
                del running[segment]
        fill()
        yield step


def join_segments(
    clip: VideoFile,
    index: FrameIndex,
    segments: list[Segment],
    paths: list[Path],
    target: Path,
    encoding: Encoding,
    carried: list,
) -> None:
    """The segments' video packets in order and the carried streams copied from the input (cut
    to its whole time range), interleaved by time, into `target`, written whole or not at all."""
    av = import_av()
    suffix = target.suffix.lower()
    with atomic_path(target) as tmp, av.open(str(tmp), "w", format=CONTAINERS[suffix]) as output:
        with av.open(str(paths[0])) as first:
            template = first.streams.video[0]
            video = output.add_stream_from_template(template)
            video.time_base = template.time_base
        carry_tags(clip.video, video)
        writers = {s: carried_writer(output, s, encoding.audio_codec, suffix) for s in carried}
        starts = [index.frame_time(segment.first).pts * index.time_base for segment in segments]
        video_packets = _video_packets(paths, starts)
        for packet in heapq.merge(video_packets, _carried_packets(clip, carried), key=_decoding_time):
            if packet.stream in writers:
                writers[packet.stream].push(packet)
            else:
                packet.stream = video
                output.mux(packet)
        for writer in writers.values():
            writer.finish(None)


def _video_packets(paths: list[Path], starts: list[Fraction]) -> Iterator:
    """The segments' video packets in decoding order, each segment starting at its first frame's
    time (`starts`, seconds), with decoding times for the whole video.

    An mp4 or mov segment keeps where it starts in an edit list counted in whole milliseconds (the
    movie's time scale), so its frames read back up to half a millisecond early or late: each
    segment is moved back to its start. Each segment's encoder gave its packets decoding times that
    run `delay` frames behind their presentation times; where the frame rate falls at a seam, the
    next segment's first ones fall before the last of the segment before (a muxer refuses that). So
    every packet gets the presentation time of the frame `delay` places earlier in display order, as
    an encoder of the whole video would give it; the first `delay` packets keep theirs (held below
    the first frame's)."""
    av = import_av()
    shown = [_presentation_times(path) for path in paths]
    delay = max(_reorder_delay(times) for times in shown)
    waiting: list[int] = []  # presentation times read that are no packet's decoding time yet
    first = None
    index = 0
    for path, start, times in zip(paths, starts, shown):
        with av.open(str(path)) as segment:
            stream = segment.streams.video[0]
            shift = _nearest(start / stream.time_base) - min(times)
            for packet in segment.demux(stream):
                if not packet.size:
                    continue
                packet.pts += shift
                heapq.heappush(waiting, packet.pts)
                if index < delay:
                    first = packet.pts if first is None else first
                    held = first - (delay - index)
                    packet.dts = held if packet.dts is None else min(packet.dts + shift, held)
                else:
                    packet.dts = heapq.heappop(waiting)
                index += 1
                yield packet


def _presentation_times(path: Path) -> list[int]:
    """The segment's video packets' presentation times, in decoding order."""
    av = import_av()
    with av.open(str(path)) as segment:
        return [p.pts for p in segment.demux(segment.streams.video[0]) if p.size]


def _reorder_delay(times: list[int]) -> int:
    """How many frames a decoder must hold before it shows one, for packets of these presentation
    times in decoding order: the most that any packet is decoded after frames shown after it."""
    shown_at = {pts: position for position, pts in enumerate(sorted(times))}
    return max((decoded - shown_at[pts] for decoded, pts in enumerate(times)), default=0)


def _nearest(ticks: Fraction) -> int:
    """`ticks` rounded as FFmpeg rescales a time (halves away from zero; times here are not negative)."""
    return math.floor(ticks + Fraction(1, 2))


def _carried_packets(clip: VideoFile, carried: list) -> Iterator:
    """The carried streams' packets of the whole input, moved onto the output's time line."""
    if not carried:
        return
    ready: deque = deque()
    cut = StreamCut(carried, ready.append, TimeRange(clip.start_time(carried)))
    for packet in clip.container.demux(*carried):
        cut.offer(packet)
        while ready:
            yield ready.popleft()


def _decoding_time(packet):
    time = packet.dts if packet.dts is not None else packet.pts
    return (time or 0) * packet.time_base
