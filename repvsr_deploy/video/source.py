"""Frames from a video file (decoded as they are needed, never all at once) or a folder of images.

Frames come out as RGB [H, W, 3]: uint8, converted with the stream's own colour matrix and range
(videos), or at the image's bit depth (`read_image`: uint16 for 16-bit grayscale).
Packets of the other streams (audio, subtitles) of the selected time range are handed to a callback
as the demuxer meets them, so they can be copied without re-encoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence
from ..resolutions import MAX_LR_SIDE

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def import_av():
    try:
        import av
    except ImportError:
        raise MissingDependency("PyAV", "video", "reading and writing videos") from None
    return av


@dataclass(frozen=True)
class Colour:
    """The colour description of a stream (FFmpeg's enum values), carried to the output."""

    colorspace: int  # the YUV matrix
    color_range: int
    color_primaries: int
    color_trc: int


class FrameSource:
    """What an input gives: its size, frame rate, colour, and its frames from `start`, `count` of them."""

    width: int
    height: int
    rate: Fraction
    colour: Colour | None
    other_streams: list  # PyAV streams to copy (audio, subtitles)
    frame_count: int | None  # of the selected range, where known

    def frames(self, copy_packet: Callable | None = None) -> Iterator[np.ndarray]:
        raise NotImplementedError


def open_source(path: Path, start: int = 0, count: int | None = None) -> FrameSource:
    path = Path(path)
    if path.is_dir():
        source = ImageFolder(path, start, count)
    elif path.is_file():
        source = VideoFile(path, start, count)
    else:
        raise ReportedError(f"{path}: no such video file or image folder")
    if max(source.width, source.height) > MAX_LR_SIDE:
        raise ReportedError(f"{path}: frames of {source.width}x{source.height}; at most {MAX_LR_SIDE} pixels a side "
                            "are upscaled")
    return source


class ImageFolder(FrameSource):
    """The images of a folder in name order, as a clip (25 fps unless told); hidden files left out."""

    def __init__(self, path: Path, start: int, count: int | None):
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))
        if not files:
            raise ReportedError(f"{path}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
        self.files = files[start : None if count is None else start + count]
        if not self.files:
            raise ReportedError(f"{path}: --start {start} is past its {len(files)} images")
        self.width, self.height = self._read(self.files[0]).shape[1::-1]
        self.rate, self.colour, self.other_streams = Fraction(25), None, []
        self.frame_count = len(self.files)

    def _read(self, file: Path) -> np.ndarray:
        return read_image(file)

    def frames(self, copy_packet=None) -> Iterator[np.ndarray]:
        for file in self.files:
            frame = self._read(file)
            if frame.shape[1::-1] != (self.width, self.height):
                raise ReportedError(f"{file}: {frame.shape[1]}x{frame.shape[0]}, the folder's first image is "
                                    f"{self.width}x{self.height}")
            yield frame


# Pillow's modes of one 16-bit channel (PNG, TIFF grayscale)
GRAY16_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


def read_image(file: Path) -> np.ndarray:
    """An image as RGB [H, W, 3] at its bit depth: uint16 for 16-bit grayscale (replicated to three
    channels), uint8 otherwise (Pillow reads 16-bit colour at 8 bits). An alpha channel that is
    opaque everywhere is dropped; a transparent one is refused: the models have no alpha to upscale."""
    from PIL import Image

    try:
        with Image.open(file) as image:
            image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as exc:
        raise ReportedError(f"{file}: not a readable image ({first_sentence(exc)})") from None
    if image.mode in GRAY16_MODES or image.mode == "I":
        levels = np.asarray(image)
        if image.mode == "I" and (levels.min() < 0 or levels.max() > 65535):
            raise ReportedError(f"{file}: a 32-bit integer image; give 8- or 16-bit images")
        return np.repeat(levels.astype(np.uint16)[..., None], 3, axis=2)
    if image.mode == "F":
        raise ReportedError(f"{file}: a 32-bit float image; give 8- or 16-bit images")
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if "A" in image.getbands():
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 255:
            raise ReportedError(f"{file}: has transparent pixels (an alpha channel); the models upscale RGB "
                                "only: flatten the images onto a background first")
    return np.asarray(image.convert("RGB"))


class VideoFile(FrameSource):
    def __init__(self, path: Path, start: int, count: int | None):
        av = import_av()
        self.path, self.start, self.count = path, start, count
        try:
            self.container = av.open(str(path))
        except av.FFmpegError as exc:
            raise ReportedError(f"{path}: not a readable video ({exc.strerror or first_sentence(exc)})") from None
        if not self.container.streams.video:
            raise ReportedError(f"{path}: has no video stream")
        self.video = self.container.streams.video[0]
        context = self.video.codec_context
        self.width, self.height = context.width, context.height
        self.rate = self.video.average_rate or self.video.guessed_rate or Fraction(25)
        self.colour = Colour(int(context.colorspace), int(context.color_range), int(context.color_primaries),
                             int(context.color_trc))
        self.other_streams = [s for s in self.container.streams if s.type in ("audio", "subtitle")]
        total = self.video.frames or None
        self.frame_count = None if total is None else max(0, min(total - start, count or total))

    def frames(self, copy_packet=None) -> Iterator[np.ndarray]:
        av = import_av()
        begin = Fraction(self.start) / self.rate
        end = None if self.count is None else Fraction(self.start + self.count) / self.rate
        index = 0
        try:
            for packet in self.container.demux(self.video, *self.other_streams):
                if packet.stream is not self.video:
                    if copy_packet and _within(packet, begin, end):
                        copy_packet(packet, begin)
                    continue
                for frame in packet.decode():
                    if index >= self.start:
                        yield frame.to_ndarray(format="rgb24", src_colorspace=frame.colorspace,
                                               src_color_range=frame.color_range)
                    index += 1
                    if self.count is not None and index >= self.start + self.count:
                        return
        except av.FFmpegError as exc:
            raise ReportedError(f"{self.path}: cannot decode frame {index} ({first_sentence(exc)})") from None
        finally:
            self.container.close()
        if index <= self.start:
            raise ReportedError(f"{self.path}: --start {self.start} is past its {index} frames")


def _within(packet, begin: Fraction, end: Fraction | None) -> bool:
    if packet.pts is None or packet.dts is None:
        return False
    time = packet.pts * packet.time_base
    return time >= begin and (end is None or time < end)
