"""Bilinear resizing as custom ops: `upsample_bilinear` by an integer factor, `resize_bilinear` to a size.

Traced with symbolic H and W, torch works out an interpolation's output shape by tracing its whole
Python decomposition (a fifth of RepVSR's export time went to its two x4 upsamplings, before they
moved to LR: `subpixel`); as custom ops
each costs a shape, and torch.onnx writes the one Resize node it wrote for F.interpolate
(`export.resize`): scales for a factor, sizes for a size.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from .custom_ops import differentiate_by_reference


def upsample_bilinear_reference(x: Tensor, scale: int) -> Tensor:
    return F.interpolate(x, scale_factor=scale, mode="bilinear", align_corners=False)


@torch.library.custom_op("repvsr::upsample_bilinear", mutates_args=())
def upsample_bilinear(x: Tensor, scale: int) -> Tensor:
    """x [B,C,H,W] -> [B,C,sH,sW], bilinear over pixel centres (align_corners=False)."""
    return upsample_bilinear_reference(x, scale)


@upsample_bilinear.register_fake
def _(x, scale):
    return x.new_empty(x.shape[0], x.shape[1], x.shape[2] * scale, x.shape[3] * scale)


def resize_bilinear_reference(x: Tensor, height: int, width: int, align_corners: bool) -> Tensor:
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=align_corners)


@torch.library.custom_op("repvsr::resize_bilinear", mutates_args=())
def resize_bilinear(x: Tensor, height: int, width: int, align_corners: bool) -> Tensor:
    """x [B,C,H,W] -> [B,C,height,width], bilinear."""
    return resize_bilinear_reference(x, height, width, align_corners)


@resize_bilinear.register_fake
def _(x, height, width, align_corners):
    return x.new_empty(x.shape[0], x.shape[1], height, width)


differentiate_by_reference(upsample_bilinear, upsample_bilinear_reference, tensors=1)
differentiate_by_reference(resize_bilinear, resize_bilinear_reference, tensors=1)
