"""A graph proves itself: a moving clip through a backend, step by step, against the torch model.

Every step gives the backend the torch model's state (the same state), so what is compared is one
step's output, not a difference compounded through the recurrence. That matters for KSNet: its
channel selection is a hard TopK, and where two channels nearly tie, float32 rounding may order
them differently in torch and another runtime; fed back, such a step would drift on its own.
The backend is any of the session API's (onnxruntime for exported graphs, TensorRT for engines).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..clips import moving_clip
from ..modelinfo import FRAME_LEVELS, GraphKind
from ..models.base import BidirectionalVSRModel, VSRModel, zero_state
from ..runtime.backends import closing_all, open_graphs, runs_streams
from ..runtime.choice import Backend


@dataclass(frozen=True)
class StepError:
    graph: GraphKind
    frame: int
    error: float  # max abs difference of the HR frame from the torch model's (see step_errors)
    streams: int = 1  # how many streams the step ran as one batch


def step_errors(backends: dict, reference: VSRModel, frames: int, hw: tuple[int, int]) -> list[StepError]:
    """One StepError per graph and frame of a moving clip of `frames` frames of `hw` = (H, W), each
    the max abs difference of an HR frame. `backends`: GraphKind -> GraphRunner, as `open_graphs` gives them.
    A step graph that takes streams also runs its last frame as a batch of two: the frame, and the
    frame and its state mirrored left to right (another stream, in another state). Graphs with
    integer frames get the clip as levels (torch the same levels, normalised as the graph does) and
    are judged on their HR levels against torch's HR frame rounded so, in [0, 1] units."""
    reference.info().check_frame(*hw)
    top = FRAME_LEVELS.get(next(iter(backends.values())).info.io)
    clip = torch.from_numpy(moving_clip(frames, *hw))[:, None]
    if top is not None:  # frames the levels can carry exactly
        clip = torch.floor(clip * top + 0.5) / top
    model = reference.eval()
    with torch.no_grad():
        if isinstance(model, BidirectionalVSRModel):
            return _sweep_errors(model, backends, clip)
        backend = backends[GraphKind.STEP]
        errors, state = [], model.init_state(clip[0])
        for t, lr in enumerate(clip):
            hr, *state_next = model.step(lr, *state)
            errors.append(StepError(GraphKind.STEP, t, _difference(backend, hr, lr, state)))
            state_before, state = state, state_next
        if runs_streams(backend):
            lrs = torch.cat([clip[-1], clip[-1].flip(-1)])
            states = [torch.cat([s, s.flip(-1)]) for s in state_before]
            hr = model.step(lrs, *states)[0]
            errors.append(StepError(GraphKind.STEP, len(clip) - 1, _difference(backend, hr, lrs, states), streams=2))
        return errors


def _sweep_errors(model: BidirectionalVSRModel, backends: dict, clip: torch.Tensor) -> list[StepError]:
    """Both graphs judged by the HR frames: the forward graph's directly; the backward graph's
    feature by the HR frame torch's forward step makes of it (on torch's forward state), since a
    feature is not a frame and the limits are for frames. That matters for KSNet in fp16: where its
    channel scores nearly tie, the fp16 graph ranks a few channels differently from fp32 torch and
    the feature moves by ~10 % of its range, while the HR frame it leads to moves by < 1e-3."""
    features, backward_features = [None] * len(clip), [None] * len(clip)
    state = zero_state(clip[0], model.backward_state_specs)
    for t in reversed(range(len(clip))):
        features[t], *state_next = model.backward_step(clip[t], *state)
        backward_features[t] = torch.from_numpy(_run(backends[GraphKind.BACKWARD], clip[t], state))
        state = state_next
    errors, state = [], zero_state(clip[0], model.forward_state_specs)
    for t in range(len(clip)):
        hr, *state_next = model.forward_step(clip[t], features[t], *state)
        from_graph_feature = model.forward_step(clip[t], backward_features[t].to(hr.dtype), *state)[0]
        errors.append(StepError(GraphKind.BACKWARD, t, float((from_graph_feature - hr).abs().max())))
        errors.append(
            StepError(GraphKind.FORWARD, t, _difference(backends[GraphKind.FORWARD], hr, clip[t], state, features[t]))
        )
        state = state_next
    return errors


def _difference(backend, expected: torch.Tensor, lr: torch.Tensor, state, feature=None) -> float:
    """Max abs difference of one run of `backend`, fed what torch was fed, from torch's output."""
    got = _run(backend, lr, state, feature)
    top = FRAME_LEVELS.get(backend.info.io)
    if top is None:
        return float(np.abs(got - expected.numpy()).max())
    levels = torch.floor(expected.float().clamp(0, 1) * top + 0.5)
    return float(np.abs(got.astype(np.float64) - levels.numpy()).max()) / top


def _run(backend, lr: torch.Tensor, state, feature=None) -> np.ndarray:
    """One run of `backend` on torch's inputs and state (the frame as levels where the graph takes
    them); its output on the host (float32, or the HR levels of a graph with integer frames)."""
    top = FRAME_LEVELS.get(backend.info.io)
    frame = lr.numpy() if top is None else np.floor(lr.numpy() * top + 0.5).astype(backend.info.io)
    state = backend.load_state([s.numpy() for s in state])
    feature = None if feature is None else backend.upload(feature.numpy())
    out, _ = backend.run(backend.upload(frame), state, feature, download=False)
    return backend.to_host(out)


def compare_with_torch(onnx_path, reference: VSRModel, frames: int = 8, hw: tuple[int, int] = (64, 96)) -> float:
    """Max abs difference of an exported graph (and its backward twin) run by onnxruntime on the CPU
    from the torch model, over `frames` frames (see `step_errors`)."""
    with closing_all(open_graphs(onnx_path, Backend.OnnxRuntime("cpu"))) as graphs:
        return max(e.error for e in step_errors(graphs, reference, frames, hw))
