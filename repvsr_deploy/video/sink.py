"""HR frames to a video file (encoded as they come; audio and subtitles copied, colour tagged as the
input's) or to a folder of PNG images. Either appears whole at the end, or not at all."""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, staged_folder
from ..errors import ReportedError, first_sentence
from .source import IMAGE_SUFFIXES, Colour, import_av

# container format by suffix: the temporary file's name does not tell FFmpeg
CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm", ".avi": "avi"}


def is_image_folder(path: Path) -> bool:
    """A folder output: named without a video container's suffix (an existing folder, or no suffix)."""
    return path.suffix.lower() not in CONTAINERS and (path.suffix == "" or path.is_dir())


@contextlib.contextmanager
def open_sink(path: Path, width: int, height: int, rate: Fraction, colour: Colour | None, codec: str, crf: int,
              other_streams: list, overwrite: bool = False):
    """A sink for frames of `width` x `height`; committed when the block ends without an error.
    A folder output replaces the folder whole: a non-empty one only with `overwrite`."""
    path = Path(path)
    if is_image_folder(path):
        with staged_folder(path, IMAGE_SUFFIXES, overwrite) as stage:
            yield ImageSink(stage)
        return
    if path.suffix.lower() not in CONTAINERS:
        raise ReportedError(f"{path}: unknown video container (known: {', '.join(CONTAINERS)}, or a folder)")
    with atomic_path(path) as tmp:
        sink = VideoSink(tmp, CONTAINERS[path.suffix.lower()], width, height, rate, colour, codec, crf, other_streams)
        try:
            yield sink
            sink.finish()
        finally:
            sink.container.close()


class ImageSink:
    def __init__(self, folder: Path):
        from PIL import Image

        self.folder, self._image, self.index = folder, Image, 0

    def write(self, rgb: np.ndarray) -> None:
        self._image.fromarray(rgb).save(self.folder / f"{self.index:06d}.png")
        self.index += 1

    def copy(self, packet, begin) -> None:
        """Image folders hold no audio."""


class VideoSink:
    def __init__(self, path: Path, container_format: str, width: int, height: int, rate: Fraction,
                 colour: Colour | None, codec: str, crf: int, other_streams: list):
        av = import_av()
        self.av = av
        try:
            kind = av.Codec(codec, "w").type
        except (av.FFmpegError, ValueError) as exc:
            raise ReportedError(f"--codec {codec}: not an encoder this FFmpeg has ({first_sentence(exc)})") from None
        if kind != "video":
            raise ReportedError(f"--codec {codec}: an encoder of {kind}, not of video")
        self.container = av.open(str(path), "w", format=container_format)
        try:
            self.video = self.container.add_stream(codec, rate=rate)
        except (av.FFmpegError, ValueError) as exc:
            raise ReportedError(f"--codec {codec}: {first_sentence(exc)}") from None
        self.time_base = Fraction(1) / rate  # one tick per frame
        self.video.width, self.video.height = width, height
        self.video.codec_context.time_base = self.time_base
        self.video.pix_fmt = "yuv420p"
        self.video.options = {"crf": str(crf)}
        self.colour = colour
        if colour:
            context = self.video.codec_context
            context.colorspace, context.color_range = colour.colorspace, colour.color_range
            context.color_primaries, context.color_trc = colour.color_primaries, colour.color_trc
        self.copies = {s: self.container.add_stream_from_template(s) for s in other_streams}
        self.index = 0

    def write(self, rgb: np.ndarray) -> None:
        frame = self.av.VideoFrame.from_ndarray(rgb, format="rgb24")
        if self.colour:
            frame = frame.reformat(format="yuv420p", dst_colorspace=self.colour.colorspace,
                                   dst_color_range=self.colour.color_range,
                                   dst_color_primaries=self.colour.color_primaries,
                                   dst_color_trc=self.colour.color_trc)
        frame.pts = self.index
        frame.time_base = self.time_base
        self.index += 1
        self.container.mux(self.video.encode(frame))

    def copy(self, packet, begin: Fraction) -> None:
        """A packet of another stream, shifted so that the selected range starts at 0."""
        shift = int(begin / packet.time_base)
        packet.pts, packet.dts = packet.pts - shift, packet.dts - shift
        packet.stream = self.copies[packet.stream]
        self.container.mux(packet)

    def finish(self) -> None:
        self.container.mux(self.video.encode(None))
