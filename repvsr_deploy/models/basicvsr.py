"""BasicVSR (Chan et al., CVPR 2021): bidirectional propagation with SpyNet flow-warped features.

As the authors' public code: each direction warps its previous feature onto the frame with the
SpyNet flow and refines cat(frame, warped feature) with a conv and 30 residual blocks (64
channels); a 1x1 conv fuses both directions, two conv + pixel-shuffle x2 stages, a conv and a
3-channel conv give the residual over the bilinear x4 frame. 6,291,311 parameters (KSNet Table 1:
6.3 M). The first frame of each sweep warps a zero feature, as the original propagates zeros.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..modelinfo import StateSpec
from .base import BidirectionalVSRModel
from .layers import ResidualBlock, conv3x3, upsample_lr
from .registry import register_model
from .spynet import SpyNet
from .warp import flow_warp


class Propagation(nn.Sequential):
    """cat(frame, aligned feature) -> conv -> residual blocks: one direction's feature."""

    def __init__(self, channels: int, blocks: int):
        super().__init__(
            conv3x3(3 + channels, channels), nn.LeakyReLU(0.1), *[ResidualBlock(channels) for _ in range(blocks)]
        )


class Upsampler(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.fusion = nn.Conv2d(2 * channels, channels, 1)
        self.up1 = conv3x3(channels, 4 * channels)
        self.up2 = conv3x3(channels, 4 * 64)
        self.hr = conv3x3(64, 64)
        self.last = conv3x3(64, 3)

    def forward(self, backward: Tensor, forward: Tensor) -> Tensor:
        x = F.leaky_relu(self.fusion(torch.cat([backward, forward], dim=1)), 0.1)
        x = F.leaky_relu(F.pixel_shuffle(self.up1(x), 2), 0.1)
        x = F.leaky_relu(F.pixel_shuffle(self.up2(x), 2), 0.1)
        return self.last(F.leaky_relu(self.hr(x), 0.1))


@register_model("basicvsr")
class BasicVSR(BidirectionalVSRModel):
    min_size = SpyNet.min_size

    def __init__(self, channels=64, blocks=30):
        super().__init__()
        self.channels = channels
        self.spynet = SpyNet()
        self.backward_propagation = Propagation(channels, blocks)
        self.forward_propagation = Propagation(channels, blocks)
        self.upsample = Upsampler(channels)

    @property
    def feature_channels(self) -> int:
        return self.channels

    @property
    def backward_state_specs(self) -> tuple[StateSpec, ...]:
        return StateSpec("lr_next", 3, 1), StateSpec("feature_next", self.channels, 1)

    @property
    def forward_state_specs(self) -> tuple[StateSpec, ...]:
        return StateSpec("lr_prev", 3, 1), StateSpec("feature_prev", self.channels, 1)

    def _propagate(self, branch: nn.Module, lr: Tensor, lr_other: Tensor, feature_other: Tensor) -> Tensor:
        # zero padding, as the public BasicVSR warps features (SpyNet warps with border padding)
        aligned = flow_warp(feature_other, self.spynet(lr, lr_other), padding="zeros")
        return branch(torch.cat([lr, aligned], dim=1))

    def backward_step(self, lr: Tensor, lr_next: Tensor, feature_next: Tensor) -> tuple[Tensor, ...]:
        feature = self._propagate(self.backward_propagation, lr, lr_next, feature_next)
        return feature, lr, feature

    def forward_step(self, lr: Tensor, backward_feature: Tensor, lr_prev: Tensor, feature_prev: Tensor):
        feature = self._propagate(self.forward_propagation, lr, lr_prev, feature_prev)
        return self.upsample(backward_feature, feature) + upsample_lr(lr, self.scale), lr, feature
