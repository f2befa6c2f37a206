"""An exported graph proves itself: a moving clip through onnxruntime against the torch model."""

from __future__ import annotations

import numpy as np

from ..clips import moving_clip
from ..models.base import VSRModel
from ..runtime.onnxruntime_backend import OnnxRuntimeBackend
from ..runtime.session import Session
from ..runtime.torch_backend import TorchBackend


def compare_with_torch(onnx_path, reference: VSRModel, frames: int = 8, hw: tuple[int, int] = (64, 96)) -> float:
    """Max abs difference of the HR frames over `frames` recurrent steps, both from a zero state."""
    graph = Session(OnnxRuntimeBackend(onnx_path, device="cpu"))
    torch_model = Session(TorchBackend(reference, device="cpu"))
    error = 0.0
    for frame in moving_clip(frames, *hw):
        error = max(error, float(np.abs(graph.step(frame) - torch_model.step(frame)).max()))
    return error
