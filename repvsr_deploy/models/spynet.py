"""SpyNet (Ranjan and Black 2017), the optical-flow estimator KSNet's MFDA uses (KSNet §3.3).

Six pyramid levels, each a basic module of five 7x7 convolutions (8-32-64-32-16-2) refining the
upsampled flow of the coarser level: 1,440,300 parameters. As in BasicVSR, frames are resized to
the next multiple of 32 so that every level halves exactly, and the flow is resized back.
Frames need 33 pixels a side: the coarsest level must be 2x2 at least for one traced graph to
serve every size.
"""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .official_names import Rule
from .resize import resize_bilinear
from .warp import flow_warp

LEVELS = 6

# our names in BasicSR's and MMagic's SpyNet (`official_names`)
SPYNET_RULES: list[Rule] = [
    (
        r"levels\.(\d+)\.layers\.(\d+)\.(weight|bias)",  # layers 0, 2, 4, 6, 8: the convs between ReLUs
        lambda g: (
            f"basic_module.{g[0]}.basic_module.{g[1]}.{g[2]}",
            f"basic_module.{g[0]}.basic_module.{int(g[1]) // 2}.conv.{g[2]}",
        ),
    ),
]

# SpyNet's input normalisation, a buffer in the public code (saved in its checkpoints), a constant in ours
SPYNET_CONSTANTS = {"spynet.mean": (0.485, 0.456, 0.406), "spynet.std": (0.229, 0.224, 0.225)}


class SpyNetBasicModule(nn.Module):
    def __init__(self):
        super().__init__()
        widths = [8, 32, 64, 32, 16, 2]
        layers: list[nn.Module] = []
        for cin, cout in zip(widths, widths[1:]):
            layers += [nn.Conv2d(cin, cout, 7, padding=3), nn.ReLU()]
        self.layers = nn.Sequential(*layers[:-1])  # no activation on the flow

    def forward(self, reference: Tensor, warped_support: Tensor, flow: Tensor) -> Tensor:
        return self.layers(torch.cat([reference, warped_support, flow], dim=1))


class SpyNet(nn.Module):
    """flow = SpyNet(reference, support): pixel offsets such that flow_warp(support, flow) ~ reference."""

    min_size = 2 ** (LEVELS - 1) + 1

    def __init__(self):
        super().__init__()
        self.levels = nn.ModuleList([SpyNetBasicModule() for _ in range(LEVELS)])
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1), persistent=False)

    def forward(self, reference: Tensor, support: Tensor) -> Tensor:
        height, width = reference.shape[-2:]
        multiple = 2 ** (LEVELS - 1)
        size = ((height + multiple - 1) // multiple * multiple, (width + multiple - 1) // multiple * multiple)
        pyramid = [(_resize((reference - self.mean) / self.std, size), _resize((support - self.mean) / self.std, size))]
        for _ in range(LEVELS - 1):
            pyramid.insert(0, tuple(F.avg_pool2d(image, 2) for image in pyramid[0]))
        coarsest, _ = pyramid[0]
        flow = coarsest.new_zeros(coarsest.shape[0], 2, *coarsest.shape[2:])
        for level, (module, (ref, sup)) in enumerate(zip(self.levels, pyramid)):
            if level > 0:
                flow = 2 * _resize(flow, ref.shape[-2:], align_corners=True)
            flow = flow + module(ref, flow_warp(sup, flow), flow)
        flow = _resize(flow, (height, width))
        return torch.cat([flow[:, :1] * (width / size[1]), flow[:, 1:] * (height / size[0])], dim=1)


def _resize(image: Tensor, size, align_corners: bool = False) -> Tensor:
    return resize_bilinear(image, size[0], size[1], align_corners)
