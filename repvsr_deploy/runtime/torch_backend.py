"""PyTorch backend: runs one of a VSRModel's step methods directly (any form, CPU or CUDA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ReportedError, require_torch


def load_model(source):
    """A VSRModel as it is, or the one a checkpoint path holds, fused for deployment."""
    if isinstance(source, (str, Path)):
        require_torch("running a checkpoint")
        from ..models import fuse, load_checkpoint

        return fuse(load_checkpoint(source))
    return source


class TorchBackend:
    name = "torch"

    def __init__(self, model, device: str = "auto", graph: str | None = None):
        self.torch = require_torch("the torch backend")
        from ..models.base import STEP_METHODS

        self.device = self._device(device)
        self.model = model.eval().to(self.device)
        self.graph = graph or model.graphs[-1]
        self.method = getattr(self.model, STEP_METHODS[self.graph])
        self.info = model.info(graph=self.graph)

    def _device(self, device: str) -> str:
        cuda = self.torch.cuda.is_available()
        if device == "auto":
            return "cuda" if cuda else "cpu"
        if device == "cuda" and not cuda:
            raise ReportedError("torch here has no CUDA device (needs an NVIDIA GPU and a CUDA build of torch)")
        if device not in ("cpu", "cuda"):
            raise ReportedError(f"unknown device '{device}' (known: auto, cpu, cuda)")
        return device

    @property
    def _dtype(self):
        return next(self.model.parameters()).dtype

    def zero_state(self, height: int, width: int) -> list:
        from ..models.base import zero_state

        lr = self.torch.zeros(1, 3, height, width, dtype=self._dtype, device=self.device)
        return list(zero_state(lr, self.info.states))

    def run(self, lr: np.ndarray, state: list, feature=None) -> tuple:
        inputs = [self.torch.from_numpy(lr).to(self.device, self._dtype)]
        if feature is not None:
            inputs.append(feature)
        with self.torch.inference_mode():
            out, *next_state = self.method(*inputs, *state)
        if self.graph == "backward":
            return out, next_state
        return out.float().cpu().numpy(), next_state
