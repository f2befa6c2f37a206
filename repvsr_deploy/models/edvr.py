"""EDVR-M (Wang et al., CVPRW 2019): Pyramid, Cascading and Deformable (PCD) alignment and
Temporal and Spatial Attention (TSA) fusion over a window of 5 frames.

As the authors' public code (BasicSR, the "M" setting): 64 channels, 8 deformable groups, 5
residual blocks to extract features, 10 to reconstruct, no pre-deblur. Every frame of the window
is extracted and aligned anew at every step, as the original does and as KSNet Table 1 counts.
3,300,131 parameters (KSNet Table 1: 3.3 M). By default the window ends at the current frame, its
reference (see `sliding_window`); `centred=True` makes the centre frame of five the reference, two
frames of delay, as the official weights are trained.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .deform_conv import ModulatedDeformConv2d
from .layers import ResidualBlock, conv3x3, upsample_lr
from .official_names import CheckpointKeys, OfficialWeights, Rule, residual, same
from .papers import ksnet_table1
from .registry import register_model
from .resize import upsample_bilinear
from .sliding_window import SlidingWindowVSR

LEVELS = 3


def lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.1)


def upsample2(x: Tensor) -> Tensor:
    return upsample_bilinear(x, 2)


class DCNPack(nn.Module):
    """DCNv2 whose offsets and mask a conv predicts from the offset features."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.dcn = ModulatedDeformConv2d(channels, channels, 3, offset_groups=groups)
        self.offset_mask = conv3x3(channels, 3 * groups * self.dcn.taps)

    def forward(self, x: Tensor, offset_features: Tensor) -> Tensor:
        offset_y_x, mask = self.offset_mask(offset_features).split(
            [2 * self.dcn.taps * self.dcn.offset_groups, self.dcn.taps * self.dcn.offset_groups], dim=1
        )
        return self.dcn(x, offset_y_x, torch.sigmoid(mask))


class PCDLevel(nn.Module):
    """One pyramid level: offsets from (neighbour, reference) features and the coarser level's."""

    def __init__(self, channels: int, groups: int, coarsest: bool):
        super().__init__()
        self.offset1 = conv3x3(2 * channels, channels)
        self.offset2 = conv3x3(channels if coarsest else 2 * channels, channels)
        self.offset3 = None if coarsest else conv3x3(channels, channels)
        self.dcn = DCNPack(channels, groups)
        self.merge = None if coarsest else conv3x3(2 * channels, channels)

    def forward(self, neighbour, reference, coarser_offset=None, coarser_feature=None):
        offset = lrelu(self.offset1(torch.cat([neighbour, reference], dim=1)))
        if coarser_offset is None:
            offset = lrelu(self.offset2(offset))
        else:
            offset = lrelu(self.offset3(lrelu(self.offset2(torch.cat([offset, 2 * upsample2(coarser_offset)], 1)))))
        feature = self.dcn(neighbour, offset)
        if coarser_feature is not None:
            feature = self.merge(torch.cat([feature, upsample2(coarser_feature)], dim=1))
        return offset, feature


class PCDAlignment(nn.Module):
    """Coarse-to-fine DCN alignment over the 3-level pyramid, then a cascading DCN at full size."""

    def __init__(self, channels: int, groups: int):
        super().__init__()
        self.levels = nn.ModuleList([PCDLevel(channels, groups, coarsest=i == LEVELS - 1) for i in range(LEVELS)])
        self.cascade_offset1 = conv3x3(2 * channels, channels)
        self.cascade_offset2 = conv3x3(channels, channels)
        self.cascade_dcn = DCNPack(channels, groups)

    def forward(self, neighbour: list[Tensor], reference: list[Tensor]) -> Tensor:
        offset = feature = None
        for level in reversed(range(LEVELS)):
            offset, feature = self.levels[level](neighbour[level], reference[level], offset, feature)
            if level > 0:
                feature = lrelu(feature)
        cascade = lrelu(self.cascade_offset2(lrelu(self.cascade_offset1(torch.cat([feature, reference[0]], 1)))))
        return lrelu(self.cascade_dcn(feature, cascade))


