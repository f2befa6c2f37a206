"""An exported graph proves itself: a moving clip through onnxruntime against the torch model.

Every step gives the graph the torch model's state (the same state), so what is compared is one
step's output, not a difference compounded through the recurrence. That matters for KSNet: its
channel selection is a hard TopK, and where two channels nearly tie, float32 rounding may order
them differently in torch and onnxruntime; fed back, such a step would drift on its own.
"""

from __future__ import annotations

import numpy as np
import torch

from ..clips import moving_clip
from ..models.base import BidirectionalVSRModel, VSRModel, zero_state
from ..runtime.onnxruntime_backend import import_onnxruntime
from .step_graph import graphs_of


def compare_with_torch(onnx_path, reference: VSRModel, frames: int = 8, hw: tuple[int, int] = (64, 96)) -> float:
    """Max abs difference of the graph's outputs (HR frames; for bidirectional models also the
    backward features) from the torch model's, over `frames` frames of a moving clip."""
    reference.info().check_frame(*hw)
    clip = torch.from_numpy(moving_clip(frames, *hw))[:, None]
    model = reference.eval()
    graphs = {graph: _Graph(path) for graph, path in graphs_of(reference, onnx_path).items()}
    with torch.no_grad():
        if isinstance(model, BidirectionalVSRModel):
            return _compare_sweeps(model, graphs, clip)
        state, error = model.init_state(clip[0]), 0.0
        for lr in clip:
            hr, *state_next = model.step(lr, *state)
            error = max(error, graphs["step"].difference(hr, lr, state))
            state = state_next
        return error


def _compare_sweeps(model: BidirectionalVSRModel, graphs: dict, clip: torch.Tensor) -> float:
    error, features = 0.0, [None] * len(clip)
    state = zero_state(clip[0], model.backward_state_specs)
    for t in reversed(range(len(clip))):
        features[t], *state_next = model.backward_step(clip[t], *state)
        error = max(error, graphs["backward"].difference(features[t], clip[t], state))
        state = state_next
    state = zero_state(clip[0], model.forward_state_specs)
    for t in range(len(clip)):
        hr, *state_next = model.forward_step(clip[t], features[t], *state)
        error = max(error, graphs["forward"].difference(hr, clip[t], state, features[t]))
        state = state_next
    return error


class _Graph:
    """One graph in onnxruntime on the CPU, fed numpy arrays by input name, in its own dtypes."""

    def __init__(self, path):
        ort = import_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        float16 = {i.name: i.type == "tensor(float16)" for i in self.session.get_inputs()}
        self.dtypes = {name: np.float16 if half else np.float32 for name, half in float16.items()}
        self.state_names = [i.name for i in self.session.get_inputs() if i.name.startswith("state_")]

    def difference(self, expected: torch.Tensor, lr: torch.Tensor, state, feature=None) -> float:
        feeds = {"lr": lr, **dict(zip(self.state_names, state))}
        if feature is not None:
            feeds["feature"] = feature
        feeds = {name: value.numpy().astype(self.dtypes[name]) for name, value in feeds.items()}
        got = self.session.run(None, feeds)[0].astype(np.float32)
        return float(np.abs(got - expected.numpy()).max())
