"""The flow warps' sampling (`repvsr::sample_bilinear`) in ONNX: one GridSample, as torch.onnx writes grid_sample."""

import torch
from onnxscript import opset19 as op

import repvsr_deploy.models.warp  # noqa: F401  (registers torch.ops.repvsr.sample_bilinear)


def sample_bilinear_onnx(image, grid, padding: str):
    return op.GridSample(image, grid, mode="bilinear", padding_mode=padding, align_corners=0)


TRANSLATIONS = {torch.ops.repvsr.sample_bilinear.default: sample_bilinear_onnx}
