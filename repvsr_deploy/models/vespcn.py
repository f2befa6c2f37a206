"""VESPCN (Caballero et al., CVPR 2017): spatial-transformer motion compensation of the neighbours,
then early fusion of the three frames in an ESPCN (sub-pixel convolution) network.

Motion compensation as the paper's Table 1 / Fig. 3: a coarse flow (x4 lower, two stride-2 5x5
convs, pixel shuffle x4) and a fine correction (x2 lower) from the frames, the coarse flow and the
coarsely warped neighbour; flows are tanh-bounded. The paper leaves the fused SR network's depth to
its experiments: 64 channels, 22 layers (21 hidden) brings the model to 867,824 parameters, 1.3 %
under RepVSR Table 2's 0.879 M (22 hidden layers would be 2.9 % over). RGB in and out.
"""

import torch
from torch import Tensor, nn

from .layers import conv3x3
from .papers import ksnet_table1, repvsr_table2
from .registry import register_model
from .sliding_window import SlidingWindowVSR
from .warp import flow_warp


def _flow_head(in_channels: int, hidden: int, flow_scale: int) -> nn.Sequential:
    """Convs ending in 2·s² channels, tanh, pixel shuffle x s: a flow at the input's resolution."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, 24, 5, stride=2, padding=2), nn.ReLU()]
    if flow_scale == 4:
        layers += [conv3x3(24, 24), nn.ReLU(), nn.Conv2d(24, 24, 5, stride=2, padding=2), nn.ReLU()]
    for _ in range(hidden):
        layers += [conv3x3(24, 24), nn.ReLU()]
    layers += [conv3x3(24, 2 * flow_scale**2), nn.Tanh(), nn.PixelShuffle(flow_scale)]
    return nn.Sequential(*layers)


class MotionCompensation(nn.Module):
    """Warps a neighbour onto the reference: coarse flow Δc, then Δ = Δc + Δf (VESPCN Eq. 2-4)."""

    max_displacement = 16.0  # pixels; the tanh output is scaled to it

    def __init__(self):
        super().__init__()
        self.coarse = _flow_head(6, hidden=1, flow_scale=4)
        self.fine = _flow_head(3 + 3 + 2 + 3, hidden=3, flow_scale=2)

    def forward(self, reference: Tensor, neighbour: Tensor) -> Tensor:
        coarse = self.max_displacement * self.coarse(torch.cat([reference, neighbour], dim=1))
        coarse_warped = flow_warp(neighbour, coarse)
        fine = self.max_displacement * self.fine(torch.cat([reference, neighbour, coarse, coarse_warped], dim=1))
        return flow_warp(neighbour, coarse + fine)


class ESPCN(nn.Sequential):
    """Early fusion: the frames concatenated, 3x3 conv + ReLU layers, a sub-pixel convolution x4."""

    def __init__(self, frames: int, width: int, hidden: int, scale: int):
        layers: list[nn.Module] = [conv3x3(3 * frames, width), nn.ReLU()]
        for _ in range(hidden):
            layers += [conv3x3(width, width), nn.ReLU()]
        super().__init__(*layers, conv3x3(width, 3 * scale**2), nn.PixelShuffle(scale))


@register_model(
    "vespcn",
    paper=repvsr_table2(1, 0.879, 96.56, 48.48, 221.08, 24.76, 886.47, 6.78) | ksnet_table1(1, None, None, 28.6),
)
class VESPCN(SlidingWindowVSR):
    neighbours = 2
    size_multiple = 4  # the coarse flow is computed x4 lower

    def __init__(self, width=64, hidden=21):
        super().__init__()
        self.motion_compensation = MotionCompensation()
        self.espcn = ESPCN(self.neighbours + 1, width, hidden, self.scale)

    def reconstruct(self, lr: Tensor, previous: list[Tensor]) -> Tensor:
        aligned = [self.motion_compensation(lr, frame) for frame in previous]
        return self.espcn(torch.cat([*aligned, lr], dim=1))
