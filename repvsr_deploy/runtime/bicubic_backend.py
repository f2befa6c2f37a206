"""Bicubic x4 in place of a model: the reference every VSR table starts from, run through the same
session (frame contract, padding, cropping) and the same video pipeline as a model.

`repvsr-upscale --bicubic` uses it to give the baseline beside a model's output, and the cost of the
pipeline around a model (decoding, colour conversion, encoding). The interpolation is torch's
`interpolate(mode="bicubic")` (a = -0.75, half-pixel centres, borders repeated, as `repvsr-eval`'s
bicubic row, which this function computes too), written in numpy so that the runtime path needs no torch.
"""

from __future__ import annotations

import numpy as np

from ..modelinfo import ModelInfo
from .runner import GraphRunner

BICUBIC_INFO = ModelInfo(model="bicubic", scale=4, size_multiple=1, min_size=1, states=())
A = -0.75  # the cubic convolution kernel's parameter (torch's, and Keys's)


class BicubicBackend(GraphRunner):
    name = "bicubic"
    info = BICUBIC_INFO
    device = "cpu"

    def zero_state(self, height: int, width: int) -> list:
        return []

    def upload(self, array: np.ndarray) -> np.ndarray:
        return array

    def load_state(self, arrays: list[np.ndarray]) -> list:
        return []

    def to_host(self, value: np.ndarray) -> np.ndarray:
        return value

    def _run(self, lr: np.ndarray, state: list, feature, download: bool):
        return bicubic_upscale(lr, self.info.scale), []

    def _release(self) -> None:
        """Holds nothing."""


def bicubic_upscale(lr: np.ndarray, scale: int) -> np.ndarray:
    """Float frames [..., H, W] -> [..., H*scale, W*scale], clipped to [0, 1]: one matrix product
    along the rows, one along the columns, in float64 for float64 frames, else float32."""
    dtype = np.float64 if lr.dtype == np.float64 else np.float32
    height, width = lr.shape[-2:]
    rows, columns = (_interpolation(size, scale).astype(dtype) for size in (height, width))
    return np.clip(rows @ lr.astype(dtype, copy=False) @ columns.T, 0, 1)


def _interpolation(size: int, scale: int) -> np.ndarray:
    """The [size*scale, size] matrix upsampling by `scale`: each output sample a cubic mix of the
    four inputs around its centre, mapped back as (o + 0.5) / scale - 0.5, borders repeated."""
    centre = (np.arange(size * scale, dtype=np.float64) + 0.5) / scale - 0.5
    first = np.floor(centre)
    t = centre - first
    taps = np.clip(first.astype(np.int64)[:, None] + np.arange(-1, 3), 0, size - 1)
    weights = _cubic(np.stack([t + 1, t, 1 - t, 2 - t], axis=1))
    matrix = np.zeros((size * scale, size), np.float64)
    np.add.at(matrix, (np.arange(size * scale)[:, None], taps), weights)  # repeated border taps add up
    return matrix


def _cubic(d: np.ndarray) -> np.ndarray:
    """Keys's cubic convolution kernel at distances `d` (0 to 2)."""
    near = ((A + 2) * d - (A + 3)) * d * d + 1
    far = ((A * d - 5 * A) * d + 8 * A) * d - 4 * A
    return np.where(d <= 1, near, far)
