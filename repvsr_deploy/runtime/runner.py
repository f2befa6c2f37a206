"""What every backend is (Polygraphy's runner shape): one graph of a model, run once per call, with
the same method set, owned like a file: `close()` frees what it holds once, and a closed runner
refuses to run in one line instead of failing somewhere inside its runtime.

Each backend (`TorchBackend`, `OnnxRuntimeBackend`, `OpenVINOBackend`, `TensorRTBackend`,
`BicubicBackend`) subclasses `GraphRunner`; sessions own the runners of one model's graphs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from ..errors import ReportedError
from ..modelinfo import ModelInfo
from .frame_layout import to_levels


class ClosesOnce:
    """A resource owned like a file: `close()`, or leaving its `with` block, frees it once."""

    closed = False

    def close(self) -> None:
        """Free what it holds, once; it works no more after."""
        if not self.closed:
            self.closed = True
            self._release()

    def _release(self) -> None:
        """What `close` frees, the one time it is called."""
        raise NotImplementedError

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class GraphRunner(ClosesOnce, ABC):
    """Runs one graph once: (lr [N,3,H,W], state, feature) -> (output, next state). The output is
    the HR frame on the host (float32, or levels for a graph with integer frames: `arrays`), or for
    a backward graph the feature, left where it is.
    `lr` is a host array or a frame `upload`ed before; `download=False` leaves the HR frame on the
    device (timing without host I/O), and `synchronize` waits for it."""

    name: str  # the backend's name in the registry (`backends.BACKENDS`)
    info: ModelInfo
    device: str  # where its state lives: cpu or cuda
    # its owner runs batches whose size changes from run to run (`StreamBatch`): a runtime that
    # compiles for the sizes it runs at leaves the batch's free, rather than compile at every change
    batch_varies: bool = False

    @abstractmethod
    def zero_state(self, height: int, width: int) -> list[Any]:
        """The state before a clip's first frame, for padded frames of this size."""

    @abstractmethod
    def upload(self, array: np.ndarray) -> Any:
        """An input (a frame, a feature) put where the backend computes."""

    def load_state(self, arrays: list[np.ndarray]) -> list[Any]:
        """A state given as host arrays, as `run` takes it (verification feeds torch's state)."""
        return [self.upload(array) for array in arrays]

    @abstractmethod
    def to_host(self, value: Any) -> np.ndarray:
        """An output left on the device (`download=False`, a backward feature), as float32 on the host."""

    def run(
        self, lr: Any, state: list[Any], feature: Any = None, download: bool = True, levels: Any = None
    ) -> tuple[Any, list[Any]]:
        """(output, next state) of one run of the graph; refused once closed. With `levels` (numpy's
        uint8 or uint16), the HR frame comes on the host as [N, sH, sW, 3] levels of that type, as
        video is encoded (`frame_layout.to_levels`)."""
        if self.closed:
            raise ReportedError(f"the {self.name} backend over model '{self.info.model}' is closed")
        if levels is None:
            return self._run(lr, state, feature, download)
        return self._run_levels(lr, state, feature, self._levels_type(levels))

    def _levels_type(self, levels: Any) -> np.dtype:
        """`levels` checked: uint8 or uint16, asked of a graph whose output is the HR frame."""
        dtype = np.dtype(levels)
        if dtype not in (np.uint8, np.uint16):
            raise ReportedError(f"levels of {dtype}: uint8 or uint16")
        if self.info.graph.output != "hr":
            raise ReportedError(
                f"model '{self.info.model}': its {self.info.graph.value} graph gives no HR frame to make levels of"
            )
        return dtype

    @abstractmethod
    def _run(self, lr: Any, state: list[Any], feature: Any, download: bool) -> tuple[Any, list[Any]]:
        """`run`, on a runner that is open."""

    def _run_levels(self, lr: Any, state: list[Any], feature: Any, levels: np.dtype) -> tuple[np.ndarray, list[Any]]:
        """`run` with `levels`: the HR frame converted on the host; a backend whose runtime can do it
        inside the graph overrides this."""
        out, next_state = self._run(lr, state, feature, True)
        return to_levels(out.transpose(0, 2, 3, 1), levels), next_state

    def synchronize(self) -> None:
        """Wait until what was asked of the device is computed (nothing to wait for on the host)."""
        return None

    @abstractmethod
    def _release(self) -> None:
        """Free what it holds (runtime objects, device buffers, streams, graphs)."""
