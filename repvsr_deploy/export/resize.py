"""The bilinear resizes (`repvsr::upsample_bilinear`, `repvsr::resize_bilinear`) in ONNX: one Resize
each, as torch.onnx writes F.interpolate: by scales for a factor, to sizes for a size; the phases of a
bilinear upsampling at LR (`repvsr::phase_convolution`): a Pad repeating the border and a grouped Conv."""

import torch
from onnxscript import opset19 as op

import repvsr_deploy.models.resize  # noqa: F401  (registers torch.ops.repvsr.*_bilinear)
import repvsr_deploy.models.subpixel  # noqa: F401  (registers torch.ops.repvsr.phase_convolution)


def upsample_bilinear_onnx(x, scale: int):
    scales = op.Constant(value_floats=[1.0, 1.0, float(scale), float(scale)])
    return op.Resize(x, None, scales, mode="linear", coordinate_transformation_mode="half_pixel")


def resize_bilinear_onnx(x, height, width, align_corners: bool):
    sizes = op.Concat(op.Shape(x, start=0, end=2), op.Reshape(height, [-1]), op.Reshape(width, [-1]), axis=0)
    corners = "align_corners" if align_corners else "half_pixel"
    return op.Resize(x, None, None, sizes, mode="linear", coordinate_transformation_mode=corners)


def phase_convolution_onnx(x, weight, groups: int):
    padded = op.Pad(x, op.Constant(value_ints=[0, 0, 1, 1, 0, 0, 1, 1]), mode="edge")
    return op.Conv(padded, weight, group=groups)


TRANSLATIONS = {
    torch.ops.repvsr.phase_convolution.default: phase_convolution_onnx,
    torch.ops.repvsr.upsample_bilinear.default: upsample_bilinear_onnx,
    torch.ops.repvsr.resize_bilinear.default: resize_bilinear_onnx,
}
