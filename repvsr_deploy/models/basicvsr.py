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
from .official_names import CheckpointKeys, OfficialWeights, Rule, prefixed, same
from .papers import ksnet_table1
from .registry import register_model
from .spynet import SPYNET_RULES, SpyNet
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


# our names in BasicSR's and MMagic's BasicVSR (`official_names`)
BASICVSR_RULES: list[Rule] = [
    *prefixed("spynet.", SPYNET_RULES),
    (
        r"(backward|forward)_propagation\.0\.(.*)",
        lambda g: (f"{g[0]}_trunk.main.0.{g[1]}", f"{g[0]}_resblocks.main.0.{g[1]}"),
    ),
    (
        r"(backward|forward)_propagation\.(\d+)\.body\.([02])\.(.*)",  # ours: conv, LReLU, blocks 2..; theirs: main.2.N
        lambda g: (
            f"{g[0]}_trunk.main.2.{int(g[1]) - 2}.conv{int(g[2]) // 2 + 1}.{g[3]}",
            f"{g[0]}_resblocks.main.2.{int(g[1]) - 2}.conv{int(g[2]) // 2 + 1}.{g[3]}",
        ),
    ),
    (r"upsample\.fusion\.(.*)", lambda g: same(f"fusion.{g[0]}")),
    (r"upsample\.up(\d)\.(.*)", lambda g: (f"upconv{g[0]}.{g[1]}", f"upsample{g[0]}.upsample_conv.{g[1]}")),
    (r"upsample\.hr\.(.*)", lambda g: same(f"conv_hr.{g[0]}")),
    (r"upsample\.last\.(.*)", lambda g: same(f"conv_last.{g[0]}")),
]


def _official_options(keys: CheckpointKeys) -> dict:
    """Our BasicVSR's options from an official checkpoint's shapes."""
    channels = keys.shape("backward_trunk.main.0.weight", "backward_resblocks.main.0.weight")[0]
    return {"channels": channels, "blocks": keys.count(r"backward_\w+\.main\.2\.(\d+)\.conv1\.weight")}


OFFICIAL = OfficialWeights("basicvsr", ("backward_trunk.", "backward_resblocks."), BASICVSR_RULES, _official_options)


@register_model("basicvsr", official=OFFICIAL, paper=ksnet_table1(10, 6.3, 330.0, 15.9))
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
