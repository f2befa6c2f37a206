"""repvsr::deform_conv2d against the ONNX reference evaluator and onnxruntime, gradients, FLOPs."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx.reference import ReferenceEvaluator
from torch.utils.flop_counter import FlopCounterMode

from repvsr_deploy.export.deform_conv import TRANSLATIONS
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


def onnx_graph(groups, offset_groups, dtype=onnx.TensorProto.DOUBLE) -> onnx.ModelProto:
    names = ["X", "W", "offset", "B", "mask"]
    node = onnx.helper.make_node("DeformConv", names, ["Y"], group=groups, offset_group=offset_groups,
                                 pads=[1, 1, 1, 1], strides=[1, 1], dilations=[1, 1])
    graph = onnx.helper.make_graph([node], "dcn", [onnx.helper.make_tensor_value_info(n, dtype, None) for n in names],
                                   [onnx.helper.make_tensor_value_info("Y", dtype, None)])
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

    program = torch.onnx.export(Layer().eval(), args, dynamo=True, opset_version=19,
                                custom_translation_table=TRANSLATIONS["standard"], verbose=False)
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
