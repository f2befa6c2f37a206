"""A stateful session over one recurrent step graph, whatever runs it (torch, onnxruntime, TensorRT).

The session owns what every backend needs alike: frame layout and dtype, padding to the model's
size multiple and cropping the result, the size checks, and carrying the state from one step to
the next. A backend only runs one step; its state values stay wherever it keeps them (a GPU).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import ReportedError
from ..modelinfo import ModelInfo


class Backend(Protocol):
    """Runs one step: (lr [1,3,H,W], state) -> (hr [1,3,sH,sW] float32 on the host, next state)."""

    name: str
    info: ModelInfo

    def zero_state(self, height: int, width: int) -> list[Any]: ...

    def run(self, lr: np.ndarray, state: list[Any]) -> tuple[np.ndarray, list[Any]]: ...


class Session:
    """Feed LR frames one at a time with `step`; `reset` before an unrelated clip or a new frame size."""

    def __init__(self, backend: Backend):
        self.backend = backend
        self.info = backend.info
        self.reset()

    def reset(self) -> None:
        self._frame_hw: tuple[int, int] | None = None
        self._state: list[Any] = []

    def step(self, frame: np.ndarray) -> np.ndarray:
        """One RGB frame in [0, 1], [3,H,W] or [1,3,H,W] -> the HR frame [1,3,sH,sW] float32."""
        lr = _as_batch(frame)
        height, width = lr.shape[-2:]
        if self._frame_hw is None:
            self._check_size(height, width)
            self._frame_hw = (height, width)
            self._state = self.backend.zero_state(*self._padded_hw(height, width))
        elif self._frame_hw != (height, width):
            raise ReportedError(
                f"frame size changed from {self._frame_hw[1]}x{self._frame_hw[0]} to {width}x{height} "
                "within a clip; reset() the session first"
            )
        hr, self._state = self.backend.run(self._pad(lr), self._state)
        scale = self.info.scale
        return hr[..., : height * scale, : width * scale]

    def _check_size(self, height: int, width: int) -> None:
        least = self.info.min_size
        if height < least or width < least:
            raise ReportedError(
                f"frame of {width}x{height} is smaller than model '{self.info.model}' accepts "
                f"({least}x{least} at least)"
            )

    def _padded_hw(self, height: int, width: int) -> tuple[int, int]:
        m = self.info.size_multiple
        return -(-height // m) * m, -(-width // m) * m

    def _pad(self, lr: np.ndarray) -> np.ndarray:
        height, width = lr.shape[-2:]
        padded_h, padded_w = self._padded_hw(height, width)
        if (padded_h, padded_w) == (height, width):
            return lr
        return np.pad(lr, ((0, 0), (0, 0), (0, padded_h - height), (0, padded_w - width)), mode="edge")


def _as_batch(frame: np.ndarray) -> np.ndarray:
    frame = np.asarray(frame, dtype=np.float32)
    batch = frame[None] if frame.ndim == 3 else frame
    if batch.ndim != 4 or batch.shape[:2] != (1, 3):
        raise ReportedError(f"a frame must be RGB [3,H,W] or [1,3,H,W], got shape {list(frame.shape)}")
    return np.ascontiguousarray(batch)


def open_session(source, backend: str = "auto", device: str = "auto") -> Session:
    """A session on an exported step graph (`.onnx`: onnxruntime), or on a model or checkpoint (torch).

    backend: "auto" (by what `source` is), "onnxruntime" or "torch"; device: "auto", "cpu" or "cuda".
    """
    is_graph = isinstance(source, (str, Path)) and Path(source).suffix == ".onnx"
    if backend == "auto":
        backend = "onnxruntime" if is_graph else "torch"
    if backend == "onnxruntime":
        from .onnxruntime_backend import OnnxRuntimeBackend

        return Session(OnnxRuntimeBackend(source, device))
    if backend == "torch":
        from .torch_backend import TorchBackend

        return Session(TorchBackend.from_source(source, device))
    raise ReportedError(f"unknown backend '{backend}' (known: onnxruntime, torch)")
