"""RRN (Isobe et al., BMVC 2020, "Revisiting temporal modeling for video super-resolution"):
a recurrent residual network whose hidden state and previous output carry the past.

As the authors' public code (RRN-L): per frame, cat(previous and current LR frame, hidden state,
space-to-depth of the previous output) -> conv -> 10 residual blocks (128 channels) -> a conv for
the next hidden state and a conv for the x4 residual (pixel shuffle), added to the bilinear x4 of
the current frame. 3,364,400 parameters (KSNet Table 1: 3.4 M).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..modelinfo import StateSpec
from .base import VSRModel
from .layers import ResidualBlock, conv3x3
from .papers import ksnet_table1
from .registry import register_model
from .subpixel import bilinear_phases


@register_model("rrn", paper=ksnet_table1(3, 3.4, 387.5, 22.2))
class RRN(VSRModel):
    """State: the previous LR frame, the hidden state, the previous HR output."""

    def __init__(self, channels=128, blocks=10):
        super().__init__()
        self.channels = channels
        self.head = conv3x3(2 * 3 + channels + 3 * self.scale**2, channels)
        self.trunk = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.to_hidden = conv3x3(channels, channels)
        self.to_output = conv3x3(channels, 3 * self.scale**2)

    @property
    def state_specs(self) -> tuple[StateSpec, ...]:
        return StateSpec("lr_prev", 3, 1), StateSpec("hidden", self.channels, 1), StateSpec("hr_prev", 3, self.scale)

    def step(self, lr: Tensor, lr_prev: Tensor, hidden: Tensor, hr_prev: Tensor) -> tuple[Tensor, ...]:
        x = torch.cat([lr_prev, lr, hidden, F.pixel_unshuffle(hr_prev, self.scale)], dim=1)
        features = self.trunk(F.relu(self.head(x)))
        hidden = F.relu(self.to_hidden(features))
        hr = F.pixel_shuffle(self.to_output(features) + bilinear_phases(lr, self.scale), self.scale)  # one shuffle
        return hr, lr, hidden, hr
