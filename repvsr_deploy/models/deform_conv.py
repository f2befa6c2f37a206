"""Modulated deformable convolution (DCNv2) as custom ops, in plain torch (grid_sample + a matrix
product), so they run and differentiate on the CPU and on CUDA, and stay one node through
torch.export for the exporter to lower:

- `repvsr::deform_conv2d`: ONNX DeformConv's semantics: offsets laid out (group, kh, kw, (dy, dx)),
  bilinear sampling, neighbours outside the input count as zero, the mask scales each sample.
- `repvsr::flow_guided_deform_conv2d`: KSNet's D(O_n + s̄_n) (Eq. 12) whole: offsets =
  max_residue * tanh(residual) + the flow on every tap, mask = sigmoid(mask logits), then DCNv2.
  Exported as standard ops + DeformConv, or as one node for our TensorRT plugin (`--dcn plugin`).
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import conv_flop_count, register_flop_formula

from .custom_ops import differentiate_by_reference


def deform_conv2d_reference(
    x: Tensor,
    weight: Tensor,
    offset: Tensor,
    mask: Tensor,
    bias: Tensor,
    stride: int,
    padding: int,
    dilation: int,
    groups: int,
    offset_groups: int,
) -> Tensor:
    """DCNv2 in differentiable torch ops: sample every kernel tap with grid_sample, then one matmul."""
    n, channels, height, width = x.shape
    out_channels, channels_per_group, kh, kw = weight.shape
    out_h, out_w = offset.shape[-2:]
    taps = kh * kw
    tap_y, tap_x = torch.meshgrid(_arange(kh, x) * dilation, _arange(kw, x) * dilation, indexing="ij")
    offset = offset.reshape(n, offset_groups, taps, 2, out_h, out_w)
    y = (_arange(out_h, x) * stride - padding).view(1, 1, 1, out_h, 1) + tap_y.reshape(1, 1, taps, 1, 1)
    x_pos = (_arange(out_w, x) * stride - padding).view(1, 1, 1, 1, out_w) + tap_x.reshape(1, 1, taps, 1, 1)
    y, x_pos = y + offset[:, :, :, 0], x_pos + offset[:, :, :, 1]
    # pixel centres normalized as with align_corners=False, which (unlike True) is defined on a
    # 1-pixel axis too; padding with zeros reads every neighbour outside the input as zero
    grid = torch.stack(((2 * x_pos + 1) / width - 1, (2 * y + 1) / height - 1), dim=-1)
    sampled = F.grid_sample(
        x.reshape(n * offset_groups, channels // offset_groups, height, width),
        grid.reshape(n * offset_groups, taps * out_h, out_w, 2),
        mode="bilinear",
        padding_mode="zeros",
        align_corners=False,
    )
    sampled = sampled.reshape(n, offset_groups, channels // offset_groups, taps, out_h, out_w)
    sampled = sampled * mask.reshape(n, offset_groups, 1, taps, out_h, out_w)
    columns = sampled.reshape(n, groups, channels_per_group * taps, out_h * out_w)
    kernels = weight.reshape(groups, out_channels // groups, channels_per_group * taps)
    out = torch.einsum("gok,ngkl->ngol", kernels, columns).reshape(n, out_channels, out_h, out_w)
    return out + bias.view(1, -1, 1, 1)


def _arange(size: int, like: Tensor) -> Tensor:
    return torch.arange(size, dtype=like.dtype, device=like.device)


@torch.library.custom_op("repvsr::deform_conv2d", mutates_args=())
def deform_conv2d(
    x: Tensor,
    weight: Tensor,
    offset: Tensor,
    mask: Tensor,
    bias: Tensor,
    stride: int,
    padding: int,
    dilation: int,
    groups: int,
    offset_groups: int,
) -> Tensor:
    return deform_conv2d_reference(x, weight, offset, mask, bias, stride, padding, dilation, groups, offset_groups)


@deform_conv2d.register_fake
def _(x, weight, offset, mask, bias, stride, padding, dilation, groups, offset_groups):
    return x.new_empty(x.shape[0], weight.shape[0], offset.shape[-2], offset.shape[-1])


differentiate_by_reference(deform_conv2d, deform_conv2d_reference, tensors=5)


@register_flop_formula(torch.ops.repvsr.deform_conv2d)
def _deform_conv2d_flops(x_shape, w_shape, *args, out_shape=None, **kwargs) -> int:
    return conv_flop_count(x_shape, w_shape, out_shape)  # a 3x3 conv's multiply-adds; sampling not counted


def flow_guided_deform_conv2d_reference(
    x: Tensor,
    residual: Tensor,
    mask_logits: Tensor,
    flow: Tensor,
    weight: Tensor,
    bias: Tensor,
    offset_groups: int,
    max_residue: float,
) -> Tensor:
    """3x3 DCNv2 over `x` whose offsets are a bounded residual plus `flow` (x, y) on every tap."""
    taps = mask_logits.shape[1]
    flow_yx = flow.flip(1).repeat(1, taps, 1, 1).to(residual.dtype)  # DCN offsets are (dy, dx) per tap
    offset = max_residue * torch.tanh(residual) + flow_yx
    padding = weight.shape[-1] // 2
    return deform_conv2d_reference(x, weight, offset, torch.sigmoid(mask_logits), bias, 1, padding, 1, 1, offset_groups)


@torch.library.custom_op("repvsr::flow_guided_deform_conv2d", mutates_args=())
def flow_guided_deform_conv2d(
    x: Tensor,
    residual: Tensor,
    mask_logits: Tensor,
    flow: Tensor,
    weight: Tensor,
    bias: Tensor,
    offset_groups: int,
    max_residue: float,
) -> Tensor:
    return flow_guided_deform_conv2d_reference(x, residual, mask_logits, flow, weight, bias, offset_groups, max_residue)


@flow_guided_deform_conv2d.register_fake
def _(x, residual, mask_logits, flow, weight, bias, offset_groups, max_residue):
    return x.new_empty(x.shape[0], weight.shape[0], *x.shape[2:])


differentiate_by_reference(flow_guided_deform_conv2d, flow_guided_deform_conv2d_reference, tensors=6)


@register_flop_formula(torch.ops.repvsr.flow_guided_deform_conv2d)
def _flow_guided_flops(
    x_shape, residual_shape, mask_shape, flow_shape, w_shape, *args, out_shape=None, **kwargs
) -> int:
    return conv_flop_count(x_shape, w_shape, out_shape)


class ModulatedDeformConv2d(nn.Module):
    """A k x k DCNv2 layer whose offsets and mask are given per call, `padding` = k // 2."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, offset_groups: int = 1):
        super().__init__()
        if offset_groups < 1 or in_channels % offset_groups:
            raise ValueError(f"{offset_groups} offset groups do not divide {in_channels} channels")
        self.offset_groups = offset_groups
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    @property
    def taps(self) -> int:
        return self.weight.shape[-1] * self.weight.shape[-2]

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        padding = self.weight.shape[-1] // 2
        return deform_conv2d(x, self.weight, offset, mask, self.bias, 1, padding, 1, 1, self.offset_groups)

    def flow_guided(self, x: Tensor, residual: Tensor, mask_logits: Tensor, flow: Tensor, max_residue: float) -> Tensor:
        """Offsets max_residue * tanh(residual) + flow on every tap, mask sigmoid(mask_logits): one op."""
        return flow_guided_deform_conv2d(
            x, residual, mask_logits, flow, self.weight, self.bias, self.offset_groups, max_residue
        )


def has_deform_conv(model: nn.Module) -> bool:
    """Whether `model` holds a modulated deformable convolution (KSNet's MFDA, EDVR-M's PCD): the
    models whose graphs `--dcn` lowers."""
    return any(isinstance(m, ModulatedDeformConv2d) for m in model.modules())
