"""The deformable convolutions in ONNX, and their three lowerings (`repvsr-export --dcn`).

torch.onnx writes `repvsr::deform_conv2d` as one ONNX DeformConv (opset 19, with mask) and KSNet's
fused `repvsr::flow_guided_deform_conv2d` (D(O_n + s̄_n), KSNet Eq. 12) as one FlowGuidedDeformConv
node (domain "repvsr"). That graph is then lowered by rewriting those nodes:

- plugin: kept as it is. TensorRT's parser hands FlowGuidedDeformConv to our plugin
  `repvsr::FlowGuidedDeformConv` (the `plugin_namespace` attribute says whose): offsets, mask,
  sampling and the convolution in one kernel. TensorRT 10.9+ with Triton; nothing else runs it.
- standard: FlowGuidedDeformConv becomes Tanh, Mul, Gather + Tile of the flow, Add, Sigmoid and a
  DeformConv. onnxruntime (>= 1.25) runs it on CPU and CUDA; TensorRT 10/11 map DeformConv to the
  ModulatedDeformConv2d plugin of libnvinfer_plugin.
- portable: the standard graph with every DeformConv rewritten into operators every runtime has:
  one GridSample per offset group samples all taps (bilinear, zeros outside, positions in float32),
  the mask multiplies the samples, and a 1x1 Conv over the (channel, tap) columns is the
  convolution. TensorRT for RTX (which has no DeformConv plugin) and OpenVINO run it.

A lowering goes one way (plugin -> standard -> portable), so `lower_deform_convs` takes any of the
three forms and returns the one asked for.
"""

from __future__ import annotations

import onnx
import torch
from onnx import TensorProto, helper
from onnxscript import opset19 as op
from onnxscript.values import Op, Opset

import repvsr_deploy.models.deform_conv  # noqa: F401  (registers torch.ops.repvsr.*)

from ..errors import ReportedError, parameter
from ..trt.plugin_op import NAME as PLUGIN_OP
from ..trt.plugin_op import NAMESPACE as PLUGIN_DOMAIN
from ..trt.plugin_op import VERSION as PLUGIN_VERSION

LOWERINGS = ("standard", "plugin", "portable")


