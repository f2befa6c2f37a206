"""Frames from a video file (decoded as they are needed, never all at once) or a folder of images.

Frames come out as RGB [H, W, 3] with the time they show (`FrameTime`): uint8, or uint16 where the
video's samples have more than 8 bits (10-bit HDR) or an image is 16-bit grayscale, converted with
the stream's own matrix and range only (`picture`). Timestamps are the input's (variable frame rates
and a late start kept), moved so that the selection's origin is 0. Packets of the carried streams
(audio, subtitles) of the selected time range go to a callback as the demuxer meets them
(`streams`). A video that holds fewer frames than it declares (truncated or corrupt) is refused
unless partial input is allowed; interlaced video is refused unless it is deinterlaced.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from fractions import Fraction
from itertools import chain
from pathlib import Path
from typing import BinaryIO

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence, parameter
from ..resolutions import MAX_LR_SIDE
from .endpoints import DEFAULT_TIMEOUT, PIPE, CountingReader, Location, is_stream, location, open_input
from .picture import Colour, Picture, read_side_data, sample_bits
from .streams import CARRIED_TYPES, StreamCut, TimeRange, packet_span
from .timeline import FrameTime, timed

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
IMAGE_RATE = Fraction(25)  # a folder of images plays at this rate
PARTIAL_HINT = f"{parameter('allow_partial')} upscales the frames that decode"
DEINTERLACE_HINT = f"give {parameter('deinterlace')} to make it progressive first (FFmpeg's bwdif)"


def import_av():
    try:
        import av
    except ImportError:
        raise MissingDependency("PyAV", "video", "reading and writing videos") from None
    return av


class FrameSource:
    """What an input gives: its size, time base and average rate, what its pictures carry, the
    streams it could carry along, and its frames from `start`, `count` of them."""

    width: int
    height: int
    rate: Fraction  # average frames per second (the encoder's nominal rate)
    time_base: Fraction  # of `FrameTime`
    picture: Picture
    other_streams: list  # PyAV streams that may be carried (audio, subtitles)
    video = None  # the PyAV stream the frames come from, where there is one
    count: int | None  # frames asked for; None: to the input's end
    frame_count: int | None  # of the selected range, where known
    shortfall: str | None = None  # after `frames`: what was missing, where partial input was allowed

    def frames(self, carried: list = (), on_packet: Callable | None = None) -> Iterator[tuple[np.ndarray, FrameTime]]:
        """(RGB frame, time) of each selected frame; packets of the `carried` streams in the selected
        time range, moved onto the output's time line, to `on_packet`. Once: a source reads its input
        once, and is closed when its frames end."""
        raise NotImplementedError

    def close(self) -> None:
        """Release the input (where `frames` was not read to its end)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_source(
    path: Location,
    start: int = 0,
    count: int | None = None,
    deinterlace: bool = False,
    allow_partial: bool = False,
    input_format: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> FrameSource:
    """The frames of a file, a folder of images, standard input (`-`) or a URL (`endpoints`);
    `input_format` names the FFmpeg demuxer of a pipe or URL (else y4m on a pipe, the URL's own)."""
    source: FrameSource
    path = location(path)
    if is_stream(path):
        source = StreamedVideo(path, start, count, deinterlace, allow_partial, input_format, timeout)
    elif path.is_dir():
        source = ImageFolder(path, start, count)
    elif path.is_file():
        source = VideoFile(path, start, count, deinterlace, allow_partial)
    else:
        raise ReportedError(f"{path}: no such video file or image folder")
    if max(source.width, source.height) > MAX_LR_SIDE:
        raise ReportedError(
            f"{path}: frames of {source.width}x{source.height}; at most {MAX_LR_SIDE} pixels a side are upscaled"
        )
    return source


class ImageFolder(FrameSource):
    """The images of a folder in name order, as a clip at IMAGE_RATE; hidden files left out."""

    def __init__(self, path: Path, start: int, count: int | None):
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise ReportedError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        self.count = count
        self.files = files[start : None if count is None else start + count]
        if not self.files:
            raise ReportedError(f"{path}: {parameter('start')} {start} is past its {len(files)} images")
        first = read_image(self.files[0])
        self.width, self.height = first.shape[1::-1]
        self.rate, self.time_base = IMAGE_RATE, 1 / IMAGE_RATE
        self.picture = Picture(None, 16 if first.dtype == np.uint16 else 8)
        self.other_streams = []
        self.frame_count = len(self.files)

    def frames(self, carried=(), on_packet=None):
        for index, file in enumerate(self.files):
            frame = read_image(file)
            if frame.shape[1::-1] != (self.width, self.height):
                raise ReportedError(
                    f"{file}: {frame.shape[1]}x{frame.shape[0]}, the folder's first image is {self.width}x{self.height}"
                )
            yield frame, FrameTime(index, 1)


# Pillow's modes of one 16-bit channel (PNG, TIFF grayscale)
GRAY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def read_image(file: Path | BinaryIO, name: str | None = None) -> np.ndarray:
    """An image (a file, or its bytes as a file object `name`d in messages) as RGB [H, W, 3] at its
    bit depth: uint16 for 16-bit grayscale (replicated to three channels), uint8 otherwise (Pillow
    reads 16-bit colour at 8 bits). An alpha channel that is opaque everywhere is dropped; a
    transparent one is refused: the models have no alpha to upscale."""
    from PIL import Image

    file_name = name or file
    try:
        with Image.open(file) as image:
            image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ReportedError(f"{file_name}: not a readable image ({first_sentence(exc)})") from None
    if image.mode in GRAY16_MODES or image.mode == "I":
        levels = np.asarray(image)
        if image.mode == "I" and (levels.min() < 0 or levels.max() > 65535):
            raise ReportedError(f"{file_name}: a 32-bit integer image; give 8- or 16-bit images")
        return np.repeat(levels.astype(np.uint16)[..., None], 3, axis=2)
    if image.mode == "F":
        raise ReportedError(f"{file_name}: a 32-bit float image; give 8- or 16-bit images")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if "A" in image.getbands():
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 255:
            raise ReportedError(
                f"{file_name}: has transparent pixels (an alpha channel); the models upscale RGB "
                "only: flatten the images onto a background first"
            )
    return np.asarray(image.convert("RGB"))


class VideoFile(FrameSource):
    def __init__(
        self, path: Path, start: int, count: int | None, deinterlace: bool = False, allow_partial: bool = False
    ):
        self.path, self.start, self.count = path, start, count
        self.deinterlace, self.allow_partial = deinterlace, allow_partial
        self.peeked: list = []  # frames decoded before `frames` was asked for (a stream's first look)
        self.last_packet = None  # the video's last packet demuxed
        self.container = self._open()
        try:
            self._describe()
        except BaseException:
            self.container.close()
            raise

    def _open(self):
        av = import_av()
        try:
            return av.open(str(self.path))
        except av.FFmpegError as exc:
            raise ReportedError(f"{self.path}: not a readable video ({exc.strerror or first_sentence(exc)})") from None

    def _describe(self) -> None:
        """What the file holds and how its frames will come, checked before any work."""
        self.video = _main_video(self.container, self.path)
        context = self.video.codec_context
        self.width, self.height = context.width, context.height
        self.time_base = self.video.time_base
        self.rate = self.video.average_rate or self.video.guessed_rate or Fraction(25)
        self.other_streams = [s for s in self.container.streams if s.type in CARRIED_TYPES]
        first = self._first_frame()
        self.picture = Picture(
            Colour.of(first), sample_bits(first.format), sample_aspect_ratio=_sar(self.video), **read_side_data(first)
        )
        if first.interlaced_frame and not self.deinterlace:
            raise ReportedError(f"{self.path}: interlaced video; {DEINTERLACE_HINT}")
        self.declared_frames = self.video.frames or None
        total = self.declared_frames
        self.frame_count = None if total is None else max(0, min(total - self.start, self.count or total))
        missing = self._missing_data()
        if missing and not self.allow_partial:
            raise ReportedError(f"{self.path}: {missing}; {PARTIAL_HINT}")

    def close(self) -> None:
        self.container.close()

    def _first_frame(self):
        """The first decoded frame, read through a container of its own: what the stream carries
        (colour, bit depth, orientation, HDR metadata, interlacing) is known before any output is opened."""
        av = import_av()
        try:
            with av.open(str(self.path)) as probe:
                for frame in probe.decode(probe.streams[self.video.index]):
                    return frame
        except av.FFmpegError as exc:
            raise ReportedError(f"{self.path}: cannot decode its first frame ({first_sentence(exc)})") from None
        raise ReportedError(f"{self.path}: its video stream has no frame that decodes")

    def _missing_data(self) -> str | None:
        """Where the container's index places video data past the end of the file (a download cut
        short): how many of its frames are there; None when all are (or there is no index)."""
        entries = self.video.index_entries
        if not entries:
            return None
        size = os.path.getsize(self.path)
        present = sum(1 for e in entries if e.pos + e.size <= size)
        if present == len(entries) or not any(e.size for e in entries):
            return None
        return f"truncated: {present} of its {len(entries)} frames are in the file ({size} bytes)"

    def frames(self, carried=(), on_packet=None):
        av = import_av()
        carried = list(carried)
        cut = StreamCut(
            carried,
            on_packet or (lambda packet: None),
            TimeRange(self.start_time(carried)) if self.start == 0 else None,
        )
        origin = cut.range.origin if cut.range else None
        index, last_end = 0, None
        try:
            for frame, time, duration in self._timed(self._decoded(carried, cut)):
                last_end = time + duration
                if index < self.start:
                    cut.seen_before_range(time)
                    index += 1
                    continue
                if origin is None:
                    origin = time
                    cut.start(TimeRange(origin, begin=time))
                yield self.rgb(frame), FrameTime.of(time, duration, origin, self.time_base)
                index += 1
                if self.count is not None and index == self.start + self.count:
                    cut.end(last_end)
                    self._drain(carried, cut)
                    return
            self._ran_out(index, last_end, carried)
        except av.FFmpegError as exc:
            raise ReportedError(
                f"{self.path}: cannot read frame {index} ({first_sentence(exc)}); {PARTIAL_HINT}"
            ) from None
        finally:
            self.close()

    def _timed(self, frames: Iterator) -> Iterator[tuple]:
        """(frame, start, duration), seconds, by the one rule of `timeline` (as segments are timed);
        each frame's timestamp in its own time base (the deinterlacer's frames have theirs; a frame
        that comes without one, as HEVC's from MPEG-TS over UDP can, is in the stream's)."""
        stamped = (
            (frame, None if frame.pts is None else frame.pts * (frame.time_base or self.time_base)) for frame in frames
        )
        return timed(stamped, self.time_base, self.rate)

    def _decoded(self, carried: list, cut: StreamCut) -> Iterator:
        """The video's frames in display order (deinterlaced if asked); the carried streams'
        packets to `cut` as they come."""
        from .deinterlace import Deinterlacer

        deinterlacer = Deinterlacer(self.video) if self.deinterlace else None
        self.decoded, self.data_end = 0, Fraction(0)
        for frame in chain(self.peeked, self._decoded_packets(carried, cut)):
            if frame.interlaced_frame and deinterlacer is None:
                raise ReportedError(f"{self.path}: frame {self.decoded} is interlaced; {DEINTERLACE_HINT}")
            self.decoded += 1
            yield from deinterlacer.push(frame) if deinterlacer else (frame,)
        if deinterlacer:
            yield from deinterlacer.push(None)

    def _demuxed(self, carried: list) -> Iterator:
        """The packets of the video and the `carried` streams, in the file's order."""
        return self.container.demux(self.video, *carried)

    def _decoded_packets(self, carried: list, cut: StreamCut) -> Iterator:
        """The frames the video's packets decode to; the carried streams' packets to `cut`. Data
        that does not decode or demux is refused, or where partial input is allowed skipped (what
        the decoder holds still comes out)."""
        av = import_av()
        packets = self._demuxed(carried)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.FFmpegError as exc:  # the demuxer failed: what the decoder holds, then the end
                self._damaged(self.decoded, exc)
                yield from self.video.decode(None)
                return
            span = packet_span(packet)
            if span:
                self.data_end = max(self.data_end, span[1])
            if packet.stream is not self.video:
                cut.offer(packet)
                continue
            if packet.size:  # not the demuxer's last, empty one
                self.last_packet = packet
            try:
                yield from packet.decode()
            except av.FFmpegError as exc:
                self._damaged(self.decoded, exc)

    def _damaged(self, decoded: int, exc: Exception) -> None:
        problem = f"damaged data after frame {decoded} ({first_sentence(exc)}): truncated or corrupt"
        if not self.allow_partial:
            raise ReportedError(f"{self.path}: {problem}; {PARTIAL_HINT}") from None
        self.shortfall = f"{self.path}: {problem}"

    def _drain(self, carried: list, cut: StreamCut) -> None:
        """After the last selected frame: the carried streams' packets up to the range's end."""
        if cut.complete:
            return
        for packet in self.container.demux(*carried):
            cut.offer(packet)
            if cut.complete:
                return

    def _ran_out(self, decoded: int, last_end: Fraction | None, carried: list) -> None:
        """The input ended before the selection did: refuse a start past its end, and what holds
        less than it declares (`check_ends`)."""
        if decoded <= self.start:
            raise ReportedError(f"{self.path}: {parameter('start')} {self.start} is past its {decoded} frames")
        self.check_ends(decoded, last_end, self.data_end, carried)

    def check_ends(self, frames: int, last_end: Fraction, data_end: Fraction | None = None, carried: list = ()) -> None:
        """Refuse (or, where partial input is allowed, note) a video that holds less than it
        declares: its frame count, its video's end, or where the container holds nothing else and
        `data_end` is known, its duration."""
        slack = Fraction(3, 2) / self.rate
        declared_end = _declared_end(self.video)
        container_end = None
        if self.container.duration and len(self.container.streams) == 1 + len(carried):
            container_end = Fraction(self.container.duration + (self.container.start_time or 0), 1_000_000)
        if self.declared_frames and frames < self.declared_frames:
            problem = f"{frames} of its {self.declared_frames} frames decode"
        elif declared_end is not None and last_end < declared_end - slack:
            problem = f"its frames end at {float(last_end):.3f} s, it declares {float(declared_end):.3f} s"
        elif declared_end is None and None not in (container_end, data_end) and data_end < container_end - slack:
            problem = f"its data ends at {float(data_end):.3f} s, it declares {float(container_end):.3f} s"
        else:
            return
        if not self.allow_partial:
            raise ReportedError(f"{self.path}: truncated or corrupt: {problem}; {PARTIAL_HINT}")
        self.shortfall = f"{self.path}: truncated or corrupt: {problem}"

    def start_time(self, carried: list) -> Fraction:
        """The earliest start of the video and the carried streams: the whole input's origin."""
        starts = [s.start_time * s.time_base for s in (self.video, *carried) if s.start_time is not None]
        return min(starts, default=Fraction(0))

    def rgb(self, frame) -> np.ndarray:
        """RGB by the stream's matrix and range only (primaries and transfer stay as coded)."""
        colour = self.picture.colour
        return frame.to_ndarray(
            format="rgb48le" if self.picture.bit_depth > 8 else "rgb24",
            src_colorspace=colour.colorspace,
            src_color_range=colour.color_range,
        )


class StreamedVideo(VideoFile):
    """Video from standard input or a URL: read once, in order. Its first frame is decoded from the
    stream itself (kept for `frames`), and whether it ended short is seen as it ends: a y4m pipe
    cut inside a frame by the bytes left after the last whole one, other formats by their demuxer
    or decoder failing. A URL silent for the timeout after its first frame has ended (`shortfall`
    says so)."""

    def __init__(self, where: str, start, count, deinterlace, allow_partial, input_format, timeout: float):
        self.where, self.input_format, self.timeout = where, input_format, timeout
        self.reader = CountingReader(sys.stdin.buffer) if where == PIPE else None
        self.early: list = []  # packets of other streams demuxed before the first frame
        super().__init__("standard input" if where == PIPE else where, start, count, deinterlace, allow_partial)

    def _open(self):
        return open_input(import_av(), self.reader or self.where, self.input_format, self.timeout)

    def _first_frame(self):
        av = import_av()
        self.packets = self.container.demux()
        try:
            for packet in self.packets:
                if packet.stream is not self.video:
                    self.early.append(packet)
                    continue
                if packet.size:
                    self.last_packet = packet
                self.peeked.extend(packet.decode())
                if self.peeked:
                    return self.peeked[0]
        except av.FFmpegError as exc:
            raise ReportedError(f"{self.path}: cannot decode its first frame ({first_sentence(exc)})") from None
        raise ReportedError(f"{self.path}: its video stream has no frame that decodes")

    def _missing_data(self) -> str | None:
        return None  # a stream declares no length

    def _damaged(self, decoded: int, exc: Exception) -> None:
        """A URL that goes quiet for the timeout once its frames have come has ended (UDP has no
        other end): said, not refused."""
        if not isinstance(exc, import_av().error.ExitError):
            super()._damaged(decoded, exc)
            return
        self.shortfall = f"{self.path}: no data for {self.timeout:g} s after frame {decoded}: taken as its end"

    def _demuxed(self, carried: list) -> Iterator:
        wanted = {self.video, *carried}
        return (packet for packet in chain(self.early, self.packets) if packet.stream in wanted)

    def check_ends(self, frames: int, last_end: Fraction, data_end: Fraction | None = None, carried: list = ()) -> None:
        """A y4m pipe that stopped inside a frame: refused (or noted where partial input is allowed)."""
        if self.reader is None or self.container.format.name != "yuv4mpegpipe" or self.last_packet is None:
            return
        left = self.reader.bytes - (self.last_packet.pos + self.last_packet.size)
        if left <= 0:
            return
        problem = f"closed part-way through a frame: {frames} whole frames, then {left} bytes of the next"
        if not self.allow_partial:
            raise ReportedError(f"{self.path}: {problem}; {PARTIAL_HINT}")
        self.shortfall = f"{self.path}: {problem}"


def _main_video(container, path: Path):
    """The first video stream that is not a cover picture."""
    import av

    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    raise ReportedError(f"{path}: has no video stream")


def _sar(stream) -> Fraction | None:
    sar = stream.sample_aspect_ratio
    return sar if sar and sar != 1 else None


def _declared_end(stream) -> Fraction | None:
    """Where the stream says it ends, in seconds: its start plus its duration, or the DURATION tag
    (an end time) that Matroska muxers write."""
    if stream.duration:
        return ((stream.start_time or 0) + stream.duration) * stream.time_base
    tag = stream.metadata.get("DURATION")
    if tag:
        try:
            hours, minutes, seconds = tag.split(":")
            return Fraction(int(hours) * 3600 + int(minutes) * 60) + Fraction(seconds)
        except ValueError:
            return None
    return None
