"""Single-step ONNX export of a fused model, and its verification against torch."""

from .step_graph import OPSET, export_onnx
from .verify import compare_with_torch

__all__ = ["OPSET", "compare_with_torch", "export_onnx"]
