"""Sliding-window models (VESPCN, SOFVSR, EDVR) made to stream.

The papers reconstruct the centre frame of a window of 2k+1 frames, k frames after it arrives.
By default here the window ends at the current frame and the current frame is the reference: the
same network and cost per frame, no delay, the previous LR frames the state. (Quality differs from
a centred window; the benchmarks measure cost.) A stream starts with black previous frames.

A model with `delay` = k > 0 reconstructs the centre of its window instead, as the papers and
their official weights do: its step still takes the newest frame and the previous ones, and gives
the HR frame of the one k frames back; a clip's ends are padded by `centred_window`.
"""

import torch
from torch import Tensor

from ..centred import centred_window
from ..modelinfo import StateSpec
from .base import VSRModel


class SlidingWindowVSR(VSRModel):
    """State: the `neighbours` previous LR frames, oldest first."""

    neighbours: int = 2

    def forward(self, lr_seq: Tensor) -> Tensor:
        if not self.delay:
            return super().forward(lr_seq)
        frames = lr_seq.shape[1]
        windows = [centred_window(c, frames, self.delay) for c in range(frames)]
        hr = [self.step(lr_seq[:, w[-1]], *(lr_seq[:, i] for i in w[:-1]))[0] for w in windows]
        return torch.stack(hr, dim=1)

    @property
    def state_specs(self) -> tuple[StateSpec, ...]:
        return tuple(StateSpec(f"lr_prev{k}", 3, 1) for k in range(self.neighbours, 0, -1))

    def step(self, lr: Tensor, *previous: Tensor) -> tuple[Tensor, ...]:
        return (self.reconstruct(lr, list(previous)), *previous[1:], lr)

    def reconstruct(self, lr: Tensor, previous: list[Tensor]) -> Tensor:
        """The HR frame of `lr` from it and its previous frames (oldest first)."""
        raise NotImplementedError