def _plugin_schema() -> onnx.defs.OpSchema:
    """FlowGuidedDeformConv's signature, so that onnxscript can emit it and the checker check it."""
    P, A = onnx.defs.OpSchema.FormalParameter, onnx.defs.OpSchema.Attribute
    kinds = onnx.defs.OpSchema.AttrType
    return onnx.defs.OpSchema(
        PLUGIN_OP,
        PLUGIN_DOMAIN,
        1,
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


# -- what torch.onnx writes ------------------------------------------------------------------------


def deform_conv2d_onnx(
    x, weight, offset, mask, bias, stride: int, padding: int, dilation: int, groups: int, offset_groups: int
):
    return op.DeformConv(
        x,
        weight,
        offset,
        bias,
        mask,
        dilations=[dilation, dilation],
        group=groups,
        offset_group=offset_groups,
        pads=[padding, padding, padding, padding],
        strides=[stride, stride],
    )


def flow_guided_deform_conv2d_onnx(
    x, residual, mask_logits, flow, weight, bias, offset_groups: int, max_residue: float
):
    flow = op.Cast(flow, to=TensorProto.FLOAT)  # offsets address 4K frames: the flow stays float32
    return _flow_guided_node(
        x,
        residual,
        mask_logits,
        flow,
        weight,
        bias,
        offset_groups=offset_groups,
        max_residue=max_residue,
        plugin_namespace=PLUGIN_DOMAIN,
        plugin_version=PLUGIN_VERSION,
    )


TRANSLATIONS = {
    torch.ops.repvsr.deform_conv2d.default: deform_conv2d_onnx,
    torch.ops.repvsr.flow_guided_deform_conv2d.default: flow_guided_deform_conv2d_onnx,
}


# -- the lowerings ---------------------------------------------------------------------------------


def lower_deform_convs(proto: onnx.ModelProto, dcn: str) -> onnx.ModelProto:
    """A copy of `proto` with its deformable convolutions in the form `dcn` (see the module's doc)."""
    if dcn not in LOWERINGS:
        raise ValueError(f"unknown deformable-conv lowering '{dcn}' (known: {', '.join(LOWERINGS)})")
    lowered = onnx.ModelProto()
    lowered.CopyFrom(proto)
    if dcn == "plugin":
        if any(node.op_type == "DeformConv" for node in proto.graph.node):
            raise ReportedError(
                f"{parameter('dcn')} plugin: this model has deformable convolutions outside KSNet's MFDA (as "
                f"EDVR-M's PCD), which the plugin does not run; use {parameter('dcn')} standard or portable"
            )
        return lowered
    rewrite = {PLUGIN_OP: _standard_flow_guided}
    if dcn == "portable":
        rewrite["DeformConv"] = _portable_deform_conv
    shapes = onnx.shape_inference.infer_shapes(proto)
    static = _static_shapes(shapes)
    nodes = []
    for node in proto.graph.node:
        nodes += _expand(node, rewrite, static)
    del lowered.graph.node[:]
    lowered.graph.node.extend(nodes)
    if not any(node.domain == PLUGIN_DOMAIN for node in nodes):
        kept = [o for o in lowered.opset_import if o.domain != PLUGIN_DOMAIN]
        del lowered.opset_import[:]
        lowered.opset_import.extend(kept)
    return lowered


def _expand(node: onnx.NodeProto, rewrite: dict, static: dict) -> list[onnx.NodeProto]:
    """`node`, or what replaces it, itself expanded again (FlowGuidedDeformConv -> DeformConv -> portable)."""
    if node.op_type not in rewrite:
        return [node]
    return [n for new in rewrite[node.op_type](node, static) for n in _expand(new, rewrite, static)]


def _static_shapes(proto: onnx.ModelProto) -> dict[str, list]:
    """Tensor name -> dims (ints where static) of every value shape inference knows."""
    values = [*proto.graph.input, *proto.graph.value_info, *proto.graph.output]
    shapes = {
        v.name: [d.dim_value if d.HasField("dim_value") else None for d in v.type.tensor_type.shape.dim] for v in values
    }
    shapes |= {init.name: list(init.dims) for init in proto.graph.initializer}
    return shapes


class _Nodes:
    """Builds the nodes that replace one node; every new tensor is named after it."""

    def __init__(self, replaced: onnx.NodeProto):
        self.prefix = (replaced.name or replaced.output[0]) + "/"
        self.nodes: list[onnx.NodeProto] = []

    def __call__(self, op_type: str, *inputs: str, output: str | None = None, **attributes) -> str:
        output = output or f"{self.prefix}{len(self.nodes)}_{op_type}"
        self.nodes.append(helper.make_node(op_type, list(inputs), [output], name=output, **attributes))
        return output

    def ints(self, *values: int) -> str:
        return self("Constant", value_ints=list(values))

    def floats(self, *values: float) -> str:
        return self("Constant", value_floats=list(values))

    def scalar(self, value: float) -> str:
        return self("Constant", value_float=value)

    def index(self, value: int) -> str:
        return self("Constant", value=helper.make_tensor("", TensorProto.INT64, [], [value]))


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _standard_flow_guided(node: onnx.NodeProto, static: dict) -> list[onnx.NodeProto]:
    """FlowGuidedDeformConv -> offsets max_residue * tanh(residual) + the flow (dy, dx) on every tap,
    mask sigmoid(mask_logits), and one DeformConv (3x3, padding 1)."""
    x, residual, mask_logits, flow, weight, bias = node.input
    attrs = _attributes(node)
    groups = attrs["offset_groups"]
    emit = _Nodes(node)
    flow_yx = emit("Gather", flow, emit.ints(1, 0), axis=1)  # DCN offsets are (dy, dx)
    flow_taps = emit("Tile", flow_yx, emit.ints(1, 9 * groups, 1, 1))
    bound = emit("CastLike", emit.scalar(attrs["max_residue"]), residual)
    offset = emit("Add", emit("Mul", emit("Tanh", residual), bound), emit("CastLike", flow_taps, residual))
    emit(
        "DeformConv",
        x,
        weight,
        offset,
        bias,
        emit("Sigmoid", mask_logits),
        output=node.output[0],
        dilations=[1, 1],
        group=1,
        offset_group=groups,
        pads=[1, 1, 1, 1],
        strides=[1, 1],
    )
    return emit.nodes


def _portable_deform_conv(node: onnx.NodeProto, static: dict) -> list[onnx.NodeProto]:
    """DeformConv (ONNX semantics: bilinear sampling, neighbours outside the input read as zero, the
    mask scaling each sample) in GridSample, Mul, Reshape and a 1x1 Conv.

    Sample positions are formed in float32 (a float16 position cannot address pixels past 2048)
    and normalized as with align_corners=0, which is defined for 1-pixel axes too."""
    x, weight, offset, *rest = node.input
    bias = rest[0] if rest else ""
    mask = rest[1] if len(rest) > 1 else ""
    attrs = _attributes(node)
    out_channels, channels_per_group, kh, kw = static.get(weight) or [None] * 4
    if None in (out_channels, channels_per_group, kh, kw):
        raise ValueError(f"DeformConv {node.name}: its weight shape is not static; cannot lower it")
    taps, groups, offset_groups = kh * kw, attrs.get("group", 1), attrs.get("offset_group", 1)
    channels = channels_per_group * groups
    stride_y, stride_x = attrs.get("strides", [1, 1])
    pad_y, pad_x = attrs.get("pads", [0, 0, 0, 0])[:2]
    dilation_y, dilation_x = attrs.get("dilations", [1, 1])
    emit = _Nodes(node)

    def dim(shape: str, index: int) -> str:  # one dimension of a shape, as a 1-element int64 tensor
        return emit("Slice", shape, emit.ints(index), emit.ints(index + 1))

    def positions(size: str, stride: int, pad: int) -> str:  # output pixel -> its input coordinate
        count = emit("Cast", emit("Squeeze", size), to=TensorProto.FLOAT)
        pixels = emit("Range", emit.scalar(0.0), count, emit.scalar(1.0))
        return emit("Sub", emit("Mul", pixels, emit.floats(float(stride))), emit.floats(float(pad)))

    def normalized(coordinate: str, size: str) -> str:  # pixel -> [-1, 1], align_corners=0
        scaled = emit(
            "Div",
            emit("Add", emit("Mul", coordinate, emit.floats(2.0)), emit.floats(1.0)),
            emit("Cast", size, to=TensorProto.FLOAT),
        )
        return emit("Sub", scaled, emit.floats(1.0))

    x_shape, offset_shape = emit("Shape", x), emit("Shape", offset)
    height, width = dim(x_shape, 2), dim(x_shape, 3)
    out_h, out_w = dim(offset_shape, 2), dim(offset_shape, 3)
    # offsets [N, G*K*2, OH, OW] -> dy, dx [N, G*K, OH, OW] in float32
    per_tap = emit(
        "Reshape",
        offset,
        emit("Concat", dim(offset_shape, 0), emit.ints(offset_groups * taps, 2), out_h, out_w, axis=0),
    )
    dy = emit("Cast", emit("Gather", per_tap, emit.index(0), axis=2), to=TensorProto.FLOAT)
    dx = emit("Cast", emit("Gather", per_tap, emit.index(1), axis=2), to=TensorProto.FLOAT)
    tap_y = [float((k // kw) * dilation_y) for k in range(taps)] * offset_groups
    tap_x = [float((k % kw) * dilation_x) for k in range(taps)] * offset_groups
    rows = emit("Reshape", positions(out_h, stride_y, pad_y), emit.ints(1, 1, -1, 1))
    cols = emit("Reshape", positions(out_w, stride_x, pad_x), emit.ints(1, 1, 1, -1))
    y = emit("Add", emit("Add", dy, emit("Reshape", emit.floats(*tap_y), emit.ints(1, -1, 1, 1))), rows)
    x_pos = emit("Add", emit("Add", dx, emit("Reshape", emit.floats(*tap_x), emit.ints(1, -1, 1, 1))), cols)
    grid = emit(
        "Concat",
        emit("Unsqueeze", normalized(x_pos, width), emit.ints(-1)),
        emit("Unsqueeze", normalized(y, height), emit.ints(-1)),
        axis=-1,
    )  # [N, G*K, OH, OW, (x, y)]
    grid = emit(
        "Reshape", grid, emit("Concat", emit.ints(-1), emit("Mul", emit.ints(taps), out_h), out_w, emit.ints(2), axis=0)
    )  # [N*G, K*OH, OW, 2]
    images = emit(
        "Reshape",
        emit("Cast", x, to=TensorProto.FLOAT),
        emit("Concat", emit.ints(-1, channels // offset_groups), height, width, axis=0),
    )
    sampled = emit("GridSample", images, grid, mode="bilinear", padding_mode="zeros", align_corners=0)
    by_tap = emit("Concat", emit.ints(-1, offset_groups, channels // offset_groups, taps), out_h, out_w, axis=0)
    sampled = emit("Reshape", sampled, by_tap)  # [N, G, C/G, K, OH, OW]
    if mask:
        mask_shape = emit("Concat", emit.ints(-1, offset_groups, 1, taps), out_h, out_w, axis=0)
        sampled = emit("Mul", sampled, emit("Reshape", emit("Cast", mask, to=TensorProto.FLOAT), mask_shape))
    columns = emit("Reshape", sampled, emit("Concat", emit.ints(-1, channels * taps), out_h, out_w, axis=0))
    kernels = emit("Reshape", weight, emit.ints(out_channels, channels_per_group * taps, 1, 1))
    emit(
        "Conv",
        emit("CastLike", columns, x),
        kernels,
        *([bias] if bias else []),
        output=node.output[0],
        group=groups,
        kernel_shape=[1, 1],
    )
    return emit.nodes
