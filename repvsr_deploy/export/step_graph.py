"""A model's step graphs in ONNX, H and W dynamic.

A streaming model has one graph, `step`: `lr` + `state_*` in, `hr` + `next_state_*` out.
A bidirectional model has two: `backward` (`lr` + states in, `feature` + next states out) and
`forward` (`lr` + `feature` + states in, `hr` + next states out), written beside each other as
NAME.backward.onnx and NAME.onnx; the forward graph's metadata names its backward graph.

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

from ..modelinfo import ModelInfo
from ..models.base import STEP_METHODS, VSRModel, zero_state
from ..models.fuse import fuse
from .deform_conv import TRANSLATIONS, lower_deform_convs

OPSET = 19
MAX_IR_VERSION = 10
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}  # of each precision


class _Graph(nn.Module):
    """One of a model's step methods as a module's forward: what torch.onnx.export traces."""

    def __init__(self, model: VSRModel, graph: str):
        super().__init__()
        self.model = model
        self.method = STEP_METHODS[graph]

    def forward(self, lr, *inputs):
        return getattr(self.model, self.method)(lr, *inputs)


def graphs_of(model: VSRModel, path: Path) -> dict[str, Path]:
    """{graph: file}: `step` at `path` for streaming models; a bidirectional model's `forward` graph
    at `path` and its `backward` graph beside it, as NAME.backward.onnx."""
    path = Path(path)
    return {graph: path if graph == model.graphs[-1] else path.with_name(f"{path.stem}.{graph}{path.suffix}")
            for graph in model.graphs}


def write_lowered(model: VSRModel, source: Path, dcn: str, folder: Path) -> Path:
    """The graph(s) of `model` at `source` with their deformable convs lowered as `dcn` (see
    deform_conv), written into `folder` under the same names, so that a forward graph still names
    its backward twin; returns where the graph at `source` went."""
    for file in graphs_of(model, source).values():
        onnx.save(lower_deform_convs(onnx.load(file), dcn), Path(folder) / file.name)
    return Path(folder) / Path(source).name


def _example_hw(model: VSRModel) -> tuple[int, int]:
    # not multiples of 8 and H != W, so the trace specializes on neither
    m = model.size_multiple
    return -(-max(36, model.min_size) // m) * m, -(-max(52, model.min_size) // m) * m


def export_onnx(model: VSRModel, path, precision: str = "fp32", dcn: str = "standard") -> dict[str, onnx.ModelProto]:
    """Write the fused graph(s) of `model`: `path`, and for bidirectional models its backward graph
    beside it (see `graphs_of`); `dcn`: how deformable convolutions are lowered, "standard",
    "plugin" or "portable" (see `deform_conv`). Not atomic: callers verify, then commit."""
    deployed = fuse(model) if not model.fused else copy.deepcopy(model)
    deployed = deployed.eval().to("cpu", DTYPES[precision])
    files = graphs_of(deployed, path)
    protos = {}
    for graph, file in files.items():
        info = deployed.info(precision, graph)
        if graph == "forward":
            info = replace(info, backward_graph=files["backward"].name)
        protos[graph] = _export_graph(deployed, graph, info, file, dcn)
    return protos


def _export_graph(model: VSRModel, graph: str, info: ModelInfo, path: Path, dcn: str) -> onnx.ModelProto:
    dtype = DTYPES[info.precision]
    height, width = _example_hw(model)
    lr = torch.rand(1, 3, height, width, dtype=dtype)
    state = zero_state(lr, info.states)
    h = torch.export.Dim("H", min=model.min_size, max=8192)
    w = torch.export.Dim("W", min=model.min_size, max=8192)
    lr_dims, state_dims = {2: h, 3: w}, tuple({2: h * s.scale, 3: w * s.scale} for s in info.states)
    input_names = ["lr", *(s.input_name for s in info.states)]
    output_names = ["hr", *(s.output_name for s in info.states)]
    args, dynamic_shapes = (lr, *state), (lr_dims, state_dims)
    if graph == "backward":
        output_names[0] = "feature"
    if graph == "forward":
        feature = torch.zeros(1, model.feature_channels, height, width, dtype=dtype)
        args, dynamic_shapes = (lr, feature, *state), (lr_dims, (lr_dims, *state_dims))
        input_names.insert(1, "feature")

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    with warnings.catch_warnings():  # torch-internal deprecations and axis-renaming notes
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*axis name.*")
        program = torch.onnx.export(
            _Graph(model, graph).eval(),
            args,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            custom_translation_table=TRANSLATIONS,
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
