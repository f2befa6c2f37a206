"""Work at the output resolution done at the input resolution, in sub-pixel form: an image upsampled
by an integer factor s is s² phases of the LR image, pixel (s·i + ry, s·j + rx) of the output being
phase (ry, rx) at LR pixel (i, j); `F.pixel_shuffle` interleaves them, once, where a full-size tensor
is needed.

Bilinear x s (pixel centres, borders repeated, as `F.interpolate(..., align_corners=False)`) is then
a fixed 3x3 convolution at LR: output (s·i + r) samples LR position i + (r + ½)/s − ½, between LR
pixels i − 1 and i (r < s/2) or i and i + 1, so each phase mixes the 3x3 LR neighbourhood with
weights that depend on the phase only; a border repeated at LR is the border the interpolation
clamps to. Runtimes whose blocked layouts pad channels to 8 or 16 spend as much on a 2- or 3-channel
tensor at the output size as on a 16-channel one; here such work runs on 2·s² or 3·s² channels at LR.
"""

import torch
import torch.nn.functional as F
from torch import Tensor

from .custom_ops import differentiate_by_reference


def bilinear_phase_weights(scale: int, dtype: torch.dtype, device=None) -> Tensor:
    """[s², 1, 3, 3]: phase (ry, rx) (row ry·s + rx) of a bilinear x s upsampling, over LR offsets −1,
    0, 1; computed where it is used (no copy from the host, which a CUDA graph could not capture)."""
    offset = (torch.arange(scale, dtype=dtype, device=device) + 0.5) / scale - 0.5  # from each phase's pixel
    taps = torch.stack((torch.clamp(-offset, min=0), 1 - offset.abs(), torch.clamp(offset, min=0)), dim=1)
    return (taps[:, None, :, None] * taps[None, :, None, :]).reshape(scale * scale, 1, 3, 3)


def bilinear_phases(x: Tensor, scale: int) -> Tensor:
    """x [B,C,H,W] -> [B,C·s²,H,W]: the phases of its bilinear x s upsampling, channel c·s² + ry·s + rx
    (as `F.pixel_shuffle` takes them)."""
    channels = x.shape[1]
    weight = bilinear_phase_weights(scale, x.dtype, x.device).repeat(channels, 1, 1, 1)
    return phase_convolution(x, weight, channels)


def phase_convolution_reference(x: Tensor, weight: Tensor, groups: int) -> Tensor:
    return F.conv2d(_border_repeated(x), weight, groups=groups)


def _border_repeated(x: Tensor) -> Tensor:
    """x with its first and last row and column repeated once: F.pad's "replicate", whose backward
    torch.compile's Inductor fails on channels-last inputs (torch 2.13)."""
    x = torch.cat((x[..., :1, :], x, x[..., -1:, :]), dim=-2)
    return torch.cat((x[..., :1], x, x[..., -1:]), dim=-1)


@torch.library.custom_op("repvsr::phase_convolution", mutates_args=())
def phase_convolution(x: Tensor, weight: Tensor, groups: int) -> Tensor:
    """The fixed 3x3 convolution of `bilinear_phases`, borders repeated: an op of its own, so that
    FLOP counts leave it out as the interpolation it is (`bench.flops`) and int8 keeps it in float
    (`quantize.float_rules`); one Pad and one Conv in ONNX (`export.resize`)."""
    return phase_convolution_reference(x, weight, groups)


@phase_convolution.register_fake
def _(x, weight, groups):
    return x.new_empty(x.shape[0], weight.shape[0], x.shape[2], x.shape[3])


differentiate_by_reference(phase_convolution, phase_convolution_reference, tensors=2)


def upsample_bilinear_subpixel(x: Tensor, scale: int) -> Tensor:
    """Bilinear x s, as `F.interpolate(x, scale_factor=s, mode="bilinear")`, computed at LR."""
    return F.pixel_shuffle(bilinear_phases(x, scale), scale)


def upsampled_flow_grid_by_phase(flow: Tensor, scale: int) -> Tensor:
    """The sampling grid with which `flow_warp(image, s * bilinear_x_s(flow))` samples, its output
    pixels in phase order: [B, s²·H, W, (x, y)], row (ry·s + rx)·H + i and column j for output pixel
    (s·i + ry, s·j + rx). Sampled with it, an image comes out as its `F.pixel_unshuffle` (channel
    c·s² + ry·s + rx, once [B,C,s²H,W] is viewed as [B,C·s²,H,W]), which is what the
    frame-recurrent step takes; no transpose interleaves the phases.

    Output pixel (p, q) samples (q + s·u(p, q), p + s·v(p, q)), u and v the flow upsampled
    bilinearly; normalised to [−1, 1] over pixel centres, x = u·2/W + (2q + 1)/(sW) − 1 and
    y = v·2/H + (2p + 1)/(sH) − 1. Both channels' s² phases are computed at LR at once; the scale
    and offset per channel and phase depend on the size only, so a runtime that knows the size
    folds them."""
    batch, _, height, width = flow.shape
    phases = bilinear_phases(flow, scale).view(batch, 2, scale, scale, height, width)  # (c, ry, rx, i, j)
    steps = torch.arange(scale, dtype=flow.dtype, device=flow.device)
    column = scale * torch.arange(width, dtype=flow.dtype, device=flow.device) + steps.view(scale, 1)  # [rx, j]
    row = scale * torch.arange(height, dtype=flow.dtype, device=flow.device) + steps.view(scale, 1)  # [ry, i]
    phase_shape = (1, 1, scale, scale, height, width)
    offset = torch.cat(
        (
            ((2 * column + 1) / (scale * width) - 1).view(1, 1, 1, scale, 1, width).expand(phase_shape),
            ((2 * row + 1) / (scale * height) - 1).view(1, 1, scale, 1, height, 1).expand(phase_shape),
        ),
        dim=1,
    )
    one = flow.new_ones(1, 1, 1, 1, 1, 1)
    factor = torch.cat((one * 2 / width, one * 2 / height), dim=1)
    grid = phases * factor + offset  # [B, (x, y), ry, rx, i, j]
    return grid.permute(0, 2, 3, 4, 5, 1).reshape(batch, scale * scale * height, width, 2)
