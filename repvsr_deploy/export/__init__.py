"""Single-step ONNX export of a fused model, its deformable-conv lowerings, and its verification."""

from .deform_conv import LOWERINGS, lower_deform_convs
from .step_graph import OPSET, export_onnx, write_lowered
from .verified import LIMITS, ExportReport, export_verified, precision_path
from .verify import compare_with_torch, step_errors

__all__ = [
    "LIMITS",
    "LOWERINGS",
    "OPSET",
    "ExportReport",
    "compare_with_torch",
    "export_onnx",
    "export_verified",
    "lower_deform_convs",
    "precision_path",
    "step_errors",
    "write_lowered",
]