class TSAFusion(nn.Module):
    """Temporal attention (correlation with the reference embedding) then spatial attention over a
    two-level pyramid of the fused feature."""

    def __init__(self, channels: int, frames: int):
        super().__init__()
        c = channels
        self.embed_reference, self.embed = conv3x3(c, c), conv3x3(c, c)
        self.fusion = nn.Conv2d(frames * c, c, 1)
        self.attn1, self.attn2 = nn.Conv2d(frames * c, c, 1), nn.Conv2d(2 * c, c, 1)
        self.attn3, self.attn4, self.attn5 = conv3x3(c, c), nn.Conv2d(c, c, 1), conv3x3(c, c)
        self.level1, self.level2, self.level3 = nn.Conv2d(c, c, 1), conv3x3(2 * c, c), conv3x3(c, c)
        self.add1, self.add2 = nn.Conv2d(c, c, 1), nn.Conv2d(c, c, 1)

    @staticmethod
    def _pool(x: Tensor) -> Tensor:
        return torch.cat([F.max_pool2d(x, 3, 2, 1), F.avg_pool2d(x, 3, 2, 1)], dim=1)

    def forward(self, aligned: list[Tensor], reference_index: int) -> Tensor:
        reference = self.embed_reference(aligned[reference_index])
        weights = [torch.sigmoid((self.embed(a) * reference).sum(1, keepdim=True)) for a in aligned]
        weighted = torch.cat([a * w for a, w in zip(aligned, weights)], dim=1)
        feature = lrelu(self.fusion(weighted))

        attn = lrelu(self.attn2(self._pool(lrelu(self.attn1(weighted)))))
        level = lrelu(self.level1(attn))
        level = upsample2(lrelu(self.level3(lrelu(self.level2(self._pool(level))))))
        attn = lrelu(self.attn3(attn)) + level
        attn = self.attn5(upsample2(lrelu(self.attn4(attn))))
        attn_add = self.add2(lrelu(self.add1(attn)))
        return feature * torch.sigmoid(attn) * 2 + attn_add


class FeaturePyramid(nn.Module):
    """Per frame: conv + residual blocks at full size, then two stride-2 levels."""

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        self.head = conv3x3(3, channels)
        self.blocks = nn.Sequential(*[ResidualBlock(channels) for _ in range(blocks)])
        self.down = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(channels, channels, 3, 2, 1),
                    nn.LeakyReLU(0.1),
                    conv3x3(channels, channels),
                    nn.LeakyReLU(0.1),
                )
                for _ in range(LEVELS - 1)
            ]
        )

    def forward(self, frame: Tensor) -> list[Tensor]:
        pyramid = [self.blocks(lrelu(self.head(frame)))]
        for down in self.down:
            pyramid.append(down(pyramid[-1]))
        return pyramid


# our names in BasicSR's and MMagic's EDVR (`official_names`)
EDVR_RULES: list[Rule] = [
    (r"extract\.head\.(.*)", lambda g: same(f"conv_first.{g[0]}")),
    residual("extract.blocks", "feature_extraction"),
    (
        r"extract\.down\.([01])\.([02])\.(.*)",  # pyramid levels 2 and 3, each a stride-2 conv then a conv
        lambda g: (
            f"conv_l{int(g[0]) + 2}_{int(g[1]) // 2 + 1}.{g[2]}",
            f"feat_l{int(g[0]) + 2}_conv{int(g[1]) // 2 + 1}.conv.{g[2]}",
        ),
    ),
    (
        r"align\.levels\.(\d)\.offset(\d)\.(.*)",
        lambda g: (
            f"pcd_align.offset_conv{g[1]}.l{int(g[0]) + 1}.{g[2]}",
            f"pcd_alignment.offset_conv{g[1]}.l{int(g[0]) + 1}.conv.{g[2]}",
        ),
    ),
    (
        r"align\.levels\.(\d)\.merge\.(.*)",
        lambda g: (
            f"pcd_align.feat_conv.l{int(g[0]) + 1}.{g[1]}",
            f"pcd_alignment.feat_conv.l{int(g[0]) + 1}.conv.{g[1]}",
        ),
    ),
    (
        r"align\.levels\.(\d)\.dcn\.dcn\.(.*)",
        lambda g: (f"pcd_align.dcn_pack.l{int(g[0]) + 1}.{g[1]}", f"pcd_alignment.dcn_pack.l{int(g[0]) + 1}.{g[1]}"),
    ),
    (
        r"align\.levels\.(\d)\.dcn\.offset_mask\.(.*)",
        lambda g: (
            f"pcd_align.dcn_pack.l{int(g[0]) + 1}.conv_offset.{g[1]}",
            f"pcd_alignment.dcn_pack.l{int(g[0]) + 1}.conv_offset.{g[1]}",
        ),
    ),
    (
        r"align\.cascade_offset(\d)\.(.*)",
        lambda g: (f"pcd_align.cas_offset_conv{g[0]}.{g[1]}", f"pcd_alignment.cas_offset_conv{g[0]}.conv.{g[1]}"),
    ),
    (
        r"align\.cascade_dcn\.dcn\.(.*)",
        lambda g: (f"pcd_align.cas_dcnpack.{g[0]}", f"pcd_alignment.cas_dcnpack.{g[0]}"),
    ),
    (
        r"align\.cascade_dcn\.offset_mask\.(.*)",
        lambda g: (f"pcd_align.cas_dcnpack.conv_offset.{g[0]}", f"pcd_alignment.cas_dcnpack.conv_offset.{g[0]}"),
    ),
    (r"fuse_frames\.embed_reference\.(.*)", lambda g: same(f"fusion.temporal_attn1.{g[0]}")),
    (r"fuse_frames\.embed\.(.*)", lambda g: same(f"fusion.temporal_attn2.{g[0]}")),
    (r"fuse_frames\.fusion\.(.*)", lambda g: (f"fusion.feat_fusion.{g[0]}", f"fusion.feat_fusion.conv.{g[0]}")),
    (r"fuse_frames\.attn5\.(.*)", lambda g: same(f"fusion.spatial_attn5.{g[0]}")),  # no activation: a plain conv
    (
        r"fuse_frames\.attn(\d)\.(.*)",
        lambda g: (f"fusion.spatial_attn{g[0]}.{g[1]}", f"fusion.spatial_attn{g[0]}.conv.{g[1]}"),
    ),
    (
        r"fuse_frames\.level(\d)\.(.*)",
        lambda g: (f"fusion.spatial_attn_l{g[0]}.{g[1]}", f"fusion.spatial_attn_l{g[0]}.conv.{g[1]}"),
    ),
    (
        r"fuse_frames\.add1\.(.*)",
        lambda g: (f"fusion.spatial_attn_add1.{g[0]}", f"fusion.spatial_attn_add1.conv.{g[0]}"),
    ),
    (r"fuse_frames\.add2\.(.*)", lambda g: same(f"fusion.spatial_attn_add2.{g[0]}")),
    residual("reconstruction", "reconstruction"),
    (r"up(\d)\.(.*)", lambda g: (f"upconv{g[0]}.{g[1]}", f"upsample{g[0]}.upsample_conv.{g[1]}")),
    (r"hr\.(.*)", lambda g: same(f"conv_hr.{g[0]}")),
    (r"last\.(.*)", lambda g: same(f"conv_last.{g[0]}")),
]


