"""RepVSR (Hu and Yu): FRVSR's frame-recurrent scheme on a shortened backbone of re-parameterizable
blocks: RepFlowNet built of FNMB, RepSRNet built of SRMB (RepVSR §3, Fig. 1-2).

The paper gives the blocks but not the widths. The preset below is chosen so that the deploy
(fused) model matches Table 2: 273,117 parameters (paper 0.274 M) and 29.37 / 66.08 / 264.48 GFLOPs
at 720p / 1080p / 4K (paper 29.435 / 66.228 / 264.926), under the paper FLOPs convention.
- RepFlowNet: FNet's topology, every 3x3 conv an FNMB, widths 8-16-64-64 (FNet: 32-64-128-256).
- RepSRNet: SRMB head 51->32, 3 residual SRMB units, FRVSR's two transposed convs, SRMB tail 32->3.
"""

from functools import partial

import torch
from torch import Tensor, nn

from .blocks import FNMB, SRMB
from .frame_recurrent import FrameRecurrentVSR
from .frvsr import FNet, TransposedConvUpsampler
from .layers import upsample_lr
from .papers import repvsr_table2
from .registry import register_model


class RepFlowNet(FNet):
    """FNet with every 3x3 convolution an FNMB (RepVSR Fig. 2b)."""

    def __init__(self, widths=(8, 16, 64, 64), expansion: int = 2):
        super().__init__(tuple(widths), conv=partial(FNMB, expansion=expansion))


class RepResidualUnit(nn.Module):
    """ReLU(x + SRMB(x)): one residual unit of RepSRNet's body."""

    def __init__(self, width: int, expansion: int):
        super().__init__()
        self.srmb = SRMB(width, width, expansion)
        self.act = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.srmb(x))


class RepSRNet(nn.Module):
    """SRNet with SRMB convolutions (RepVSR Fig. 2a): a residual over the upsampled LR frame."""

    def __init__(self, width: int = 32, blocks: int = 3, expansion: int = 4, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.head = nn.Sequential(SRMB(3 + 3 * scale * scale, width, expansion), nn.ReLU())
        self.body = nn.Sequential(*[RepResidualUnit(width, expansion) for _ in range(blocks)])
        self.upsample = TransposedConvUpsampler(width)
        self.tail = SRMB(width, 3, expansion)

    def forward(self, lr: Tensor, warped_s2d: Tensor) -> Tensor:
        features = self.body(self.head(torch.cat([lr, warped_s2d], dim=1)))
        return self.tail(self.upsample(features)) + upsample_lr(lr, self.scale)


@register_model("repvsr", paper=repvsr_table2(5, 0.274, 29.435, 96.76, 66.228, 37.52, 264.926, 14.36))
class RepVSR(FrameRecurrentVSR):
    """RepFlowNet + RepSRNet in the frame-recurrent scheme (RepVSR Fig. 1)."""

    def __init__(self, flow_widths=(8, 16, 64, 64), sr_width=32, sr_blocks=3, flow_expansion=2, sr_expansion=4):
        super().__init__(
            RepFlowNet(flow_widths, flow_expansion),
            RepSRNet(sr_width, sr_blocks, sr_expansion, self.scale),
        )
