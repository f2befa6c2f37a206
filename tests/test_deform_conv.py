"""repvsr::deform_conv2d against the ONNX reference evaluator and onnxruntime, its portable lowering
against onnxruntime's DeformConv, gradients, FLOPs."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from torch.utils.flop_counter import FlopCounterMode

from repvsr_deploy.export.deform_conv import TRANSLATIONS, lower_deform_convs
from repvsr_deploy.models.deform_conv import ModulatedDeformConv2d, deform_conv2d, flow_guided_deform_conv2d

CASES = {  # (channels, out channels, offset groups, conv groups, offset scale: 4 samples far outside)
    "one group": (4, 5, 1, 1, 0.7),
    "offset groups": (4, 6, 2, 1, 4.0),
    "conv groups": (6, 4, 3, 2, 4.0),
}


def inputs(channels, out_channels, offset_groups, groups, offset_scale, dtype=torch.float64, hw=(6, 7)):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, channels, *hw, generator=gen, dtype=dtype)
    weight = torch.randn(out_channels, channels // groups, 3, 3, generator=gen, dtype=dtype)
    offset = torch.randn(2, offset_groups * 18, *hw, generator=gen, dtype=dtype) * offset_scale
    mask = torch.rand(2, offset_groups * 9, *hw, generator=gen, dtype=dtype)
    bias = torch.randn(out_channels, generator=gen, dtype=dtype)
    return x, weight, offset, mask, bias


def onnx_graph(
    groups, offset_groups, dtype=onnx.TensorProto.DOUBLE, stride=1, dilation=1, weight: np.ndarray | None = None
) -> onnx.ModelProto:
    """One DeformConv; with `weight`, the weight is an initializer (as in exported graphs)."""
    names = ["X", "W", "offset", "B", "mask"]
    node = onnx.helper.make_node(
        "DeformConv",
        names,
        ["Y"],
        group=groups,
        offset_group=offset_groups,
        pads=[1, 1, 1, 1],
        strides=[stride, stride],
        dilations=[dilation, dilation],
    )
    initializers = [] if weight is None else [onnx.numpy_helper.from_array(weight, "W")]
    inputs = [onnx.helper.make_tensor_value_info(n, dtype, None) for n in names if weight is None or n != "W"]
    graph = onnx.helper.make_graph(
        [node], "dcn", inputs, [onnx.helper.make_tensor_value_info("Y", dtype, None)], initializer=initializers
    )
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 19)])
    model.ir_version = 10
    return model


@pytest.mark.parametrize("case", CASES)
def test_matches_the_onnx_reference_evaluator(case):
    channels, out_channels, offset_groups, groups, scale = CASES[case]
    x, weight, offset, mask, bias = inputs(*CASES[case])
    ours = deform_conv2d(x, weight, offset, mask, bias, 1, 1, 1, groups, offset_groups).numpy()
    feeds = dict(zip(["X", "W", "offset", "B", "mask"], (t.numpy() for t in (x, weight, offset, bias, mask))))
    reference = ReferenceEvaluator(onnx_graph(groups, offset_groups)).run(None, feeds)[0]
    assert np.abs(ours - reference).max() <= 1e-6 * np.abs(reference).max()


def test_offsets_outside_the_image_sample_zeros():
    x, weight, _, mask, bias = inputs(4, 5, 1, 1, 1.0)
    far = torch.full((2, 18, 6, 7), 100.0, dtype=torch.float64)  # every tap 100 px away
    out = deform_conv2d(x, weight, far, mask, bias, 1, 1, 1, 1, 1)
    assert torch.allclose(out, bias.view(1, -1, 1, 1).expand_as(out))


@pytest.mark.parametrize("case", CASES)
def test_exports_to_one_deformconv_that_onnxruntime_matches(tmp_path, case):
    channels, out_channels, offset_groups, groups, scale = CASES[case]
    args = inputs(*CASES[case], dtype=torch.float32)

    class Layer(torch.nn.Module):
        def forward(self, x, weight, offset, mask, bias):
            return deform_conv2d(x, weight, offset, mask, bias, 1, 1, 1, groups, offset_groups)

    program = torch.onnx.export(
        Layer().eval(), args, dynamo=True, opset_version=19, custom_translation_table=TRANSLATIONS, verbose=False
    )
    graph = program.model_proto
    nodes = [n for n in graph.graph.node if n.op_type not in ("Constant",)]
    assert [n.op_type for n in nodes] == ["DeformConv"] and len(nodes[0].input) == 5  # with mask
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {i.name: a.numpy() for i, a in zip(session.get_inputs(), args)})[0]
    assert np.abs(got - Layer()(*args).numpy()).max() <= 1e-5 * np.abs(got).max()


def test_gradients_are_exact():
    args = inputs(4, 4, 2, 2, 0.7, hw=(4, 5))
    args = tuple(t.requires_grad_() for t in args)
    assert torch.autograd.gradcheck(lambda *t: deform_conv2d(*t, 1, 1, 1, 2, 2), args)


def test_flow_guided_gradients_are_exact():
    gen = torch.Generator().manual_seed(0)
    shapes = [(1, 4, 5, 6), (1, 36, 5, 6), (1, 18, 5, 6), (1, 2, 5, 6), (4, 4, 3, 3), (4,)]
    args = tuple(torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_() for shape in shapes)
    assert torch.autograd.gradcheck(lambda *t: flow_guided_deform_conv2d(*t, 2, 10.0), args)


def test_counted_as_a_convolution():
    layer = ModulatedDeformConv2d(8, 16, 3, offset_groups=2)
    x = torch.empty(1, 8, 10, 12, device="meta")
    with FlopCounterMode(display=False) as counter:
        layer.to("meta")(x, torch.empty(1, 36, 10, 12, device="meta"), torch.empty(1, 18, 10, 12, device="meta"))
    assert counter.get_total_flops() == 2 * 8 * 16 * 9 * 10 * 12


PORTABLE_CASES = {  # (channels, out channels, offset groups, conv groups, offset scale, stride, dilation, H x W)
    "one group": (4, 5, 1, 1, 0.7, 1, 1, (6, 7)),
    "offset groups, far outside": (4, 6, 2, 1, 30.0, 1, 1, (6, 7)),
    "conv groups": (6, 4, 3, 2, 4.0, 1, 1, (6, 7)),
    "stride and dilation": (8, 8, 2, 1, 4.0, 2, 2, (9, 11)),
    "1-pixel high": (4, 4, 1, 1, 2.0, 1, 1, (1, 7)),
    "1-pixel wide": (4, 4, 1, 1, 2.0, 1, 1, (5, 1)),
}


@pytest.mark.parametrize("case", PORTABLE_CASES)
def test_portable_lowering_matches_onnxruntimes_deformconv(case):
    """GridSample + mask + 1x1 Conv against the standard op in onnxruntime, float32, <= 1e-5 relative;
    offsets up to 30 pixels put most taps outside the image."""
    channels, out_channels, offset_groups, groups, scale, stride, dilation, (height, width) = PORTABLE_CASES[case]
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((out_channels, channels // groups, 3, 3)).astype(np.float32)
    standard = onnx_graph(groups, offset_groups, onnx.TensorProto.FLOAT, stride, dilation, weight)
    portable = lower_deform_convs(standard, "portable")
    assert "DeformConv" not in {n.op_type for n in portable.graph.node}
    assert {"GridSample", "Conv"} <= {n.op_type for n in portable.graph.node}
    out_h, out_w = ((size + 2 - 2 * dilation - 1) // stride + 1 for size in (height, width))
    feeds = {
        "X": rng.standard_normal((2, channels, height, width)).astype(np.float32),
        "offset": (rng.standard_normal((2, offset_groups * 18, out_h, out_w)) * scale).astype(np.float32),
        "B": rng.standard_normal(out_channels).astype(np.float32),
        "mask": rng.random((2, offset_groups * 9, out_h, out_w)).astype(np.float32),
    }
    expected, got = (
        ort.InferenceSession(g.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
        for g in (standard, portable)
    )
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5 * np.abs(expected).max()


@pytest.mark.parametrize("hw", [(1, 7), (5, 1), (1, 1)])
def test_one_pixel_axes_match_onnxruntime(hw):
    """dy = 0.5 on a 1-pixel axis samples half the pixel (align_corners=True would divide by H - 1 = 0)."""
    x, weight, offset, mask, bias = inputs(3, 2, 1, 1, 1.5, hw=hw)
    ours = deform_conv2d(x, weight, offset, mask, bias, 1, 1, 1, 1, 1).numpy()
    session = ort.InferenceSession(onnx_graph(1, 1).SerializeToString(), providers=["CPUExecutionProvider"])
    feeds = dict(zip(["X", "W", "offset", "B", "mask"], (t.numpy() for t in (x, weight, offset, bias, mask))))
    assert np.abs(ours - session.run(None, feeds)[0]).max() <= 1e-12


def test_half_a_pixel_down_on_a_one_pixel_high_image():
    x = torch.ones(1, 1, 1, 1, dtype=torch.float64)
    weight = torch.zeros(1, 1, 3, 3, dtype=torch.float64)
    weight[0, 0, 1, 1] = 1.0  # only the centre tap
    offset = torch.zeros(1, 18, 1, 1, dtype=torch.float64)
    offset[0, 8] = 0.5  # the centre tap's dy
    out = deform_conv2d(
        x,
        weight,
        offset,
        torch.ones(1, 9, 1, 1, dtype=torch.float64),
        torch.zeros(1, dtype=torch.float64),
        1,
        1,
        1,
        1,
        1,
    )
    assert float(out) == pytest.approx(0.5)  # half of the pixel, half of the zero beyond it
