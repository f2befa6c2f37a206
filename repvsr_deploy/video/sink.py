"""HR frames to a video file or to a folder of PNG images. Either appears whole at the end, or not at all.

A video output carries what the input's video stream says (`picture`): colour tags, bit depth (by
default), orientation, pixel shape, HDR10 metadata (into HEVC), its tags; every frame at the time it
had in the input. The other streams are copied packet by packet (or audio re-encoded, with
`--audio-codec`) with their tags and dispositions; a stream the container cannot hold is refused
before any work, naming it and the ways out.
"""

from __future__ import annotations

import contextlib
import errno
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, staged_folder
from ..errors import ParameterError, ReportedError, first_sentence, parameter
from .encoders import CONTAINERS, Encoding, containers_taking, pixel_format, video_encoder, video_options
from .endpoints import (
    DEFAULT_TIMEOUT,
    STREAM_FORMATS,
    is_stream,
    label,
    location,
    open_output,
    output_format,
    start_output,
)
from .picture import Colour
from .source import IMAGE_SUFFIXES, FrameSource, import_av
from .streams import PacketCopy, carry_tags
from .timeline import FrameTime

# an untagged input (images: sRGB) is written as BT.709 video with the sRGB transfer
SRGB_AS_VIDEO = Colour(colorspace=1, color_range=1, color_primaries=1, color_trc=13)


def is_image_folder(path: Path) -> bool:
    """A folder output: named without a video container's suffix (an existing folder, or no suffix)."""
    return path.suffix.lower() not in CONTAINERS and (path.suffix == "" or path.is_dir())


def refuse_existing(path: Path, overwrite: bool) -> None:
    """An output file that exists is replaced only with `overwrite`, before any work."""
    if path.is_file() and not overwrite:
        raise ReportedError(f"{path}: exists; give {parameter('overwrite')} to replace it, or another name")


@contextlib.contextmanager
def open_sink(
    path: Path,
    source: FrameSource,
    scale: int,
    encoding: Encoding = Encoding(),
    carried: list = (),
    overwrite: bool = False,
    live: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
):
    """A sink for `source`'s frames upscaled by `scale`; committed when the block ends without an
    error. An existing output is replaced only with `overwrite` (a folder whole). A pipe or URL
    (`endpoints`) is written as the frames come, in `encoding.format`. `live`: the encoder emits every
    frame at once, and a constant-rate output (y4m, AVI) holds the last frame through a gap."""
    path = location(path)
    if is_stream(path):
        with _finished(
            VideoSink(path, output_format(path, encoding.format), source, scale, encoding, list(carried), live, timeout)
        ) as sink:
            yield sink
        return
    if encoding.format is not None:
        raise ParameterError(f"{parameter('format')} names the container of a pipe or URL; {path}'s is its suffix")
    if is_image_folder(path):
        with staged_folder(path, IMAGE_SUFFIXES, overwrite) as stage:
            yield ImageSink(stage)
        return
    if path.suffix.lower() not in CONTAINERS:
        raise ReportedError(f"{path}: unknown video container (known: {', '.join(CONTAINERS)}, or a folder)")
    refuse_existing(path, overwrite)
    with (
        atomic_path(path) as tmp,
        _finished(
            VideoSink(tmp, CONTAINERS[path.suffix.lower()], source, scale, encoding, list(carried), live)
        ) as sink,
    ):
        yield sink


@contextlib.contextmanager
def _finished(sink: VideoSink):
    """`sink`, flushed and closed when the block ends without an error; after one, closed quietly
    (a pipe whose reader went away fails again as the trailer is written)."""
    try:
        yield sink
        sink.finish()
    except BaseException:
        with contextlib.suppress(Exception):
            sink.container.close()
        raise
    with sink.sending():
        sink.container.close()


class ImageSink:
    """Numbered 8-bit PNG images (16-bit frames rounded to 8 bits)."""

    dtype = np.uint8
    carried: dict = {}

    def __init__(self, folder: Path):
        from PIL import Image

        self.folder, self._image, self.index = folder, Image, 0

    def write(self, rgb: np.ndarray, time: FrameTime) -> None:
        self._image.fromarray(rgb).save(self.folder / f"{self.index:06d}.png")
        self.index += 1

    def copy(self, packet) -> None:
        """Image folders hold no audio."""


# containers whose frames are ticks of a constant rate: no gaps, no variable rate
CONSTANT_RATE = ("avi", "yuv4mpegpipe")


