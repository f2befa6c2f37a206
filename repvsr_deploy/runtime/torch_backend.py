"""PyTorch backend: runs a VSRModel's `step` directly (training form or deploy form, CPU or CUDA)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ReportedError, require_torch


class TorchBackend:
    name = "torch"

    def __init__(self, model, device: str = "auto"):
        self.torch = require_torch("the torch backend")
        self.device = self._device(device)
        self.model = model.eval().to(self.device)
        self.info = model.info()

    @classmethod
    def from_source(cls, source, device: str = "auto") -> TorchBackend:
        """From a VSRModel as it is, or from a checkpoint path (fused for deployment)."""
        if isinstance(source, (str, Path)):
            from ..models import fuse, load_checkpoint

            source = fuse(load_checkpoint(source))
        return cls(source, device)

    def _device(self, device: str) -> str:
        cuda = self.torch.cuda.is_available()
        if device == "auto":
            return "cuda" if cuda else "cpu"
        if device == "cuda" and not cuda:
            raise ReportedError("torch here has no CUDA device (needs an NVIDIA GPU and a CUDA build of torch)")
        if device not in ("cpu", "cuda"):
            raise ReportedError(f"unknown device '{device}' (known: auto, cpu, cuda)")
        return device

    def zero_state(self, height: int, width: int) -> list:
        dtype = next(self.model.parameters()).dtype
        lr = self.torch.zeros(1, 3, height, width, dtype=dtype, device=self.device)
        return list(self.model.init_state(lr))

    def run(self, lr: np.ndarray, state: list) -> tuple[np.ndarray, list]:
        dtype = next(self.model.parameters()).dtype
        with self.torch.inference_mode():
            hr, *next_state = self.model.step(self.torch.from_numpy(lr).to(self.device, dtype), *state)
        return hr.float().cpu().numpy(), next_state
