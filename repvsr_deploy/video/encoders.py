"""Which encoders write an output, and with what: the containers offered, each one's default video
encoder per bit depth (the first of its preferred ones that this FFmpeg has and that codes that
depth), the pixel format, the options an encoder takes (quality, HDR10 metadata, quiet logs), and
which containers take a stream that is to be copied."""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from fractions import Fraction

from ..errors import ParameterError, ReportedError, first_sentence, parameter
from .endpoints import STREAM_FORMATS
from .picture import Picture

CONTAINERS = {".mp4": "mp4", ".mkv": "matroska", ".mov": "mov", ".webm": "webm", ".avi": "avi"}
BIT_DEPTHS = (8, 10)
# by bit depth and container, in order of preference: H.264 for 8 bits, HEVC for 10 (what HDR10
# and HLG are delivered in), VP9 or AV1 for WebM (the only codecs it takes)
PREFERRED = {
    8: {
        "mp4": ("libx264",),
        "mov": ("libx264",),
        "matroska": ("libx264",),
        "avi": ("libx264",),
        "webm": ("libvpx-vp9", "libsvtav1", "libaom-av1"),
        **{name: ("libx264",) for name in ("mpegts", "flv", "rtsp")},
        **{name: ("rawvideo",) for name in ("yuv4mpegpipe", "nut")},
    },
    10: {
        "mp4": ("libx265", "libx264", "libsvtav1"),
        "mov": ("libx265", "libx264"),
        "matroska": ("libx265", "libx264", "libsvtav1"),
        "avi": ("libx264",),
        "webm": ("libvpx-vp9", "libsvtav1", "libaom-av1"),
        **{name: ("libx265", "libx264") for name in ("mpegts", "rtsp")},
        "flv": ("libx264",),  # HEVC in FLV is the 2023 extension: FFmpeg before 6.1 reads it as VP6
        **{name: ("rawvideo",) for name in ("yuv4mpegpipe", "nut")},
    },
}
# Pipes and streams (`endpoints`): y4m and nut carry raw frames (lossless: what a pipe into another
# tool wants), matroska is encoded as a .mkv file is, mpegts, flv and rtsp as for broadcast.
DEFAULT_CRF = 18
# The encoder shares the CPU with the model. x264's own default (medium) took 48.6 ms of CPU a 720p
# frame here, as much as the int8 model; veryfast 21.5 ms, 0.4 dB less at crf 18 in slightly smaller
# files (benchmarks/encoder_cost.py), and the default upscale ran 3.7x its earlier rate instead of
# 2.8x. x265's own (medium) costs 2-3x x264's (benchmarks/footage_cost.py); at "faster" an HDR output
# costs about what an SDR one does.
DEFAULT_PRESETS = {"libx264": "veryfast", "libx265": "faster"}
CONSTANT_QUALITY = ("libvpx", "libvpx-vp9")  # constant quality only with a bit rate of 0
# encoders whose latency a live output cuts (no lookahead, no B-frames: a packet for every frame in)
LOW_LATENCY_TUNES = {"libx264": "zerolatency", "libx265": "zerolatency"}
# encoders that code the input's limited range only as an "unofficial" extension (JPEG is full range)
UNOFFICIAL_RANGE = ("mjpeg",)


@dataclass(frozen=True)
class Encoding:
    """How the user asked the output to be encoded; None: the input's, or the container's default."""

    codec: str | None = None
    crf: int | None = None
    preset: str | None = None
    bit_depth: int | None = None
    audio_codec: str | None = None
    format: str | None = None  # of a pipe or URL output (`endpoints.STREAM_FORMATS`); a file's is its suffix

    def __post_init__(self):
        if self.bit_depth not in (None, 8, 10):
            raise ParameterError(f"{parameter('bit_depth')} {self.bit_depth!r}: 8 or 10 (None: the input's)")
        if self.crf is not None and (
            isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 63
        ):
            raise ParameterError(f"{parameter('crf')} {self.crf!r}: an integer from 0 to 63")
        if self.format is not None and self.format not in STREAM_FORMATS:
            raise ParameterError(f"{parameter('format')} {self.format!r}: one of {', '.join(STREAM_FORMATS)}")


def pixel_format(bit_depth: int) -> str:
    return "yuv420p" if bit_depth == 8 else "yuv420p10le"


