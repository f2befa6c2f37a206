"""Bicubic x4 in place of a model: the reference every VSR table starts from, run through the same
session (frame contract, padding, cropping) and the same video pipeline as a model.

`repvsr-upscale --bicubic` uses it to give the baseline beside a model's output, and the cost of the
pipeline around a model (decoding, colour conversion, encoding). The interpolation is torch's
(a = -0.75, half-pixel centres, as `repvsr-eval`'s bicubic row and MATLAB's imresize without antialiasing).
"""

from __future__ import annotations

import numpy as np

from ..errors import require_torch
from ..modelinfo import ModelInfo

BICUBIC_INFO = ModelInfo(model="bicubic", scale=4, size_multiple=1, min_size=1, states=())


class BicubicBackend:
    name = "bicubic"
    info = BICUBIC_INFO
    device = "cpu"

    def __init__(self):
        self.torch = require_torch("bicubic upscaling")

    def zero_state(self, height: int, width: int) -> list:
        return []

    def run(self, lr: np.ndarray, state: list, feature=None, download: bool = True):
        from ..data.degrade import bicubic_upscale

        with self.torch.no_grad():
            hr = bicubic_upscale(self.torch.from_numpy(lr), self.info.scale)
        return hr.numpy(), []

    def synchronize(self) -> None:
        """Computes on the host: nothing to wait for."""

    def close(self) -> None:
        """Holds nothing."""
