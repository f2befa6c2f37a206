"""Optimization profiles: which frame sizes an engine accepts and which it is tuned for.

One profile per requested resolution, nested: each accepts every frame from the model's minimum
size up to its own size, and is tuned (opt) at its own size. So any frame up to the largest
requested one runs, and the common sizes run with kernels chosen for them; a session picks the
smallest profile that holds its frame. (One profile spanning all sizes would tune for one size
only; one exact-size profile each would refuse every other size.)
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from ..errors import ReportedError, parameter
from ..modelinfo import ModelInfo, TensorSpec
from ..resolutions import RESOLUTIONS, round_up


@dataclass(frozen=True)
class Profile:
    name: str  # 720p, or WxH for a custom LR size
    lr_hw: tuple[int, int]  # the largest LR frame it takes, and the one it is tuned for


def parse_profiles(text: str, size_multiple: int = 1) -> list[Profile]:
    """`720p,1080p,4k` (the tables' LR sizes) or LR sizes as WxH, smallest first."""
    profiles = []
    for item in (part.strip().lower() for part in text.split(",") if part.strip()):
        if item in RESOLUTIONS:
            hw = RESOLUTIONS[item]
        else:
            try:
                width, height = (int(v) for v in item.split("x"))
            except ValueError:
                raise ReportedError(
                    f"{parameter('profiles')}: '{item}' is neither {', '.join(RESOLUTIONS)} nor an LR size like 640x360"
                ) from None
            hw = (height, width)
        profiles.append(Profile(item, (round_up(hw[0], size_multiple), round_up(hw[1], size_multiple))))
    if not profiles:
        raise ReportedError(f"{parameter('profiles')}: no resolution given")
    return sorted(profiles, key=lambda p: p.lr_hw[0] * p.lr_hw[1])


def graph_inputs(graph: onnx.ModelProto, info: ModelInfo) -> list[TensorSpec]:
    """The graph's inputs with their channels (from the graph) and scales (states from the metadata)."""
    scales = {s.input_name: s.scale for s in info.states}
    inputs = []
    for value in graph.graph.input:
        channels = value.type.tensor_type.shape.dim[1].dim_value
        inputs.append(TensorSpec(value.name, channels, scales.get(value.name, 1)))
    return inputs


def input_shapes(inp: TensorSpec, profile: Profile, min_size: int, streams: int = 1) -> tuple[tuple[int, ...], ...]:
    """(min, opt, max) shapes of one input under one profile: from one stream of the smallest frame to
    `streams` streams of the profile's size, tuned for the latter (the batch a server keeps full)."""
    largest = inp.shape(*profile.lr_hw, streams)
    return inp.shape(min_size, min_size), largest, largest


def select_profile(profiles: list[Profile], frame_hw: tuple[int, int], source: str) -> int:
    """Index of the smallest profile that holds an LR frame of `frame_hw` (padded)."""
    for index, profile in enumerate(profiles):
        if frame_hw[0] <= profile.lr_hw[0] and frame_hw[1] <= profile.lr_hw[1]:
            return index
    largest = profiles[-1]
    raise ReportedError(
        f"{source}: a {frame_hw[1]}x{frame_hw[0]} frame is larger than its largest profile, {largest.name} "
        f"({largest.lr_hw[1]}x{largest.lr_hw[0]}); rebuild with repvsr-trt build --profiles"
    )