def _official_options(keys: CheckpointKeys) -> dict:
    """Our EDVR's options from an official checkpoint's shapes: the centre frame the reference, as
    the official weights are trained."""
    channels = keys.shape("conv_first.weight")[0]
    frames_x_channels = keys.shape("fusion.feat_fusion.weight", "fusion.feat_fusion.conv.weight")[1]
    taps_x_groups = keys.shape(
        "pcd_align.cas_dcnpack.conv_offset.weight", "pcd_alignment.cas_dcnpack.conv_offset.weight"
    )[0]
    return {
        "channels": channels,
        "frames": frames_x_channels // channels,
        "groups": taps_x_groups // 27,
        "extract_blocks": keys.count(r"feature_extraction\.(\d+)\.conv1\.weight"),
        "reconstruct_blocks": keys.count(r"reconstruction\.(\d+)\.conv1\.weight"),
        "centred": True,
    }


OFFICIAL = OfficialWeights("edvr", ("pcd_align.", "pcd_alignment."), EDVR_RULES, _official_options)


@register_model("edvr-m", official=OFFICIAL, paper=ksnet_table1(6, 3.3, 925.7, 8.6))
class EDVR(SlidingWindowVSR):
    size_multiple = 4  # two stride-2 pyramid levels, upsampled back

    def __init__(self, channels=64, frames=5, groups=8, extract_blocks=5, reconstruct_blocks=10, centred=False):
        super().__init__()
        if frames < 2 or (centred and frames % 2 == 0):
            raise ValueError(f"a window of {frames} frames: at least 2, and an odd number to have a centre")
        self.neighbours = frames - 1
        self.delay = frames // 2 if centred else 0
        self.reference = frames - 1 - self.delay  # its position in the window, oldest first
        self.extract = FeaturePyramid(channels, extract_blocks)
        self.align = PCDAlignment(channels, groups)
        self.fuse_frames = TSAFusion(channels, frames)
        self.reconstruction = nn.Sequential(*[ResidualBlock(channels) for _ in range(reconstruct_blocks)])
        self.up1, self.up2 = conv3x3(channels, 4 * channels), conv3x3(channels, 4 * 64)
        self.hr, self.last = conv3x3(64, 64), conv3x3(64, 3)

    def reconstruct(self, lr: Tensor, previous: list[Tensor]) -> Tensor:
        window = [*previous, lr]
        pyramids = [self.extract(frame) for frame in window]
        aligned = [self.align(pyramid, pyramids[self.reference]) for pyramid in pyramids]
        x = self.reconstruction(self.fuse_frames(aligned, self.reference))
        x = lrelu(F.pixel_shuffle(self.up1(x), 2))
        x = lrelu(F.pixel_shuffle(self.up2(x), 2))
        return self.last(lrelu(self.hr(x))) + upsample_lr(window[self.reference], self.scale)