class VideoSink:
    """Frames encoded into a file (`target` a path) or a pipe or URL (`target` text, `endpoints`), in
    FFmpeg's `container_format`."""

    def __init__(
        self,
        target: Path | str,
        container_format: str,
        source: FrameSource,
        scale: int,
        encoding: Encoding,
        carried: list,
        live: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ):
        av = import_av()
        self.av, self.target, self.written, self.live = av, target, 0, live
        self.held = 0  # frames repeated to hold a constant-rate output through a gap (live)
        self.last_frame = None
        self.suffix = _name_of(container_format, is_stream(target))
        picture = source.picture
        bit_depth = encoding.bit_depth or (10 if picture.bit_depth > 8 else 8)
        codec = video_encoder(av, container_format, self.suffix, encoding.codec, bit_depth)
        self.dtype = np.uint16 if bit_depth > 8 else np.uint8
        self.pix_fmt = pixel_format(bit_depth)
        self.colour = picture.colour or SRGB_AS_VIDEO
        options = {"strict": "-1"} if container_format == "yuv4mpegpipe" else {}  # y4m's 10 bits are an extension
        if is_stream(target):
            options["flush_packets"] = "1"  # each frame leaves as it is written: no buffered latency
            self.container = open_output(av, target, container_format, options, timeout)  # type: ignore[arg-type]
        else:
            self.container = av.open(str(target), "w", format=container_format, options=options)
        try:
            self.video = self.container.add_stream(codec, rate=source.rate)
        except (av.FFmpegError, ValueError) as exc:
            raise ReportedError(
                f"{parameter('codec')} {codec}: {first_sentence(exc)} (give another {parameter('codec')}, or another container)"
            ) from None
        # AVI and y4m count frames (one tick each): a constant rate; the others keep the input's time base
        self.constant_rate = container_format in CONSTANT_RATE
        self.time_base = 1 / source.rate if self.constant_rate else source.time_base
        self.source_time_base = source.time_base
        context = self.video.codec_context
        context.width, context.height, context.pix_fmt = source.width * scale, source.height * scale, self.pix_fmt
        context.time_base = self.time_base
        context.colorspace, context.color_range = self.colour.colorspace, self.colour.color_range
        context.color_primaries, context.color_trc = self.colour.color_primaries, self.colour.color_trc
        if picture.sample_aspect_ratio:
            context.sample_aspect_ratio = picture.sample_aspect_ratio
        if picture.display_matrix:
            self.video.set_display_matrix(picture.display_matrix)
        if av.Codec(codec, "w").canonical_name == "hevc" and container_format in ("mp4", "mov"):
            context.codec_tag = "hvc1"  # what Apple's players take
        self.video.options = video_options(av, codec, encoding, picture, context.width, low_latency=live)
        try:  # now, not at the first frame: an encoder that refuses these settings is said before any work
            context.open()
        except (av.FFmpegError, ValueError) as exc:
            settings = ", ".join(f"{k} {v}" for k, v in self.video.options.items() if k in ("crf", "preset"))
            raise ReportedError(
                f"encoder {codec} refuses {context.width}x{context.height} {self.pix_fmt} with "
                f"{settings or 'its defaults'} ({exc.strerror or first_sentence(exc)}); check "
                + ", ".join(parameter(name) for name in ("codec", "preset", "crf", "bit_depth"))
            ) from None
        if source.video is not None:
            carry_tags(source.video, self.video)
        self.carried = {
            s: carried_writer(self.container, s, encoding.audio_codec, self.suffix, is_stream(target)) for s in carried
        }
        if is_stream(target):
            start_output(av, self.container, target, timeout)  # type: ignore[arg-type]  # a stream
        self.durations: dict[int, int] = {}  # pts -> duration of the frames in the encoder
        self.last_pts: int | None = None
        self.end: Fraction | None = None  # of the last frame written, in seconds
        self.selection_ends = source.count is not None  # re-encoded audio then ends with the video

    def write(self, rgb: np.ndarray, time: FrameTime) -> None:
        frame = self.av.VideoFrame.from_ndarray(rgb, format="rgb48le" if rgb.dtype == np.uint16 else "rgb24")
        frame = frame.reformat(
            format=self.pix_fmt, dst_colorspace=self.colour.colorspace, dst_color_range=self.colour.color_range
        )
        ticks = time.rebased(self.source_time_base, self.time_base)
        if self.constant_rate and self.last_pts is not None and ticks.pts != self.last_pts + 1:
            if not (self.live and ticks.pts > self.last_pts):
                raise ReportedError(
                    f"{self.suffix} holds a constant frame rate, and frame {self.written} comes after a gap "
                    f"(a variable rate): {_VARIABLE_RATE}"
                )
            while self.last_pts + 1 < ticks.pts:  # live: the last frame held through the gap
                self._encode(self.last_frame, FrameTime(self.last_pts + 1, 1))
                self.held += 1
        self._encode(frame, ticks)
        self.last_frame = frame
        self.written += 1

    def _encode(self, frame, ticks: FrameTime) -> None:
        """`frame` at `ticks` (in the output's time base) into the encoder, its packets muxed."""
        frame.pts, frame.time_base = ticks.pts, self.time_base
        self.durations[ticks.pts] = ticks.duration
        self.end = (ticks.pts + ticks.duration) * self.time_base
        self.last_pts = ticks.pts
        with self.sending():
            self._mux_video(self.video.encode(frame))

    def _mux_video(self, packets) -> None:
        """Each packet lasts as long as its frame: what Matroska writes, and mp4's edit list needs
        to show a variable-rate clip's last frames (encoders give every packet the nominal rate's)."""
        for packet in packets:
            packet.duration = self.durations.pop(packet.pts, packet.duration)
            self.container.mux(packet)

    def copy(self, packet) -> None:
        """A packet of a carried stream, already on the output's time line."""
        with self.sending():
            self.carried[packet.stream].push(packet)

    def finish(self) -> None:
        """Flush the encoders; where the selection ends before the input, re-encoded audio ends
        where the last frame does."""
        with self.sending():
            self._mux_video(self.video.encode(None))
            for target in self.carried.values():
                target.finish(self.end if self.selection_ends else None)

    @contextlib.contextmanager
    def sending(self):
        """A pipe or URL that can no longer be written (its reader went away) is said in one line."""
        try:
            yield
        except (self.av.FFmpegError, OSError) as exc:
            if not is_stream(self.target):
                raise
            where = label(self.target, output=True)
            if getattr(exc, "errno", None) in (errno.EPIPE, errno.ECONNRESET):
                problem = "its reader went away"
            else:
                problem = f"cannot write there ({exc.strerror or first_sentence(exc)})"
            raise ReportedError(f"{where}: {problem} after {self.written} frame{'s' * (self.written != 1)}") from None


