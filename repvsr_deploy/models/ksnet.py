"""KSNet (Jin et al., MM '23): kernel split with re-parameterized RCBs (MSU, §3.2) and multi-flow
deformable alignment (MFDA, §3.3), in two recurrent branches; unidirectional and bidirectional.

Per frame n: FE extracts f_n from x_n (5 residual blocks, "spatial processing"); SpyNet estimates
s_{n->n-1}; each branch aligns its previous input feature with MFDA and splits the coupled feature
in its MSU into the propagation feature g_n; branch 2 refines branch 1's g (Fig. 2); the
reconstruction (1 residual block, pixel shuffle x4) turns both into the HR frame.

The choices made where the paper is open (SpyNet on LR frames, the flow Eq. 11 warps with, the
coupled feature's inputs, f_o and the channel ranking, SCB and the 1x1 after ESA, bounded offsets)
are written once, with their reasons, in the documentation: docs/models.md, "Choices where the
paper is open, or where we differ".
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..modelinfo import StateSpec
from .base import BidirectionalVSRModel, VSRModel
from .blocks import RCB
from .deform_conv import ModulatedDeformConv2d
from .layers import ResidualBlock, conv3x3, upsample_lr
from .papers import ksnet_table1
from .registry import register_model
from .resize import resize_bilinear
from .spynet import SpyNet
from .warp import at_least_float32, flow_warp


def lrelu() -> nn.Module:
    return nn.LeakyReLU(0.1)


class FeatureExtractor(nn.Sequential):
    """f_n from x_n: a 3x3 conv and residual blocks (§4.1: 5 for spatial processing)."""

    def __init__(self, channels: int, blocks: int):
        super().__init__(conv3x3(3, channels), lrelu(), *[ResidualBlock(channels) for _ in range(blocks)])


class ESA(nn.Module):
    """Enhanced Spatial Attention (Liu et al. 2020, RFANet): a strided, pooled attention map."""

    def __init__(self, channels: int):
        super().__init__()
        reduced = channels // 4
        self.reduce = nn.Conv2d(channels, reduced, 1)
        self.skip = nn.Conv2d(reduced, reduced, 1)
        self.down = nn.Conv2d(reduced, reduced, 3, stride=2)
        self.pooled = nn.Sequential(
            conv3x3(reduced, reduced), nn.ReLU(), conv3x3(reduced, reduced), nn.ReLU(), conv3x3(reduced, reduced)
        )
        self.expand = nn.Conv2d(reduced, channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        reduced = self.reduce(x)
        pooled = self.pooled(F.max_pool2d(self.down(reduced), kernel_size=7, stride=3))
        pooled = resize_bilinear(pooled, x.shape[-2], x.shape[-1], False)
        return x * torch.sigmoid(self.expand(pooled + self.skip(reduced)))


def gradient_magnitude(f: Tensor) -> Tensor:
    """G = ||∇f||_2 per channel and pixel (Eq. 1), central differences, replicate border."""
    p = F.pad(f, (1, 1, 1, 1), mode="replicate")
    gx = (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]) / 2
    gy = (p[..., 2:, 1:-1] - p[..., :-2, 1:-1]) / 2
    return torch.sqrt(gx * gx + gy * gy + 1e-12)


def rank_channels(f: Tensor, frame_offset: Tensor, lam: Tensor) -> Tensor:
    """Channel order, most correlated with f_o first (Eq. 2-3): ascending Euc(f_o, f) =
    ||W - f_o||_2 with W = λG + (1-λ)[G, f], by a sorted TopK over all channels.

    ||W - f_o||² = ΣW² - 2ΣW·f_o + Σf_o², and the last sum is the same for every channel; ranking
    by ΣW·(W - 2f_o) gives the same order without it. Kept, that common term swamps the channels'
    differences in float32, and torch, onnxruntime and TensorRT would each order them their own way.
    Channels still differ by ~1e-5 relative, below float16's resolution: the score stays float32.
    """
    f, frame_offset, lam = at_least_float32(f), at_least_float32(frame_offset), at_least_float32(lam)
    grad = gradient_magnitude(f)
    weighted = lam * grad + (1 - lam) * grad * f
    score = (weighted * (weighted - 2 * frame_offset)).sum(dim=(2, 3))
    return torch.topk(score, k=f.shape[1], dim=1, largest=False, sorted=True).indices


def gather_channels(f: Tensor, order: Tensor) -> Tensor:
    """f's channels in `order` [B, C], one Gather over the flattened (batch, channel) axis."""
    batch, channels = order.shape
    flat_index = (order + channels * torch.arange(batch, device=order.device).view(-1, 1)).reshape(-1)
    return f.reshape(batch * channels, *f.shape[2:]).index_select(0, flat_index).reshape(f.shape)


