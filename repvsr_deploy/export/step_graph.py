"""A model's step graphs in ONNX, H and W dynamic; a streaming step's batch too (N streams at once).

A streaming model has one graph, `step`: `lr` + `state_*` in, `hr` + `next_state_*` out, each of
them [N, C, H', W'] for N independent streams (`runtime.streams`); its metadata says `streams`.
A bidirectional model has two: `backward` (`lr` + states in, `feature` + next states out) and
`forward` (`lr` + `feature` + states in, `hr` + next states out), written beside each other as
NAME.backward.onnx and NAME.onnx (`GraphSet.files`).

Opset 19: DeformConv needs >= 19, and TensorRT's parser reads GridSample from opset >= 20 as nearest.
IR version <= 10: onnxruntime 1.31 rejects the IR 14 that onnx 1.23 writes by default.
"""

from __future__ import annotations

import copy
import logging
import warnings
from dataclasses import replace
from pathlib import Path

import onnx
import torch
from torch import nn

from ..modelinfo import FRAME_LEVELS, MAX_STREAMS, GraphKind, ModelInfo
from ..models.base import VSRModel, zero_state
from ..models.fuse import fuse
from ..resolutions import round_up
from . import deform_conv, resize, warp
from .deform_conv import lower_deform_convs

OPSET = 19
MAX_IR_VERSION = 10
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}  # of each precision
LEVEL_DTYPES = {"uint8": torch.uint8, "uint16": torch.uint16}  # of integer frames


class _Graph(nn.Module):
    """One of a model's step methods as a module's forward: what torch.onnx.export traces. With
    integer frames (`ModelInfo.io`) the LR frame comes in as levels and is normalised here, and
    the HR frame goes out as levels, rounded here as `video.upscale.to_levels` rounds (half up)."""

    def __init__(self, model: VSRModel, info: ModelInfo):
        super().__init__()
        self.model = model
        self.graph = info.graph
        self.top = FRAME_LEVELS.get(info.io)
        self.levels = LEVEL_DTYPES.get(info.io)
        self.dtype = DTYPES[info.precision]

    def forward(self, lr, *inputs):
        if self.top is not None:
            lr = (lr.float() / self.top).to(self.dtype)  # in float32 first: 65535 is past float16's range
        out, *rest = self.model.graph_method(self.graph)(lr, *inputs)
        if self.top is not None and self.graph.output == "hr":
            out = torch.floor(out.float().clamp(0, 1) * self.top + 0.5).to(self.levels)
        return (out, *rest)


def write_lowered(model: VSRModel, source: Path, dcn: str, folder: Path) -> Path:
    """The graph(s) of `model` at `source` with their deformable convs lowered as `dcn` (see
    deform_conv), written into `folder` under the same names, so that a forward graph finds its
    backward twin beside it; returns where the graph at `source` went."""
    for file in model.graphs.files(source).values():
        onnx.save(lower_deform_convs(onnx.load(file), dcn), Path(folder) / file.name)
    return Path(folder) / Path(source).name


def _example_hw(model: VSRModel) -> tuple[int, int]:
    # not multiples of 8 and H != W, so the trace specializes on neither
    m = model.size_multiple
    return round_up(max(36, model.min_size), m), round_up(max(52, model.min_size), m)


def export_onnx(
    model: VSRModel, path, precision: str = "fp32", dcn: str = "standard", io: str = "float"
) -> dict[str, onnx.ModelProto]:
    """Write the fused graph(s) of `model`: `path`, and for bidirectional models its backward graph
    beside it (`GraphSet.files`); `dcn`: how deformable convolutions are lowered, "standard",
    "plugin" or "portable" (see `deform_conv`); `io`: frames as float, or as uint8 / uint16 levels.
    Not atomic: callers verify, then commit."""
    deployed = fuse(model) if not model.fused else copy.deepcopy(model)
    deployed = deployed.eval().to("cpu", DTYPES[precision])
    return {
        graph: _export_graph(deployed, _graph_info(deployed.info(precision, graph), io), file, dcn)
        for graph, file in deployed.graphs.files(path).items()
    }


def _graph_info(info: ModelInfo, io: str) -> ModelInfo:
    """The graph's metadata: a step that streams frame by frame takes a batch of streams (not a
    sweep of a bidirectional model, nor a centred window: those run one clip at a time)."""
    return replace(info, streams=info.graph is GraphKind.STEP and not info.delay, io=io)


def _export_graph(model: VSRModel, info: ModelInfo, path: Path, dcn: str) -> onnx.ModelProto:
    dtype = DTYPES[info.precision]
    height, width = _example_hw(model)
    # 2 streams, not 1: the trace would take a batch of 1 for a constant
    lr = torch.rand(2 if info.streams else 1, 3, height, width, dtype=dtype)
    state = zero_state(lr, info.states)
    if info.io in FRAME_LEVELS:
        lr = (lr.float() * FRAME_LEVELS[info.io]).round().to(LEVEL_DTYPES[info.io])
    h = torch.export.Dim("H", min=model.min_size, max=8192)
    w = torch.export.Dim("W", min=model.min_size, max=8192)
    batch = {0: torch.export.Dim("N", min=1, max=MAX_STREAMS)} if info.streams else {}
    lr_dims = {**batch, 2: h, 3: w}
    state_dims = tuple({**batch, 2: h * s.scale, 3: w * s.scale} for s in info.states)
    args, dynamic_shapes = (lr, *state), (lr_dims, state_dims)
    if info.graph is GraphKind.FORWARD:
        feature = torch.zeros(1, model.feature_channels, height, width, dtype=dtype)
        args, dynamic_shapes = (lr, feature, *state), (lr_dims, (lr_dims, *state_dims))

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    with warnings.catch_warnings():  # torch-internal deprecations and axis-renaming notes
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*axis name.*")
        program = torch.onnx.export(
            _Graph(model, info).eval(),
            args,
            input_names=info.input_names,
            output_names=info.output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            custom_translation_table={**deform_conv.TRANSLATIONS, **resize.TRANSLATIONS, **warp.TRANSLATIONS},
            dynamo=True,
            verbose=False,
        )
    proto = lower_deform_convs(program.model_proto, dcn)
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    proto.producer_name = "repvsr-deploy"
    onnx.helper.set_model_props(proto, info.to_metadata())
    onnx.checker.check_model(proto, full_check=True)
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx.save(proto, path)
    return proto
