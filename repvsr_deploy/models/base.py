"""The interface every video super-resolution model of the toolkit shares (DESIGN.md, Public Python API)."""

import torch
from torch import Tensor, nn

from ..modelinfo import ModelInfo, StateSpec


class VSRModel(nn.Module):
    """A recurrent VSR network: `step` maps one LR frame and the state to the HR frame and the next state.

    `step` is what gets exported; `forward` runs a whole clip for training.
    Subclasses set `state_specs` and may narrow `size_multiple` / `min_size`.
    """

    scale: int = 4
    size_multiple: int = 1  # H and W must divide by this; sessions pad and crop
    min_size: int = 8  # smallest H and W the network accepts
    state_specs: tuple[StateSpec, ...] = ()

    def __init__(self):
        super().__init__()
        self.name = type(self).__name__.lower()  # the registry overwrites both
        self.config: dict = {}
        self.fused = False

    def init_state(self, lr: Tensor) -> tuple[Tensor, ...]:
        """Zero state for a first frame shaped like `lr` [B, 3, H, W]."""
        batch, _, height, width = lr.shape
        return tuple(
            lr.new_zeros(batch, spec.channels, height * spec.scale, width * spec.scale)
            for spec in self.state_specs
        )

    def step(self, lr: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        """One frame: returns (hr, *next_state)."""
        raise NotImplementedError

    def forward(self, lr_seq: Tensor) -> Tensor:
        """A clip [B, T, 3, H, W] -> [B, T, 3, sH, sW], stepping from a zero state."""
        state = self.init_state(lr_seq[:, 0])
        frames = []
        for t in range(lr_seq.shape[1]):
            hr, *state = self.step(lr_seq[:, t], *state)
            frames.append(hr)
        return torch.stack(frames, dim=1)

    def info(self, precision: str = "fp32") -> ModelInfo:
        """The step interface as a runtime sees it (written into exported graphs)."""
        return ModelInfo(
            model=self.name,
            scale=self.scale,
            size_multiple=self.size_multiple,
            min_size=self.min_size,
            states=self.state_specs,
            fused=self.fused,
            precision=precision,
            config=self.config,
        )
