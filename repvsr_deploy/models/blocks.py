"""Multi-branch training blocks that re-parameterize into one plain 3x3 convolution.

RepVSR §3.1: SRMB = Component I (3x3 conv) + Component II (1x1-3x3, 3x3-1x1, 1x1-3x3-1x1)
+ Component III (1x1 then scaled Laplacian, depthwise); FNMB = Components I and II.
KSNet §3.2: RCB = 3x3 conv + 1x1-3x3 + first-order (Sobel x, Sobel y) and second-order (Laplacian)
edge branches.
Each branch knows its own fused (weight, bias); `RepBlock.reparameterize` sums them (RepVSR Eq. 6-7,
KSNet Eq. 8).
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .reparam import depthwise_to_dense, fuse_1x1_kxk, fuse_kxk_1x1, pad_with_bias

LAPLACIAN = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])  # D_lap of RepVSR Eq. 3
SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])
SOBEL_Y = SOBEL_X.T.contiguous()


class Conv1x1Conv3x3(nn.Module):
    """Component II, 1x1 -> 3x3: expand to `mid` channels, then a 3x3 conv. Eq. 2, fused by Eq. 4."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int):
        super().__init__()
        self.expand = nn.Conv2d(in_channels, mid_channels, 1)
        self.conv = nn.Conv2d(mid_channels, out_channels, 3)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(pad_with_bias(self.expand(x), self.expand.bias))

    def reparameterize(self) -> tuple[Tensor, Tensor]:
        return fuse_1x1_kxk(self.expand.weight, self.expand.bias, self.conv.weight, self.conv.bias)


class Conv3x3Conv1x1(nn.Module):
    """Component II, 3x3 -> 1x1: a 3x3 conv to `mid` channels, then squeeze with 1x1. Eq. 4."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, mid_channels, 3, padding=1)
        self.squeeze = nn.Conv2d(mid_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.squeeze(self.conv(x))

    def reparameterize(self) -> tuple[Tensor, Tensor]:
        return fuse_kxk_1x1(self.conv.weight, self.conv.bias, self.squeeze.weight, self.squeeze.bias)


class Conv1x1Conv3x3Conv1x1(nn.Module):
    """Component II, 1x1 -> 3x3 -> 1x1: expand, 3x3 at `mid` channels, squeeze. Eq. 4 applied twice."""

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int):
        super().__init__()
        self.expand = nn.Conv2d(in_channels, mid_channels, 1)
        self.conv = nn.Conv2d(mid_channels, mid_channels, 3)
        self.squeeze = nn.Conv2d(mid_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.squeeze(self.conv(pad_with_bias(self.expand(x), self.expand.bias)))

    def reparameterize(self) -> tuple[Tensor, Tensor]:
        weight, bias = fuse_1x1_kxk(self.expand.weight, self.expand.bias, self.conv.weight, self.conv.bias)
        return fuse_kxk_1x1(weight, bias, self.squeeze.weight, self.squeeze.bias)


class Conv1x1Edge(nn.Module):
    """Component III: 1x1 conv, then a fixed edge filter applied depthwise with a learned
    per-channel scale and bias: (S · D) ⊗ (W * I + B_l) + B. RepVSR Eq. 3, fused by Eq. 5 and 4."""

    def __init__(self, in_channels: int, out_channels: int, edge_filter: Tensor):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, 1)
        self.scale = nn.Parameter(torch.randn(out_channels, 1, 1, 1) * 1e-3)  # S
        self.bias = nn.Parameter(torch.randn(out_channels) * 1e-3)  # B
        self.register_buffer("edge_filter", edge_filter.reshape(1, 1, 3, 3).clone(), persistent=False)  # D

    def depthwise_kernel(self) -> Tensor:
        return self.scale * self.edge_filter

    def forward(self, x: Tensor) -> Tensor:
        y = pad_with_bias(self.conv(x), self.conv.bias)
        return F.conv2d(y, self.depthwise_kernel(), self.bias, groups=y.shape[1])

    def reparameterize(self) -> tuple[Tensor, Tensor]:
        dense = depthwise_to_dense(self.depthwise_kernel())
        return fuse_1x1_kxk(self.conv.weight, self.conv.bias, dense, self.bias)


class RepBlock(nn.Module):
    """Component I, a plain 3x3 conv (Eq. 1), plus parallel branches; all sum into one 3x3 conv."""

    def __init__(self, in_channels: int, out_channels: int, branches: list[nn.Module]):
        super().__init__()
        self.conv3x3 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv3x3(x)
        for branch in self.branches:
            out = out + branch(x)
        return out

    @torch.no_grad()
    def reparameterize(self) -> nn.Conv2d:
        """The deploy-form 3x3 conv: sum of the branches' kernels and biases (Eq. 6-7)."""
        weight, bias = self.conv3x3.weight.clone(), self.conv3x3.bias.clone()
        for branch in self.branches:
            branch_weight, branch_bias = branch.reparameterize()
            weight += branch_weight
            bias += branch_bias
        conv = nn.Conv2d(weight.shape[1], weight.shape[0], 3, padding=1)
        conv.weight = nn.Parameter(weight)
        conv.bias = nn.Parameter(bias)
        return conv


def component_ii(in_channels: int, out_channels: int, mid_channels: int) -> list[nn.Module]:
    """Component II: the three sequential convolutions, 1x1-3x3, 3x3-1x1 and 1x1-3x3-1x1."""
    return [
        Conv1x1Conv3x3(in_channels, out_channels, mid_channels),
        Conv3x3Conv1x1(in_channels, out_channels, mid_channels),
        Conv1x1Conv3x3Conv1x1(in_channels, out_channels, mid_channels),
    ]


class FNMB(RepBlock):
    """FlowNet Multi-Branch block: Components I and II (RepVSR §3.1, Fig. 2c). Fuses by Eq. 6."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int = 2):
        super().__init__(in_channels, out_channels, component_ii(in_channels, out_channels, expansion * out_channels))


class SRMB(RepBlock):
    """Super-Resolution Multi-Branch block: Components I, II and III (RepVSR §3.1, Fig. 2c). Fuses by Eq. 7."""

    def __init__(self, in_channels: int, out_channels: int, expansion: int = 4):
        component_iii = Conv1x1Edge(in_channels, out_channels, LAPLACIAN)
        super().__init__(
            in_channels,
            out_channels,
            [*component_ii(in_channels, out_channels, expansion * out_channels), component_iii],
        )


class RCB(RepBlock):
    """Re-parameterized Convolution Block (KSNet §3.2, Fig. 4b): a plain 3x3 conv, a sequential
    1x1-3x3 (Eq. 5, fused by Eq. 6-7), and first- and second-order edge branches (1x1 then scaled
    Sobel-x, Sobel-y, Laplacian, depthwise); all merge into one 3x3 conv by Eq. 8."""

    def __init__(self, channels: int, expansion: int = 2):
        super().__init__(
            channels,
            channels,
            [
                Conv1x1Conv3x3(channels, channels, expansion * channels),
                Conv1x1Edge(channels, channels, SOBEL_X),
                Conv1x1Edge(channels, channels, SOBEL_Y),
                Conv1x1Edge(channels, channels, LAPLACIAN),
            ],
        )