_VARIABLE_RATE = f"write .mkv, .mp4 or .mov (a pipe: {parameter('format')} nut or matroska)"


def _name_of(container_format: str, stream: bool) -> str:
    """How messages name an output's container: a file's suffix, a stream's format."""
    if stream:
        return (
            next(name for name, known in STREAM_FORMATS.items() if known == container_format)
            if container_format in STREAM_FORMATS.values()
            else container_format
        )
    return next(suffix for suffix, known in CONTAINERS.items() if known == container_format)


def carried_writer(container, stream, audio_codec: str | None, suffix: str, to_stream: bool = False):
    """What writes a carried stream into `container` (a `suffix` file, or `to_stream` a pipe or URL
    in that format): a copy, or with `audio_codec` a re-encoding; a stream the container cannot
    hold is refused with the ways out."""
    av = import_av()
    if stream.type == "audio" and audio_codec:
        from .audio import AudioTranscoder

        return AudioTranscoder(container, stream, audio_codec)
    try:
        return PacketCopy(container, stream)
    except (av.FFmpegError, ValueError):
        raise ReportedError(_refusal(av, stream, suffix, to_stream)) from None


def _refusal(av, stream, suffix: str, to_stream: bool) -> str:
    codec = stream.codec_context.name
    taking = [s for s in containers_taking(av, stream, STREAM_FORMATS if to_stream else CONTAINERS) if s != suffix]
    ways = [f"give {parameter('format')} {', '.join(taking)}" if to_stream else f"write {' or '.join(taking)}"]
    ways = ways if taking else []
    ways.append(f"leave it out ({parameter('drop_streams')} {stream.index})")
    if stream.type == "audio" and suffix != "y4m":  # y4m holds video alone
        ways.append(f"re-encode the audio ({parameter('audio_codec')} libopus, say)")
    return (
        f"input stream {stream.index} ({stream.type}, {codec}) cannot go into {suffix}: "
        f"{', '.join(ways[:-1])}{' or ' if len(ways) > 1 else ''}{ways[-1]}"
    )
