"""PyTorch backend: runs one of a VSRModel's step methods directly (any form, CPU or CUDA).

On CUDA it is the fast path for GPUs without TensorRT: channels-last tensors, fp16 if asked, and a
streaming step captured as CUDA graphs per frame size and number of streams whose replay also writes the next state into
the graph's own GPU tensors (two sets, read one, write the other), so one launch runs a frame.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import ReportedError, require_torch
from ..modelinfo import GraphKind
from .choice import check_torch_precision
from .runner import GraphRunner

if TYPE_CHECKING:
    import torch


def load_model(source):
    """A VSRModel as it is, or the one a checkpoint path holds, fused for deployment."""
    if isinstance(source, (str, Path)):
        require_torch("running a checkpoint")
        from ..models import fuse, load_checkpoint

        return fuse(load_checkpoint(source))
    return source


class TorchBackend(GraphRunner):
    name = "torch"

    def __init__(
        self,
        model,
        device: str = "auto",
        graph: GraphKind | None = None,
        precision: str = "fp32",
        cuda_graphs: bool = True,
    ):
        self.torch = require_torch("the torch backend")
        check_torch_precision(precision)
        self.device = self._device(device)
        self.dtype = self.torch.float16 if precision == "fp16" else self.torch.float32
        self.memory_format = self.torch.channels_last if self.device == "cuda" else self.torch.contiguous_format
        self.model = model.eval().to(self.device, self.dtype, memory_format=self.memory_format)
        self.info = replace(model.info(precision, graph), streams=True)  # the model takes any batch
        self.method = self.model.graph_method(self.info.graph)
        self.cuda_graphs = cuda_graphs and self.device == "cuda" and self.info.graph is GraphKind.STEP
        self._captured: dict[tuple[int, ...], CapturedStep] = {}

    def _device(self, device: str) -> str:
        cuda = self.torch.cuda.is_available()
        if device == "auto":
            return "cuda" if cuda else "cpu"
        if device == "cuda" and not cuda:
            raise ReportedError("torch here has no CUDA device (needs an NVIDIA GPU and a CUDA build of torch)")
        return device

    def _tensor(self, shape) -> torch.Tensor:
        return self.torch.zeros(shape, dtype=self.dtype, device=self.device).contiguous(
            memory_format=self.memory_format
        )

    def zero_state(self, height: int, width: int) -> list:
        return [self._tensor(spec.shape(height, width)) for spec in self.info.states]

    def upload(self, array: np.ndarray):
        return self.torch.from_numpy(array).to(self.device, self.dtype).contiguous(memory_format=self.memory_format)

    def to_host(self, value) -> np.ndarray:
        return value.float().cpu().numpy()

    def _run(self, lr, state: list, feature, download: bool) -> tuple:
        if isinstance(lr, np.ndarray):
            lr = self.upload(lr)
        with self.torch.inference_mode():
            if self.cuda_graphs:
                out, next_state = self._replay(lr, state)
            else:
                out, *next_state = self.method(lr, *([feature] if feature is not None else []), *state)
        if self.info.graph is GraphKind.BACKWARD or not download:
            return out, next_state
        return out.float().cpu().numpy(), next_state

    def synchronize(self) -> None:
        if self.device == "cuda":
            self.torch.cuda.synchronize()

    def _release(self) -> None:
        """Release the model and the CUDA graphs captured for it (their memory pools with them)."""
        for captured in self._captured.values():
            captured.reset()
        self._captured.clear()
        self.model = self.method = None

    def _replay(self, lr, state: list):
        shape = tuple(lr.shape)  # streams and frame size
        if shape not in self._captured:
            self._captured[shape] = CapturedStep(self.torch, self.method, lr, state)
        captured = self._captured[shape]
        return captured.replay(lr, state), captured.state


class PingPongState:
    """The recurrent state in two sets of tensors: a step reads one set and writes the next state into
    the other. Copying the next state over the state it came from would overwrite slots still to be
    read: KSNet passes f on as f_prev, so once slot f holds the new f, f_prev would get it too. The
    TensorRT backend keeps its state the same way."""

    def __init__(self, state: list):
        self.sets = ([s.clone() for s in state], [s.clone() for s in state])
        self.current = 0  # the set holding the state

    @property
    def state(self) -> list:
        return self.sets[self.current]

    def load(self, state: list) -> None:
        """Take `state` as the state, unless it is the one held (a new clip's, or another session's)."""
        if state is not self.state:
            for static, value in zip(self.state, state):
                static.copy_(value)

    def step(self, method, lr, reads: int):
        """`method` on set `reads`, its next state written into the other set; returns its output."""
        out, *following = method(lr, *self.sets[reads])
        for target, value in zip(self.sets[1 - reads], following):
            target.copy_(value)
        return out

    def advance(self, method, lr):
        """One step from the held state; the other set then holds the state."""
        out = self.step(method, lr, self.current)
        self.current = 1 - self.current
        return out


class CapturedStep:
    """One streaming step on one frame size as two CUDA graphs over static tensors, one per state set
    (see PingPongState): a replay reads `lr` and the held state and leaves `hr` and the next state."""

    def __init__(self, torch, method, lr, state: list):
        self.lr = lr.clone()
        self.states = PingPongState(state)
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up outside the capture (cuDNN picks its algorithms), as torch asks
            for _ in range(2):
                method(self.lr, *self.states.state)
        torch.cuda.current_stream().wait_stream(side)
        self.graphs, self.outputs = [], []
        for reads in (0, 1):
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph):
                self.outputs.append(self.states.step(method, self.lr, reads))
            self.graphs.append(graph)

    @property
    def state(self) -> list:
        return self.states.state

    def reset(self) -> None:
        """Free the graphs (and what they allocated)."""
        for graph in self.graphs:
            graph.reset()
        self.graphs, self.outputs = [], []

    def replay(self, lr, state: list):
        if lr is not self.lr:
            self.lr.copy_(lr)
        self.states.load(state)
        reads = self.states.current
        self.graphs[reads].replay()
        self.states.current = 1 - reads
        return self.outputs[reads]
