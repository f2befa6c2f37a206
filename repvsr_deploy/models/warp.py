"""Flow upsampling and backward warping, computed in at least float32.

A float16 sampling grid cannot address pixels beyond 2048 exactly (a 4K frame is 3840 wide), so
these stay in float32 inside float16 graphs; float64 passes through for exactness tests.

The sampling itself is the custom op `repvsr::sample_bilinear` (grid_sample, bilinear, pixel centres):
traced with symbolic H and W, torch works out grid_sample's output shape by tracing its whole Python
decomposition, which was a third of a KSNet export's time; as one op it costs a shape, and torch.onnx
writes it as the one GridSample node it was (`export.warp`).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from .custom_ops import differentiate_by_reference
from .subpixel import upsampled_flow_grid_by_phase


def at_least_float32(t: Tensor) -> Tensor:
    return t if t.dtype in (torch.float32, torch.float64) else t.float()


def warped_space_to_depth(image: Tensor, flow: Tensor, scale: int) -> Tensor:
    """`F.pixel_unshuffle(flow_warp(image, scale * bilinear_x_scale(flow)), scale)`, borders repeated:
    image [B,C,sH,sW] and flow [B,2,H,W] -> [B,C·s²,H,W]. The sampling grid is computed at the flow's
    resolution in phase order (`subpixel.upsampled_flow_grid_by_phase`), so the sampling gives the
    space-to-depth directly: of the work at `image`'s size, only the sampling is left."""
    flow = at_least_float32(flow)
    batch, channels = image.shape[:2]
    height, width = flow.shape[-2:]
    grid = upsampled_flow_grid_by_phase(flow, scale)
    warped = sample_bilinear(image.to(flow.dtype), grid, "border")  # [B, C, s²·H, W] in phase order
    return warped.reshape(batch, channels * scale * scale, height, width).to(image.dtype)


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
    return sample_bilinear(image.to(flow.dtype), grid, padding).to(image.dtype)


def sample_bilinear_reference(image: Tensor, grid: Tensor, padding: str) -> Tensor:
    """image sampled at `grid` ([B,H',W',(x, y)] in [-1, 1] over the pixel centres), bilinear."""
    return F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=False)


@torch.library.custom_op("repvsr::sample_bilinear", mutates_args=())
def sample_bilinear(image: Tensor, grid: Tensor, padding: str) -> Tensor:
    return sample_bilinear_reference(image, grid, padding)


@sample_bilinear.register_fake
def _(image, grid, padding):
    return image.new_empty(image.shape[0], image.shape[1], grid.shape[1], grid.shape[2])


differentiate_by_reference(sample_bilinear, sample_bilinear_reference, tensors=2)