class KernelSplitLevel(nn.Module):
    """One hierarchy of Fig. 4a: split off a quarter as low-value channels (SCB), RCB on the rest."""

    def __init__(self, channels: int, rcb_expansion: int):
        super().__init__()
        self.low = channels // 4
        self.lam = nn.Parameter(torch.tensor(0.5))  # λ1 of Eq. 2
        self.scb = nn.Sequential(conv3x3(self.low, self.low), lrelu())  # Shallow Convolution Buffer
        self.rcb = nn.Sequential(RCB(channels - self.low, rcb_expansion), lrelu())

    def forward(self, f: Tensor, frame_offset: Tensor) -> tuple[Tensor, Tensor]:
        ranked = gather_channels(f, rank_channels(f, frame_offset, self.lam))
        high, low = ranked[:, : -self.low], ranked[:, -self.low :]  # f^con, f^dis (Eq. 3)
        return self.rcb(high), self.scb(low)


class MSU(nn.Module):
    """Multi-channel Selection Unit (§3.2, Eq. 1-4): three levels of kernel split, then ESA over
    cat(f, f_dc) and a 1x1 conv back to `channels`."""

    def __init__(self, in_channels: int, channels: int, levels: int = 3, rcb_expansion: int = 2):
        super().__init__()
        self.couple = nn.Sequential(conv3x3(in_channels, channels), lrelu())
        widths = [channels]
        for _ in range(levels - 1):
            widths.append(widths[-1] - widths[-1] // 4)
        self.levels = nn.ModuleList([KernelSplitLevel(w, rcb_expansion) for w in widths])
        self.esa = ESA(2 * channels)
        self.fuse = nn.Conv2d(2 * channels, channels, 1)

    def forward(self, coupled_inputs: Tensor, frame_offset: Tensor) -> Tensor:
        f = self.couple(coupled_inputs)
        high, buffered = f, []
        for level in self.levels:
            high, low = level(high, frame_offset)
            buffered.append(low)
        f_dc = torch.cat([*buffered, high], dim=1)  # Eq. 4
        return self.fuse(self.esa(torch.cat([f, f_dc], dim=1)))


class MFDA(nn.Module):
    """Multiple Flow Deformable Alignment (§3.3, Eq. 10-12): aligns the previous feature a_{n-1} to
    frame n with a DCN whose offsets are residual offsets O_n plus the multi-reference flow s̄_n."""

    max_residue = 10.0

    def __init__(self, channels: int, offset_groups: int):
        super().__init__()
        self.dcn = ModulatedDeformConv2d(channels, channels, 3, offset_groups)
        taps = offset_groups * self.dcn.taps
        self.offsets = nn.Sequential(  # C of Eq. 12: residual offsets (2 per tap) and mask logits
            conv3x3(2 * channels, channels), lrelu(), conv3x3(channels, 3 * taps)
        )
        nn.init.zeros_(self.offsets[-1].weight)  # start aligned by the flow alone
        nn.init.zeros_(self.offsets[-1].bias)

    def forward(self, a: Tensor, a_prev: Tensor, a_prev2: Tensor, flow: Tensor, flow_bar: Tensor) -> Tensor:
        reference = flow_warp(a_prev2, flow_bar) + flow_warp(a_prev, flow)  # f̄_n, Eq. 11
        out = self.offsets(torch.cat([reference, a], dim=1))
        residual, mask_logits = out[:, : 2 * out.shape[1] // 3], out[:, 2 * out.shape[1] // 3 :]
        # f̂_n = D(O_n + s̄_n), O_n = 10 tanh(residual), the mask a sigmoid: one fused op
        return self.dcn.flow_guided(a_prev, residual, mask_logits, flow_bar, self.max_residue)


class Branch(nn.Module):
    """One recurrent branch: align the previous input feature (MFDA), couple, split (MSU) -> g_n."""

    def __init__(self, channels: int, offset_groups: int, rcb_expansion: int):
        super().__init__()
        self.mfda = MFDA(channels, offset_groups)
        self.msu = MSU(3 * channels, channels, rcb_expansion=rcb_expansion)

    def forward(self, a, a_prev, a_prev2, g_prev, flow, flow_bar, frame_offset) -> Tensor:
        h = self.mfda(a, a_prev, a_prev2, flow, flow_bar)
        return self.msu(torch.cat([g_prev, h, a], dim=1), frame_offset)


class Reconstruction(nn.Module):
    """HR residual from both branches' features: 1x1 fusion, residual block(s), then pixel shuffles
    x2 up to `scale` (a power of two) as BasicVSR's, with its 64-channel conv after the first x2
    rather than at full HR size (at x4: shuffle, conv, shuffle)."""

    def __init__(self, channels: int, blocks: int, scale: int):
        super().__init__()
        steps = scale.bit_length() - 1
        if scale < 2 or 2**steps != scale:
            raise ValueError(f"KSNet's reconstruction upsamples by powers of two, not x{scale}")
        self.body = nn.Sequential(
            nn.Conv2d(2 * channels, channels, 1), lrelu(), *[ResidualBlock(channels) for _ in range(blocks)]
        )
        layers: list[nn.Module] = []
        for step in range(steps):
            layers += [conv3x3(channels, 4 * channels), nn.PixelShuffle(2), lrelu()]
            if step == 0:
                layers += [conv3x3(channels, channels), lrelu()]
        self.upsample = nn.Sequential(*layers, conv3x3(channels, 3))

    def forward(self, g1: Tensor, g2: Tensor) -> Tensor:
        return self.upsample(self.body(torch.cat([g1, g2], dim=1)))


def multi_reference_flow(flow: Tensor, flow_prev: Tensor) -> Tensor:
    """s̄_n = s_{n->n-1} + MC(s_{n-1->n-2}, s_{n->n-1}), Eq. 10."""
    return flow + flow_warp(flow_prev, flow)


def frame_offset(x: Tensor, x_prev: Tensor) -> Tensor:
    """f_o of Eq. 2: how far each pixel moved between the two input frames."""
    return torch.linalg.vector_norm(x - x_prev, dim=1, keepdim=True)


class KSNet(nn.Module):
    """The parts both directions share (mixed into KSNetUni and KSNetBi): FE, SpyNet, two branches,
    reconstruction; 64 channels, 5 residual blocks to extract, 1 to reconstruct (§4.1)."""

    min_size = SpyNet.min_size  # 33; ESA needs 21 (its pooled map 2x2 at least)

    def __init__(self, channels=64, extract_blocks=5, reconstruct_blocks=1, offset_groups=8, rcb_expansion=2):
        super().__init__()
        self.channels = channels
        self.extract = FeatureExtractor(channels, extract_blocks)
        self.spynet = SpyNet()
        self.branch1 = Branch(channels, offset_groups, rcb_expansion)
        self.branch2 = Branch(channels, offset_groups, rcb_expansion)
        self.reconstruct = Reconstruction(channels, reconstruct_blocks, self.scale)

    def output(self, x: Tensor, g1: Tensor, g2: Tensor) -> Tensor:
        return self.reconstruct(g1, g2) + upsample_lr(x, self.scale)


def _states(channels: int, *names: str) -> tuple[StateSpec, ...]:
    """The state as the step reads it: a frame (x_*, 3 channels), a flow (flow_*, 2) or a feature."""
    return tuple(
        StateSpec(name, 3 if name.startswith("x_") else 2 if name.startswith("flow_") else channels, 1)
        for name in names
    )


@register_model("ksnet-uni", paper=ksnet_table1(7, 3.0, 296.9, 32.3))
class KSNetUni(KSNet, VSRModel):
    """Streams: both branches run forward; the state holds what the next frame's MFDA needs."""

    @property
    def state_specs(self) -> tuple[StateSpec, ...]:
        return _states(self.channels, "x_prev", "f_prev", "f_prev2", "flow_prev", "g1_prev", "g1_prev2", "g2_prev")

    def step(self, x, x_prev, f_prev, f_prev2, flow_prev, g1_prev, g1_prev2, g2_prev):
        f = self.extract(x)
        flow = self.spynet(x, x_prev)  # s_{n->n-1}, Eq. 9
        flow_bar = multi_reference_flow(flow, flow_prev)
        offset = frame_offset(x, x_prev)
        g1 = self.branch1(f, f_prev, f_prev2, g1_prev, flow, flow_bar, offset)
        g2 = self.branch2(g1, g1_prev, g1_prev2, g2_prev, flow, flow_bar, offset)
        return self.output(x, g1, g2), x, f, f_prev, flow, g1, g1_prev, g2


@register_model("ksnet-bi", paper=ksnet_table1(11, 3.0, 296.9, 32.3))
class KSNetBi(KSNet, BidirectionalVSRModel):
    """Branch 1 sweeps the clip backward, branch 2 forward over branch 1's features (Fig. 2)."""

    @property
    def feature_channels(self) -> int:
        return self.channels

    @property
    def backward_state_specs(self) -> tuple[StateSpec, ...]:
        return _states(self.channels, "x_next", "f_next", "f_next2", "flow_next", "g1_next")

    @property
    def forward_state_specs(self) -> tuple[StateSpec, ...]:
        return _states(self.channels, "x_prev", "g1_prev", "g1_prev2", "flow_prev", "g2_prev")

    def backward_step(self, x, x_next, f_next, f_next2, flow_next, g1_next):
        f = self.extract(x)
        flow = self.spynet(x, x_next)  # s_{n->n+1}
        flow_bar = multi_reference_flow(flow, flow_next)
        g1 = self.branch1(f, f_next, f_next2, g1_next, flow, flow_bar, frame_offset(x, x_next))
        return g1, x, f, f_next, flow, g1

    def forward_step(self, x, g1, x_prev, g1_prev, g1_prev2, flow_prev, g2_prev):
        flow = self.spynet(x, x_prev)  # s_{n->n-1}
        flow_bar = multi_reference_flow(flow, flow_prev)
        g2 = self.branch2(g1, g1_prev, g1_prev2, g2_prev, flow, flow_bar, frame_offset(x, x_prev))
        return self.output(x, g1, g2), x, g1, g1_prev, flow, g2
