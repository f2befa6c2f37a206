"""What a video stream says about its pictures beyond their pixels, read from the input and carried
to the output as it is: colour (matrix, range, primaries, transfer), bit depth, orientation (the
display matrix), the shape of a pixel (sample aspect ratio) and HDR10's static metadata.

Only the matrix and the range take part in converting between YUV and RGB; primaries and transfer
are tags: the model sees the input's RGB values (PQ or HLG coded, for HDR) and its output is tagged
as the input was, so nothing is converted to another gamut or curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Colour:
    """The colour description of a stream (FFmpeg's enum values)."""

    colorspace: int  # the YUV matrix
    color_range: int
    color_primaries: int
    color_trc: int

    @classmethod
    def of(cls, frame) -> Colour:
        return cls(int(frame.colorspace), int(frame.color_range), int(frame.color_primaries), int(frame.color_trc))


@dataclass(frozen=True)
class MasteringDisplay:
    """SMPTE ST 2086: the primaries, white point (CIE 1931 xy) and luminance range (cd/m2) of the
    display an HDR video was graded on."""

    red: tuple[float, float]
    green: tuple[float, float]
    blue: tuple[float, float]
    white: tuple[float, float]
    min_luminance: float
    max_luminance: float

    @classmethod
    def from_side_data(cls, data: bytes) -> MasteringDisplay | None:
        """FFmpeg's AVMasteringDisplayMetadata: 10 rationals (3 primaries x 2, white point x 2,
        min and max luminance) as int32 pairs, then has_primaries and has_luminance."""
        values = np.frombuffer(data[:88], dtype=np.int32)
        if len(values) < 22 or not (values[20] and values[21]):
            return None
        ratio = [float(n) / float(d) if d else 0.0 for n, d in values[:20].reshape(10, 2)]
        return cls(
            (ratio[0], ratio[1]), (ratio[2], ratio[3]), (ratio[4], ratio[5]), (ratio[6], ratio[7]), ratio[8], ratio[9]
        )

    def x265(self) -> str:
        """x265's `master-display`: chromaticities in units of 0.00002, luminance in 0.0001 cd/m2."""

        def xy(point):
            return f"({round(point[0] * 50000)},{round(point[1] * 50000)})"

        return (
            f"G{xy(self.green)}B{xy(self.blue)}R{xy(self.red)}WP{xy(self.white)}"
            f"L({round(self.max_luminance * 10000)},{round(self.min_luminance * 10000)})"
        )


@dataclass(frozen=True)
class ContentLight:
    """CTA-861.3: the brightest pixel (MaxCLL) and brightest frame average (MaxFALL), cd/m2."""

    max_cll: int
    max_fall: int

    @classmethod
    def from_side_data(cls, data: bytes) -> ContentLight:
        max_cll, max_fall = np.frombuffer(data[:8], dtype=np.uint32)
        return cls(int(max_cll), int(max_fall))


@dataclass(frozen=True)
class Picture:
    """What the output's video stream carries over from the input's."""

    colour: Colour | None  # None: untagged (image folders)
    bit_depth: int  # of the decoded samples: 8, or more (10, 12, 16)
    display_matrix: tuple[int, ...] | None = None  # 9 integers, FFmpeg's AV_PKT_DATA_DISPLAYMATRIX
    sample_aspect_ratio: Fraction | None = None  # None or 1: square pixels
    mastering_display: MasteringDisplay | None = None
    content_light: ContentLight | None = None

    @property
    def is_hdr10(self) -> bool:
        return self.mastering_display is not None or self.content_light is not None


def read_side_data(frame) -> dict:
    """The side data of a decoded frame that `Picture` carries, by kind."""
    import av.sidedata.sidedata as kinds

    found = {}
    for entry in frame.side_data:
        data = bytes(entry)
        if entry.type == kinds.Type.DISPLAYMATRIX and len(data) >= 36:
            found["display_matrix"] = tuple(int(v) for v in np.frombuffer(data[:36], dtype=np.int32))
        elif entry.type == kinds.Type.MASTERING_DISPLAY_METADATA and len(data) >= 88:
            found["mastering_display"] = MasteringDisplay.from_side_data(data)
        elif entry.type == kinds.Type.CONTENT_LIGHT_LEVEL and len(data) >= 8:
            found["content_light"] = ContentLight.from_side_data(data)
    return found


def sample_bits(pix_fmt) -> int:
    """The bits of a decoded sample of this PyAV VideoFormat (8 for yuv420p, 10 for yuv420p10le)."""
    return max(component.bits for component in pix_fmt.components)