def video_encoder(av, container_format: str, suffix: str, codec: str | None, bit_depth: int) -> str:
    """The encoder asked for, checked to code video at `bit_depth`; else the container's default."""
    wanted = pixel_format(bit_depth)
    if codec is None:
        for name in PREFERRED[bit_depth][container_format]:
            if name in av.codecs_available and _codes(av, name, wanted):
                return name
        raise ReportedError(
            f"no encoder here writes {bit_depth}-bit video into {suffix} (tried "
            f"{', '.join(PREFERRED[bit_depth][container_format])}); give {parameter('codec')} or {parameter('bit_depth')} 8"
        )
    try:
        kind = av.Codec(codec, "w").type
    except (av.FFmpegError, ValueError) as exc:
        raise ReportedError(
            f"{parameter('codec')} {codec}: not an encoder this FFmpeg has ({first_sentence(exc)})"
        ) from None
    if kind != "video":
        raise ReportedError(f"{parameter('codec')} {codec}: an encoder of {kind}, not of video")
    if not _codes(av, codec, wanted):
        raise ReportedError(
            f"{parameter('codec')} {codec}: does not code {bit_depth}-bit 4:2:0 video ({wanted}) in this FFmpeg; "
            f"give another {parameter('codec')} or {parameter('bit_depth')}"
        )
    return codec


def _codes(av, codec: str, pix_fmt: str) -> bool:
    formats = av.Codec(codec, "w").video_formats
    return formats is None or any(f.name == pix_fmt for f in formats)


def takes_option(av, codec: str, option: str) -> bool:
    return any(o.name == option for o in av.CodecContext.create(codec, "w").supported_options.private)


def video_options(
    av, codec: str, encoding: Encoding, picture: Picture, width: int, low_latency: bool = False
) -> dict[str, str]:
    """The encoder's options: quality (crf) and speed (preset) where it has them (asked of one
    without: refused), x265's HDR10 metadata and quiet logs, x264's instruction sets at a `width`
    where its AVX-512 code is not reproducible; with `low_latency`, a tune that emits each frame as
    it comes (live outputs)."""
    options = {}
    if low_latency and codec in LOW_LATENCY_TUNES:
        options["tune"] = LOW_LATENCY_TUNES[codec]
    for option, asked, default in (
        ("crf", encoding.crf, DEFAULT_CRF),
        ("preset", encoding.preset, DEFAULT_PRESETS.get(codec)),
    ):
        if takes_option(av, codec, option):
            value = default if asked is None else asked
            if value is not None:
                options[option] = str(value)
        elif asked is not None:
            raise ReportedError(
                f"{parameter(option)}: encoder {codec} has no {option} option (leave {parameter(option)} out for its default)"
            )
    if codec in CONSTANT_QUALITY:
        options["b"] = "0"
    if codec in UNOFFICIAL_RANGE:
        options["strict"] = "unofficial"
    if codec == "libx265":
        params = ["log-level=error"]
        if picture.mastering_display:
            params.append(f"master-display={picture.mastering_display.x265()}")
        if picture.content_light:
            params.append(f"max-cll={picture.content_light.max_cll},{picture.content_light.max_fall}")
        options["x265-params"] = ":".join(params)
    if codec == "libx264" and _x264_unreproducible_width(width) and "AVX512" in (found := x264_capabilities(av)):
        options["x264-params"] = "asm=" + ",".join(name for name in found if name != "AVX512")
    return options


def _x264_unreproducible_width(width: int) -> bool:
    """Widths whose count of 16-pixel macroblocks is not a multiple of 8: there x264's AVX-512
    macroblock-tree code reads memory it never wrote, and two encodes of the same frames differ
    (measured with freshly allocated memory filled with different bytes; not at 1280, 1920, 3840)."""
    return -(-width // 16) % 8 != 0


@functools.cache
def x264_capabilities(av) -> tuple[str, ...]:
    """The instruction sets libx264 uses on this CPU, by the names its `asm` option takes (what it
    logs when an encoder opens)."""
    level = av.logging.get_level()
    av.logging.set_level(av.logging.INFO)
    try:
        with av.logging.Capture() as logs:
            context = av.CodecContext.create("libx264", "w")
            context.width, context.height, context.pix_fmt = 16, 16, "yuv420p"
            context.time_base = Fraction(1, 25)
            context.open()
    except (av.FFmpegError, ValueError):
        return ()  # not knowing them, x264 is left to choose: the encode itself says what is wrong
    finally:
        av.logging.set_level(level)
    for _, _, message in logs:
        if message.startswith("using cpu capabilities:"):
            return tuple(message.split(":", 1)[1].split())
    return ()


def containers_taking(av, stream, offered: dict[str, str] = CONTAINERS) -> list[str]:
    """The names (file suffixes, or pipe formats) of the `offered` containers that can hold a copy
    of `stream`."""
    taking = []
    for suffix, container_format in offered.items():
        try:
            with av.open(io.BytesIO(), "w", format=container_format) as container:
                container.add_stream_from_template(stream)
            taking.append(suffix)
        except (av.FFmpegError, ValueError):
            continue
    return taking
