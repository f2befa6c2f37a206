"""SOFVSR (Wang et al., ACCV 2018 / TIP 2020): super-resolved optical flow, a draft cube, and an SR
network of residual dense blocks, on the luminance channel.

As the authors' public code: OFRnet estimates the HR flow in three levels (x2 lower, LR, x4 by pixel
shuffle), each a conv, two RDBs (4 layers, growth 32) and a bottleneck; each neighbour is warped
with the 16 sub-pixel phases of its HR flow into a draft cube (3 + 2 x 16 = 35 channels); SRnet
is a conv, 5 RDBs (5 layers, growth 32), a 1x1 bottleneck over all of them, a conv and pixel shuffle
x4. 1,639,676 parameters (RepVSR Table 2: 1.640 M). Flows are in pixels here (the public code scales
them by 31/(W-1)); the network sees Y (BT.601), chroma is upsampled bilinearly, as the authors
evaluate on Y and upsample CbCr separately.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .papers import repvsr_table2
from .registry import register_model
from .resize import upsample_bilinear
from .sliding_window import SlidingWindowVSR
from .warp import flow_warp

_RGB_TO_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64
)
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)


def _conv3x3(cin: int, cout: int, bias: bool = False) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, padding=1, bias=bias)


class DenseLayer(nn.Module):
    def __init__(self, in_channels: int, growth: int):
        super().__init__()
        self.conv = _conv3x3(in_channels, growth)

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([x, F.leaky_relu(self.conv(x), 0.1)], dim=1)


class RDB(nn.Module):
    """Residual dense block: densely connected 3x3 layers, a 1x1 fusion, the identity added."""

    def __init__(self, layers: int, channels: int, growth: int):
        super().__init__()
        self.dense = nn.Sequential(*[DenseLayer(channels + i * growth, growth) for i in range(layers)])
        self.fuse = nn.Conv2d(channels + layers * growth, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.fuse(self.dense(x))


class FlowLevel(nn.Module):
    """conv -> RDB -> RDB -> bottleneck over both RDBs -> conv: a flow (times s² channels)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.head = _conv3x3(in_channels, 32)
        self.rdb1, self.rdb2 = RDB(4, 32, 32), RDB(4, 32, 32)
        self.bottleneck = _conv3x3(64, out_channels)
        self.tail = _conv3x3(out_channels, out_channels, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        first = self.rdb1(self.head(x))
        return self.tail(self.bottleneck(torch.cat([first, self.rdb2(first)], dim=1)))


class OFRnet(nn.Module):
    """HR flow from a (neighbour, reference) pair of Y frames, coarse to fine in three levels."""

    def __init__(self, scale: int):
        super().__init__()
        self.scale = scale
        self.level1 = FlowLevel(2, 2)
        self.level2 = FlowLevel(6, 2)
        self.level3 = FlowLevel(6, 2 * scale**2)

    def _refine_input(self, pair: Tensor, flow: Tensor) -> Tensor:
        warped = flow_warp(pair[:, :1], flow)
        return torch.cat([pair, warped, pair[:, 1:] - warped, flow], dim=1)

    def forward(self, pair: Tensor) -> Tensor:
        flow1 = 2 * upsample_bilinear(self.level1(F.avg_pool2d(pair, 2)), 2)
        flow2 = flow1 + self.level2(self._refine_input(pair, flow1))
        residual = F.pixel_shuffle(self.level3(self._refine_input(pair, flow2)), self.scale)
        return residual + self.scale * upsample_bilinear(flow2, self.scale)


class SRnet(nn.Module):
    def __init__(self, in_channels: int, scale: int, blocks: int = 5):
        super().__init__()
        self.head = _conv3x3(in_channels, 64)
        self.rdbs = nn.ModuleList([RDB(5, 64, 32) for _ in range(blocks)])
        self.bottleneck = nn.Conv2d(64 * (blocks + 1), scale**2, 1, bias=False)
        self.tail = _conv3x3(scale**2, scale**2, bias=True)
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        head = self.head(x)
        features, current = [], head
        for rdb in self.rdbs:
            current = rdb(current)
            features.append(current)
        return F.pixel_shuffle(self.tail(self.bottleneck(torch.cat([*features, head], dim=1))), self.scale)


def draft_cube(neighbour: Tensor, hr_flow: Tensor, scale: int) -> Tensor:
    """The neighbour warped by each of the s² sub-pixel phases of its HR flow: [B, s², H, W]."""
    batch, _, height, width = neighbour.shape
    phases = F.pixel_unshuffle(hr_flow, scale).reshape(batch, 2, scale**2, height, width)
    phases = phases.transpose(1, 2).reshape(batch * scale**2, 2, height, width) / scale
    repeated = neighbour.repeat_interleave(scale**2, dim=0)
    return flow_warp(repeated, phases).reshape(batch, scale**2, height, width)


@register_model("sofvsr", paper=repvsr_table2(2, 1.640, 226.12, 13.31, 508.78, 5.993, 2035.11, 1.73))
class SOFVSR(SlidingWindowVSR):
    neighbours = 2
    size_multiple = 2  # level 1 of OFRnet is x2 lower

    def __init__(self):
        super().__init__()
        self.ofrnet = OFRnet(self.scale)
        self.srnet = SRnet(1 + self.neighbours * (1 + self.scale**2), self.scale)

    def reconstruct(self, lr: Tensor, previous: list[Tensor]) -> Tensor:
        ycbcr = _to_ycbcr(lr)
        y = ycbcr[:, :1]
        neighbours = [_to_ycbcr(frame)[:, :1] for frame in previous]
        cubes = [draft_cube(n, self.ofrnet(torch.cat([n, y], dim=1)), self.scale) for n in neighbours]
        y_hr = self.srnet(torch.cat([*neighbours, y, *cubes], dim=1))
        chroma_hr = upsample_bilinear(ycbcr[:, 1:], self.scale)
        return _to_rgb(torch.cat([y_hr, chroma_hr], dim=1))


def _to_ycbcr(rgb: Tensor) -> Tensor:
    return _mix_channels(rgb, _RGB_TO_YCBCR)


def _to_rgb(ycbcr: Tensor) -> Tensor:
    return _mix_channels(ycbcr, _YCBCR_TO_RGB)


def _mix_channels(image: Tensor, matrix: Tensor) -> Tensor:
    """A 3x3 colour matrix per pixel, elementwise (no matmul for the FLOP counter to count)."""
    return torch.cat([(image * row.to(image).view(1, 3, 1, 1)).sum(1, keepdim=True) for row in matrix], dim=1)
