"""FRVSR (Sajjadi et al. 2018): FNet + SRNet, the baseline that pins the FLOPs convention.

Layout as in the paper's Table 1 and the public TecoGAN PyTorch port: FNet widths 32-64-128-256,
SRNet with 64 channels, 10 residual blocks and two transposed convolutions: 1,745,506 + 843,587 =
2,589,093 parameters (RepVSR Table 2).
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .frame_recurrent import FrameRecurrentVSR
from .layers import ResidualBlock, conv3x3, upsample_lr
from .papers import repvsr_table2
from .registry import register_model

ConvFactory = Callable[[int, int], nn.Module]


class FNet(nn.Module):
    """Flow from LR frame t to t-1: three [conv, conv, maxpool] levels, three [conv, conv, upsample x2]
    levels, then conv and a 2-channel conv, tanh times the maximum velocity (24 px).

    Where H or W is not a multiple of 8, pooling floors and the flow is reflect-padded back to the
    frame size, as in the TecoGAN port; RepVSR Table 2's FLOPs count exactly this network.
    """

    max_velocity = 24.0

    def __init__(self, widths: tuple[int, int, int, int] = (32, 64, 128, 256), conv: ConvFactory = conv3x3):
        super().__init__()
        e1, e2, e3, bottleneck = widths

        def level(cin: int, cout: int) -> list[nn.Module]:
            return [conv(cin, cout), nn.LeakyReLU(0.2), conv(cout, cout), nn.LeakyReLU(0.2)]

        def upsample() -> nn.Module:
            return nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)

        self.encoder = nn.Sequential(
            *level(6, e1), nn.MaxPool2d(2), *level(e1, e2), nn.MaxPool2d(2), *level(e2, e3), nn.MaxPool2d(2)
        )
        self.decoder = nn.Sequential(
            *level(e3, bottleneck), upsample(), *level(bottleneck, e3), upsample(), *level(e3, e2), upsample()
        )
        self.head = nn.Sequential(conv(e2, e1), nn.LeakyReLU(0.2), conv(e1, 2))

    def forward(self, lr: Tensor, lr_prev: Tensor) -> Tensor:
        flow = self.head(self.decoder(self.encoder(torch.cat([lr, lr_prev], dim=1))))
        flow = torch.tanh(flow) * self.max_velocity
        height, width = lr.shape[-2:]
        return F.pad(flow, (0, width - flow.shape[-1], 0, height - flow.shape[-2]), mode="reflect")


class TransposedConvUpsampler(nn.Sequential):
    """x4 by two stride-2 transposed 3x3 convolutions with ReLU (FRVSR's SRNet)."""

    def __init__(self, width: int):
        super().__init__(
            nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(width, width, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
        )


class SRNet(nn.Module):
    """HR frame from the LR frame and the space-to-depth of the warped previous HR estimate,
    as a residual over the upsampled LR frame (`upsample_lr`)."""

    def __init__(self, width: int = 64, blocks: int = 10, scale: int = 4):
        super().__init__()
        self.scale = scale
        self.head = nn.Sequential(conv3x3(3 + 3 * scale * scale, width), nn.ReLU())
        self.body = nn.Sequential(*[ResidualBlock(width) for _ in range(blocks)])
        self.upsample = TransposedConvUpsampler(width)
        self.tail = conv3x3(width, 3)

    def forward(self, lr: Tensor, warped_s2d: Tensor) -> Tensor:
        features = self.body(self.head(torch.cat([lr, warped_s2d], dim=1)))
        return self.tail(self.upsample(features)) + upsample_lr(lr, self.scale)


@register_model("frvsr", paper=repvsr_table2(3, 2.589, 190.81, 31.16, 429.30, 15.10, 1718.65, 3.76))
class FRVSR(FrameRecurrentVSR):
    """Frame-recurrent VSR with FNet and SRNet."""

    def __init__(self, flow_widths=(32, 64, 128, 256), sr_width=64, sr_blocks=10):
        super().__init__(FNet(tuple(flow_widths)), SRNet(sr_width, sr_blocks, self.scale))


@register_model("tecogan", paper=repvsr_table2(4, 2.589, 190.81, 31.15, 429.30, 15.05, 1718.65, 3.74))
class TecoGAN(FRVSR):
    """TecoGAN's generator (Chu et al. 2020) is FRVSR's: the same FNet and SRNet, 2,589,093
    parameters. It differs in training (GAN, ping-pong loss), which inference does not see."""
