"""`repvsr::deform_conv2d` in ONNX: the standard DeformConv (opset 19) with mask, one node.

onnxruntime (>= 1.25) runs it on CPU and CUDA; TensorRT (>= 10.1) maps it to its
ModulatedDeformConv2d plugin.
"""

import torch
from onnxscript import opset19 as op

import repvsr_deploy.models.deform_conv  # noqa: F401  (registers torch.ops.repvsr.deform_conv2d)


def deform_conv2d_onnx(x, weight, offset, mask, bias, stride: int, padding: int, dilation: int,
                       groups: int, offset_groups: int):
    return op.DeformConv(
        x, weight, offset, bias, mask,
        dilations=[dilation, dilation], group=groups, offset_group=offset_groups,
        pads=[padding, padding, padding, padding], strides=[stride, stride],
    )


TRANSLATIONS = {torch.ops.repvsr.deform_conv2d.default: deform_conv2d_onnx}
