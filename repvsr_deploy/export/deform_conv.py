"""The deformable convolutions in ONNX, two ways (`repvsr-export --dcn standard|plugin`).

standard (default): `repvsr::deform_conv2d` is one ONNX DeformConv (opset 19) with mask, and KSNet's
fused `repvsr::flow_guided_deform_conv2d` is Tanh, Mul, Gather + Tile of the flow, Add, Sigmoid and a
DeformConv. onnxruntime (>= 1.25) runs these on CPU and CUDA; TensorRT (>= 10.1) maps DeformConv to its
ModulatedDeformConv2d plugin.

plugin: the fused op is one node, FlowGuidedDeformConv (domain "repvsr"), which TensorRT's parser
hands to our plugin `repvsr::FlowGuidedDeformConv` (the `plugin_namespace` attribute says whose):
offsets, mask and sampling in one kernel. onnxruntime cannot run it.
"""

import onnx
import torch
from onnxscript import opset19 as op
from onnxscript.values import Op, Opset

import repvsr_deploy.models.deform_conv  # noqa: F401  (registers torch.ops.repvsr.*)

from ..trt.plugin_op import NAME as PLUGIN_OP
from ..trt.plugin_op import NAMESPACE as PLUGIN_DOMAIN
from ..trt.plugin_op import VERSION as PLUGIN_VERSION


def _plugin_schema() -> onnx.defs.OpSchema:
    """FlowGuidedDeformConv's signature, so that onnxscript can emit it and the checker check it."""
    P, A = onnx.defs.OpSchema.FormalParameter, onnx.defs.OpSchema.Attribute
    kinds = onnx.defs.OpSchema.AttrType
    return onnx.defs.OpSchema(
        PLUGIN_OP, PLUGIN_DOMAIN, 1,
        doc="3x3 DCNv2 of X with offsets max_residue * tanh(residual) + flow (x, y) on every tap and mask "
            "sigmoid(mask_logits); padding 1, stride 1. KSNet Eq. 12. Runs as a TensorRT plugin.",
        inputs=[P("X", "T"), P("residual", "T"), P("mask_logits", "T"), P("flow", "F"), P("W", "T"), P("B", "T")],
        outputs=[P("Y", "T")],
        type_constraints=[("T", ["tensor(float)", "tensor(float16)"], ""), ("F", ["tensor(float)"], "")],
        attributes=[
            A("offset_groups", kinds.INT, "offset groups G: residual has 18G channels, mask_logits 9G"),
            A("max_residue", kinds.FLOAT, "bound of the residual offsets"),
            A("plugin_namespace", kinds.STRING, "TensorRT plugin namespace"),
            A("plugin_version", kinds.STRING, "TensorRT plugin version"),
        ],
    )


if not onnx.defs.has(PLUGIN_OP, PLUGIN_DOMAIN):
    onnx.defs.register_schema(_plugin_schema())
_flow_guided_node = Op(Opset(PLUGIN_DOMAIN, 1), PLUGIN_OP)


def deform_conv2d_onnx(x, weight, offset, mask, bias, stride: int, padding: int, dilation: int,
                       groups: int, offset_groups: int):
    return op.DeformConv(
        x, weight, offset, bias, mask,
        dilations=[dilation, dilation], group=groups, offset_group=offset_groups,
        pads=[padding, padding, padding, padding], strides=[stride, stride],
    )


def flow_guided_deform_conv2d_standard(x, residual, mask_logits, flow, weight, bias, offset_groups: int,
                                       max_residue: float):
    flow_yx = op.Gather(flow, op.Constant(value_ints=[1, 0]), axis=1)  # DCN offsets are (dy, dx)
    flow_taps = op.Tile(flow_yx, op.Constant(value_ints=[1, 9 * offset_groups, 1, 1]))
    bound = op.CastLike(op.Constant(value_float=max_residue), residual)
    offset = op.Add(op.Mul(op.Tanh(residual), bound), op.CastLike(flow_taps, residual))
    return op.DeformConv(
        x, weight, offset, bias, op.Sigmoid(mask_logits),
        dilations=[1, 1], group=1, offset_group=offset_groups, pads=[1, 1, 1, 1], strides=[1, 1],
    )


def flow_guided_deform_conv2d_plugin(x, residual, mask_logits, flow, weight, bias, offset_groups: int,
                                     max_residue: float):
    flow = op.Cast(flow, to=onnx.TensorProto.FLOAT)  # the plugin takes the flow in float32 (4K offsets)
    return _flow_guided_node(
        x, residual, mask_logits, flow, weight, bias,
        offset_groups=offset_groups, max_residue=max_residue, plugin_namespace=PLUGIN_DOMAIN,
        plugin_version=PLUGIN_VERSION,
    )


TRANSLATIONS = {
    "standard": {
        torch.ops.repvsr.deform_conv2d.default: deform_conv2d_onnx,
        torch.ops.repvsr.flow_guided_deform_conv2d.default: flow_guided_deform_conv2d_standard,
    },
    "plugin": {
        torch.ops.repvsr.deform_conv2d.default: deform_conv2d_onnx,
        torch.ops.repvsr.flow_guided_deform_conv2d.default: flow_guided_deform_conv2d_plugin,
    },
}
