"""Layers that several architectures share: the plain 3x3 convolution, the residual block without
normalization, and the bilinear upsampling of the LR frame that SR networks add their residual to."""

from torch import Tensor, nn

from .subpixel import upsample_bilinear_subpixel


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, padding=1)


class ResidualBlock(nn.Module):
    """conv-ReLU-conv plus identity, no normalization."""

    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(conv3x3(width, width), nn.ReLU(), conv3x3(width, width))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def upsample_lr(lr: Tensor, scale: int) -> Tensor:
    """The base the SR network adds its residual to: bilinear x4, computed at LR (`subpixel`). (The
    TecoGAN port uses bicubic; onnxruntime's CPU cubic resize takes half of RepVSR's frame time at
    720p, bilinear 1 %.)"""
    return upsample_bilinear_subpixel(lr, scale)
