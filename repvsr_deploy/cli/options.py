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


def encoding_options(command):
    """The output video's encoder and carried-stream options (repvsr-upscale, repvsr-serve client)."""
    options = [
        click.option("--codec", help="Video encoder (FFmpeg's name) [default: the container's for the bit depth]."),
        click.option(
            "--crf", type=click.IntRange(0, 63), help="Encoder quality, for encoders with a crf [default: 18]."
        ),
        click.option(
            "--preset",
            help="Encoder speed, for encoders with presets [default: libx264 veryfast, libx265 faster, others theirs].",
        ),
        click.option("--bit-depth", type=click.Choice(["8", "10"]), help="Of the output video [default: the input's]."),
        click.option(
            "--audio-codec", help="Re-encode the audio with this encoder (for a container that cannot hold it)."
        ),
        click.option(
            "--drop-stream",
            "drop_streams",
            multiple=True,
            metavar="INDEX|audio|subtitle",
            help="Leave an input stream out (its index, or every audio or subtitle stream); repeatable.",
        ),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def encoding_from(codec, crf, preset, bit_depth, audio_codec, container_format=None):
    """The `Encoding` that `encoding_options` give (and repvsr-upscale's --format)."""
    from ..video.encoders import Encoding

    return Encoding(codec, crf, preset, bit_depth and int(bit_depth), audio_codec, container_format)
