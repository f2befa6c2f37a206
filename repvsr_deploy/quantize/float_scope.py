"""What stays in float in a quantized graph, by the graph's structure (any model, any export):

- sampling: where the model samples, i.e. the ops from the last convolutions to a warp's or a
  deformable conv's sampling positions (GridSample's grid: the flow path of RepVSR, FRVSR and the
  portable deformable convs), DeformConv's offsets and masks, and sigmoid masks. An 8-bit position
  over a flow's range is off by a fraction of a pixel, and the error is carried in the state.
- ranking: KSNet's channel ranking (the scores TopK sorts): a rounding can swap two channels.
- input: the first convolutions that read the frame and the state, and the ops before them: the
  frame is 8-bit already, but the state (a previous HR frame, a feature) is not.
- output: the ops from the last convolutions to the HR frame: the frame is the model's result, and
  8 bits of a residual's range are coarser than 8 bits of the frame.

Each rule names the ops it keeps by walking from what it protects to the nearest convolutions
(included): back from the sampling positions, the scores and the output, forward from the inputs.
Whatever the rules, the fixed convolutions of a bilinear upsampling done at LR
(`models.subpixel.phase_convolution`, and the Pad before each) stay in float: they are the
interpolation a Resize did (which NNCF does not quantize), not learned weights, and a walk passes
through them. So does what carries their phases to where a residual is added to them (a
DepthToSpace, the Add): quantized there, the bilinear base of the HR frame took a rounding to 8
bits and two reorders at the output size (RepVSR at 720p on OpenVINO: ~1 ms a frame).
Which rules a quantization applies by default is measured, not guessed: see `DEFAULT_RULES`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import onnx

RULES = ("sampling", "ranking", "input", "output")
# What the state carries stays float. On RepVSR at 720p on OpenVINO (benchmarks/int8_sensitivity.py
# and docs/commands/quantize.md) `input` and `output` buy 0.026 and 0.010 dB for 17 % and 65 % more
# time a frame: left to the user.
DEFAULT_RULES = ("sampling", "ranking")
CONVOLUTIONS = ("Conv", "ConvTranspose")


@dataclass(frozen=True)
class FloatNode:
    name: str  # the ONNX node's name
    op: str
    rule: str


def float_nodes(graph: onnx.ModelProto, rules: Iterable[str]) -> list[FloatNode]:
    """The nodes `rules` keep in float, and the interpolation, in graph order, each named once (by
    the first rule keeping it)."""
    producers = {output: node for node in graph.graph.node for output in node.output}
    consumers: dict[str, list] = {}
    for node in graph.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    kept: dict[str, str] = {}
    interpolation = interpolation_nodes(graph)
    for node in graph.graph.node:
        if node.name in interpolation:
            kept[node.name] = "interpolation"
            kept[producers[node.input[0]].name] = "interpolation"  # its Pad
            for carried in _to_the_residual(node, consumers):
                kept[carried.name] = "interpolation"
    for rule in rules:
        if rule == "input":
            weights = {init.name for init in graph.graph.initializer}
            inputs = [i.name for i in graph.graph.input if i.name not in weights]
            found = _walk(inputs, lambda tensor: consumers.get(tensor, []), lambda node: node.output, interpolation)
        else:
            found = _walk(
                _protected(graph, rule),
                lambda tensor: [producers[tensor]] if tensor in producers else [],
                lambda node: node.input,
                interpolation,
            )
        for node in found:
            kept.setdefault(node.name, rule)
    return [FloatNode(n.name, n.op_type, kept[n.name]) for n in graph.graph.node if n.name in kept]


def _protected(graph: onnx.ModelProto, rule: str) -> list[str]:
    """The tensors a rule protects."""
    nodes = graph.graph.node
    if rule == "sampling":
        return [
            *(n.input[1] for n in nodes if n.op_type == "GridSample"),
            *(t for n in nodes if n.op_type == "DeformConv" for t in n.input[2:3] + n.input[4:5] if t),
            *(n.output[0] for n in nodes if n.op_type == "Sigmoid"),
        ]
    if rule == "ranking":
        return [n.input[0] for n in nodes if n.op_type == "TopK"]
    if rule == "output":
        return [graph.graph.output[0].name]  # the HR frame (a backward graph's feature)
    raise ValueError(f"unknown float rule {rule!r} (known: {', '.join(RULES)})")


def interpolation_nodes(graph: onnx.ModelProto) -> set[str]:
    """The convolutions that compute the phases of a bilinear upsampling (`repvsr::phase_convolution`):
    by their shape, whatever tool wrote or rewrote the graph: a grouped 3x3 convolution without bias,
    s² outputs a channel (s ≥ 2), of a Pad that repeats the border."""
    producers = {output: node for node in graph.graph.node for output in node.output}
    weights = {init.name: list(init.dims) for init in graph.graph.initializer}
    found = set()
    for node in graph.graph.node:
        if node.op_type != "Conv" or len(node.input) != 2 or node.input[1] not in weights:
            continue
        group = next((a.i for a in node.attribute if a.name == "group"), 1)
        out_channels, per_group, *kernel = weights[node.input[1]]
        phases = out_channels // group if group > 1 else 0
        pad = producers.get(node.input[0])
        edge = (
            pad is not None and pad.op_type == "Pad" and any(a.name == "mode" and a.s == b"edge" for a in pad.attribute)
        )
        if edge and per_group == 1 and kernel == [3, 3] and phases >= 4 and round(phases**0.5) ** 2 == phases:
            found.add(node.name)
    return found


LAYOUT_OPS = ("DepthToSpace", "Reshape", "Transpose")


def _to_the_residual(phase_convolution, consumers: dict[str, list]) -> list:
    """The layout ops that take a phase convolution's output to full size, and the Add they reach
    (the residual's sum); none where its phases go elsewhere (the flow's grid)."""
    path, node = [], phase_convolution
    while len(next_nodes := consumers.get(node.output[0], [])) == 1:
        node = next_nodes[0]
        if node.op_type == "Add":
            return [*path, node]
        if node.op_type not in LAYOUT_OPS:
            return []
        path.append(node)
    return []


def _walk(tensors: list[str], nodes_at, next_tensors, interpolation: set[str]) -> list:
    """The nodes met walking from `tensors` (back to their producers, or on to their consumers) up to
    the nearest convolutions: a convolution is kept and not passed (interpolation is passed)."""
    found, todo, seen = [], list(tensors), set()
    while todo:
        for node in nodes_at(todo.pop()):
            if node.name in seen:
                continue
            seen.add(node.name)
            found.append(node)
            if node.op_type not in CONVOLUTIONS or node.name in interpolation:
                todo.extend(name for name in next_tensors(node) if name)
    return found
