"""Option types shared by the commands."""

import math

import click

from ..resolutions import MAX_LR_SIDE


class FrameSize(click.ParamType):
    """`WxH` on the command line (as video sizes are written) -> (H, W), as tensors are shaped."""

    name = "WxH"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        try:
            width, height = (int(part) for part in value.lower().split("x"))
            if 0 < width <= MAX_LR_SIDE and 0 < height <= MAX_LR_SIDE:
                return height, width
        except ValueError:
            pass
        self.fail(f"'{value}' is not a frame size like 320x180 (sides 1..{MAX_LR_SIDE})", param, ctx)


class FiniteRange(click.FloatRange):
    """A float range that refuses nan and inf, which a plain range lets through (nan compares
    false with every bound)."""

    def convert(self, value, param, ctx):
        value = super().convert(value, param, ctx)
        if not math.isfinite(value):
            self.fail(f"{value} is not a finite number", param, ctx)
        return value
