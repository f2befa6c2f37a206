"""An exported graph proves itself: a moving clip through onnxruntime against the torch model."""

from __future__ import annotations

import numpy as np

from ..clips import moving_clip
from ..models.base import VSRModel
from ..runtime.session import open_session


def compare_with_torch(onnx_path, reference: VSRModel, frames: int = 8, hw: tuple[int, int] = (64, 96)) -> float:
    """Max abs difference of the HR frames of a `frames`-long clip, both from a zero state; a
    bidirectional model runs the whole clip as one window."""
    clip = moving_clip(frames, *hw)
    window = max(frames, 2)
    graph = open_session(onnx_path, "onnxruntime", "cpu", window)
    torch_model = open_session(reference, "torch", "cpu", window)
    return max(float(np.abs(a - b).max()) for a, b in zip(graph.run(clip), torch_model.run(clip)))
