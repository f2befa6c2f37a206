"""Sliding-window models (VESPCN, SOFVSR, EDVR) made to stream.

The papers reconstruct the centre frame of a window of 2k+1 frames, k frames after it arrives.
Here the window ends at the current frame and the current frame is the reference: the same
network and cost per frame, no delay, the previous LR frames the state. (Quality differs from a
centred window; the benchmarks measure cost.) A stream starts with black previous frames.
"""

from torch import Tensor

from ..modelinfo import StateSpec
from .base import VSRModel


class SlidingWindowVSR(VSRModel):
    """State: the `neighbours` previous LR frames, oldest first."""

    neighbours: int = 2

    @property
    def state_specs(self) -> tuple[StateSpec, ...]:
        return tuple(StateSpec(f"lr_prev{k}", 3, 1) for k in range(self.neighbours, 0, -1))

    def step(self, lr: Tensor, *previous: Tensor) -> tuple[Tensor, ...]:
        return (self.reconstruct(lr, list(previous)), *previous[1:], lr)

    def reconstruct(self, lr: Tensor, previous: list[Tensor]) -> Tensor:
        """The HR frame of `lr` from it and its previous frames (oldest first)."""
        raise NotImplementedError
