"""What a quantized graph is for, and how NNCF makes it (post-training quantization, its defaults:
symmetric 8-bit, per-channel weights, statistics over the calibration runs, fast bias correction).

- openvino: NNCF on the OpenVINO model of the fp32 graph, saved as OpenVINO IR (`.xml` + `.bin`);
  OpenVINO's CPU plugin runs its FakeQuantize ops in int8 (VNNI, AMX). Or bf16: the fp32 model as it
  is, run with OpenVINO's bf16 inference precision (AMX, AVX-512 BF16; elsewhere it stays fp32),
  which rounds weights and activations as it goes: nothing to calibrate, only to check.
- onnxruntime: NNCF on the ONNX graph: a Q/DQ ONNX graph as NNCF writes it (activations that are
  never negative get uint8, as onnxruntime's CPU kernels take them).
- tensorrt: the same Q/DQ graph with every quantizer signed: TensorRT takes int8 Q/DQ only (it would
  read a uint8 quantizer as int8 and clip its upper half), so a uint8 quantizer of scale s (levels
  0..255) becomes an int8 one of scale 255 s / 127 (levels 0..127, the same range at half the
  resolution). FP8 (E4M3) Q/DQ too, for GPUs that have it (compute capability 8.9 and later).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence


@dataclass(frozen=True)
class Target:
    name: str
    suffix: str  # of the artifact
    precisions: tuple[str, ...]
    checked_on: str  # the backend the artifact is checked on here (tensorrt: see `check_backend`)


TARGETS = {
    target.name: target
    for target in (
        Target("openvino", ".xml", ("int8", "bf16"), "openvino"),
        Target("onnxruntime", ".onnx", ("int8",), "onnxruntime"),
        Target("tensorrt", ".onnx", ("int8", "fp8"), "onnxruntime"),
    )
}


def import_nncf():
    try:
        import nncf
    except ImportError:
        raise MissingDependency("nncf", "quantize", "repvsr-quantize") from None
    nncf.set_log_level(40)  # errors only: its progress bars and notes would bury ours
    return nncf


def quantizer_version(precision: str = "int8") -> str:
    """What made a graph of `precision`: NNCF, or for bf16 OpenVINO (its runtime rounds)."""
    package = "openvino" if precision == "bf16" else "nncf"
    return f"{package} {importlib.metadata.version(package)}"


def artifact_path(graph: Path, target: Target, precision: str) -> Path:
    """Where a quantized graph goes by default: beside the fp32 graph, named by precision and target."""
    graph = Path(graph)
    tail = f".{target.name}" if target.name == "tensorrt" else ""  # not to be taken for onnxruntime's
    return graph.with_name(f"{graph.stem}.{precision}{tail}{target.suffix}")


def quantize_model(graph: Path, target: Target, precision: str, feeds: list[dict], float_nodes: list[str]):
    """The quantized model of the fp32 graph at `graph` (an ov.Model for openvino, else an
    onnx.ModelProto), calibrated on `feeds`, the ops named in `float_nodes` left in float; for bf16
    the fp32 model itself (its runtime rounds)."""
    if precision == "bf16":  # OpenVINO's, as it runs (`openvino_backend._config`)
        from ..runtime.openvino_backend import openvino_core

        return openvino_core().read_model(str(graph))
    nncf = import_nncf()
    import onnx
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters, OverflowFix

    if target.name == "openvino":
        from ..runtime.openvino_backend import openvino_core

        model = openvino_core().read_model(str(graph))
        kept = openvino_names(model, onnx.load(graph, load_external_data=False), set(float_nodes))
    else:
        model, kept = distinct_inputs(onnx.load(graph)), list(float_nodes)
    options = {"subset_size": len(feeds), "ignored_scope": nncf.IgnoredScope(names=kept, validate=False)}
    if target.name == "tensorrt":  # the weights' 7-bit overflow fix is for CPUs without VNNI
        options["advanced_parameters"] = AdvancedQuantizationParameters(overflow_fix=OverflowFix.DISABLE)
    if precision == "fp8":
        options["mode"] = nncf.QuantizationMode.FP8_E4M3
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # NNCF's progress bars
        try:
            quantized = nncf.quantize(model, nncf.Dataset(feeds), **options)
        except Exception as exc:  # NNCF's InternalError, ValueError, ...: a graph it cannot take
            raise ReportedError(f"{graph}: NNCF cannot quantize it ({first_sentence(exc)})") from None
    return signed_int8(quantized) if target.name == "tensorrt" and precision == "int8" else quantized


def distinct_inputs(model):
    """The ONNX model with a node that takes one tensor twice (EDVR-M's Concat of a feature with
    itself) given it once through an Identity: NNCF's ONNX backend cannot place a quantizer on an
    edge that ends twice at one node."""
    from onnx import helper

    nodes = []
    for node in model.graph.node:
        seen: set[str] = set()
        for index, name in enumerate(node.input):
            if name and name in seen:
                copy = f"{name}__{node.name}_{index}"
                nodes.append(helper.make_node("Identity", [name], [copy], name=f"{node.name}/input_{index}"))
                node.input[index] = copy
            seen.add(name)
        nodes.append(node)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return model


def openvino_names(model, graph, onnx_names: set[str]) -> list[str]:
    """The OpenVINO ops that implement the ONNX nodes named. OpenVINO keeps ONNX tensor names on the
    ops that output them; the ops it adds inside a node (a conv before its bias add, a transposed
    conv's ConvolutionBackpropData) output unnamed tensors, and belong to the node their outputs feed."""
    node_of_tensor = {tensor: node.name for node in graph.graph.node for tensor in node.output}
    origin: dict[str, str] = {}
    for op in reversed(model.get_ordered_ops()):  # every op after the ops that consume it
        tensors = {name for output in op.outputs() for name in output.get_names()}
        nodes = {node_of_tensor[t] for t in tensors if t in node_of_tensor}
        if not nodes:
            consumers = {t.get_node().get_friendly_name() for o in op.outputs() for t in o.get_target_inputs()}
            nodes = {origin[c] for c in consumers if c in origin}
        if len(nodes) == 1:
            origin[op.get_friendly_name()] = nodes.pop()
    return [name for name, node in origin.items() if node in onnx_names]


def signed_int8(model):
    """The Q/DQ ONNX model with each uint8 quantizer (zero point 0: levels 0..255 of scale s) made
    int8 (levels 0..127 of scale 255 s / 127): the same range, which TensorRT's int8 can hold."""
    from onnx import TensorProto, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    unsigned = {}  # zero point -> scale, of each uint8 quantizer (a Q and its DQ share both)
    quantized_tensors = set()  # the outputs of those quantizers' QuantizeLinear
    for node in model.graph.node:
        if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) == 3:
            zero = initializers.get(node.input[2])
            if zero is not None and numpy_helper.to_array(zero).dtype == np.uint8:
                unsigned[node.input[2]] = node.input[1]
                if node.op_type == "QuantizeLinear":
                    quantized_tensors.update(node.output)
    for value in model.graph.value_info:
        if value.name in quantized_tensors:
            value.type.tensor_type.elem_type = TensorProto.INT8
    for zero_name in unsigned:
        zero = numpy_helper.to_array(initializers[zero_name])
        if zero.any():  # NNCF's quantizers are symmetric; an asymmetric one has no int8 twin
            raise ReportedError(f"the quantizer of zero point {zero_name} is asymmetric; TensorRT cannot take it")
        initializers[zero_name].CopyFrom(numpy_helper.from_array(zero.astype(np.int8), zero_name))
    for scale_name in set(unsigned.values()):
        scale = numpy_helper.to_array(initializers[scale_name]) * np.float32(255 / 127)
        initializers[scale_name].CopyFrom(numpy_helper.from_array(scale.astype(np.float32), scale_name))
    return model
