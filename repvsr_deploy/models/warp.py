"""Flow upsampling and backward warping, computed in at least float32.

A float16 sampling grid cannot address pixels beyond 2048 exactly (a 4K frame is 3840 wide), so
these stay in float32 inside float16 graphs; float64 passes through for exactness tests.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def at_least_float32(t: Tensor) -> Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def upsample_flow(flow: Tensor, scale: int) -> Tensor:
    """LR flow [B,2,H,W] (pixels) -> HR flow [B,2,sH,sW] (pixels): bilinear resize, vectors times s."""
    flow = at_least_float32(flow)
    return scale * F.interpolate(flow, scale_factor=scale, mode="bilinear", align_corners=False)


def flow_warp(image: Tensor, flow: Tensor, padding: str = "border") -> Tensor:
    """Backward warp: out(p) = image(p + flow(p)), bilinear; outside the image the border pixel
    (`padding="border"`) or zero (`"zeros"`, as BasicVSR warps its features)."""
    flow = at_least_float32(flow)
    _, _, height, width = flow.shape
    xs = torch.arange(width, dtype=flow.dtype, device=flow.device).view(1, 1, width)
    ys = torch.arange(height, dtype=flow.dtype, device=flow.device).view(1, height, 1)
    grid_x = (2 * (xs + flow[:, 0]) + 1) / width - 1  # pixel centres -> [-1, 1], align_corners=False
    grid_y = (2 * (ys + flow[:, 1]) + 1) / height - 1
    grid = torch.stack((grid_x, grid_y), dim=-1)
    warped = F.grid_sample(image.to(flow.dtype), grid, mode="bilinear", padding_mode=padding, align_corners=False)
    return warped.to(image.dtype)
