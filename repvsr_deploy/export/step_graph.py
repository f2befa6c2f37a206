"""One recurrent step as an ONNX graph: `lr` + `state_*` in, `hr` + `next_state_*` out, H and W dynamic.

Opset 19: DeformConv needs >= 19, and TensorRT's parser reads GridSample from opset >= 20 as nearest.
IR version <= 10: onnxruntime 1.31 rejects the IR 14 that onnx 1.23 writes by default.
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from ..models.base import VSRModel
from ..models.fuse import fuse

OPSET = 19
MAX_IR_VERSION = 10
PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16}


class _Step(nn.Module):
    """`model.step` as a module's forward: what torch.onnx.export traces."""

    def __init__(self, model: VSRModel):
        super().__init__()
        self.model = model

    def forward(self, lr, *state):
        return self.model.step(lr, *state)


def _example_hw(model: VSRModel) -> tuple[int, int]:
    # not multiples of 8 and H != W, so the trace specializes on neither
    m = model.size_multiple
    return -(-max(36, model.min_size) // m) * m, -(-max(52, model.min_size) // m) * m


def export_onnx(model: VSRModel, path, precision: str = "fp32") -> onnx.ModelProto:
    """Write the fused step graph of `model` to `path` (not atomically: callers verify, then commit)."""
    deployed = fuse(model) if not model.fused else copy.deepcopy(model)
    deployed = deployed.eval().to("cpu", PRECISIONS[precision])
    info = deployed.info(precision)
    height, width = _example_hw(deployed)
    lr = torch.rand(1, 3, height, width, dtype=PRECISIONS[precision])
    state = deployed.init_state(lr)

    h = torch.export.Dim("H", min=deployed.min_size, max=8192)
    w = torch.export.Dim("W", min=deployed.min_size, max=8192)
    dynamic_shapes = ({2: h, 3: w}, tuple({2: h * s.scale, 3: w * s.scale} for s in info.states))

    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    with warnings.catch_warnings():  # torch-internal deprecations and axis-renaming notes
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*axis name.*")
        program = torch.onnx.export(
            _Step(deployed).eval(),
            (lr, *state),
            input_names=["lr", *(s.input_name for s in info.states)],
            output_names=["hr", *(s.output_name for s in info.states)],
            dynamic_shapes=dynamic_shapes,
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    proto.ir_version = min(proto.ir_version, MAX_IR_VERSION)
    proto.producer_name = "repvsr-deploy"
    onnx.helper.set_model_props(proto, info.to_metadata())
    onnx.checker.check_model(proto, full_check=True)
    proto = onnx.shape_inference.infer_shapes(proto, check_type=True, strict_mode=True)
    onnx.save(proto, Path(path))
    return proto
