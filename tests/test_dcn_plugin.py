"""Our TensorRT plugin for MFDA: the graph `--dcn plugin` writes, and its Triton kernel on the CPU."""

import subprocess
import sys
import textwrap

import onnx
import pytest
import torch
from helpers import needs_ksnet_fp16

from repvsr_deploy.trt.plugin_op import NAME, NAMESPACE


def test_plugin_graph_has_one_fused_node_per_deformable_conv(exported):
    _, path = exported("ksnet-uni", "fp32", "plugin")
    graph = onnx.load(path)
    nodes = [n for n in graph.graph.node if n.op_type == NAME]
    assert len(nodes) == 2 and not any(n.op_type == "DeformConv" for n in graph.graph.node)
    assert all(n.domain == NAMESPACE for n in nodes)
    assert (NAMESPACE, 1) in [(o.domain, o.version) for o in graph.opset_import]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in nodes[0].attribute}
    assert attrs == {"offset_groups": 8, "max_residue": 10.0, "plugin_namespace": b"repvsr", "plugin_version": b"1"}
    onnx.checker.check_model(graph)  # its schema is registered; TensorRT's parser finds the plugin by name


@needs_ksnet_fp16
def test_fp16_plugin_graph_keeps_the_flow_in_float32(exported):
    _, path = exported("ksnet-uni", "fp16", "plugin")
    graph = onnx.shape_inference.infer_shapes(onnx.load(path))
    types = {v.name: v.type.tensor_type.elem_type for v in [*graph.graph.value_info, *graph.graph.input]}
    types |= {i.name: i.data_type for i in graph.graph.initializer}
    node = next(n for n in graph.graph.node if n.op_type == NAME)
    half, full = onnx.TensorProto.FLOAT16, onnx.TensorProto.FLOAT
    assert [types[name] for name in node.input] == [half, half, half, full, half, half]


KERNEL_CHECK = textwrap.dedent("""
    import torch
    from repvsr_deploy.models.deform_conv import flow_guided_deform_conv2d_reference as reference
    from repvsr_deploy.trt.dcn_kernel import flow_guided_deform_conv
    torch.manual_seed(0)
    for n, c, o, g, h, w in [(1, 64, 64, 8, 9, 13), (2, 16, 24, 2, 7, 5), (1, 8, 8, 1, 6, 6)]:
        x, residual = torch.randn(n, c, h, w), torch.randn(n, 18 * g, h, w) * 0.5
        mask, flow = torch.randn(n, 9 * g, h, w), torch.randn(n, 2, h, w) * 3  # taps land outside too
        weight, bias = torch.randn(o, c, 3, 3) * 0.1, torch.randn(o)
        expected = reference(*(t.double() for t in (x, residual, mask, flow, weight, bias)), g, 10.0)
        got = flow_guided_deform_conv(x, residual, mask, flow, weight, bias, g, 10.0)
        print("fp32", float((got - expected).abs().max() / expected.abs().max()))
        half = flow_guided_deform_conv(x.half(), residual.half(), mask.half(), flow, weight.half(), bias.half(), g, 10.0)
        print("fp16", float((half.double() - expected).abs().max() / expected.abs().max()))
""")


def test_triton_kernel_matches_the_torch_reference_in_interpreter_mode():
    """Against the reference in float64: with offsets of up to 10 + 9 pixels, one float32 rounding of a sample
    position moves the output by ~1e-5 of its range, and CPUs round differently (one CI machine's kernel and
    float32 reference differed by 1.3e-4); a wrong group, mask or border moves it by more than 0.2, a flow off
    by a hundredth of a pixel by 5e-3."""
    pytest.importorskip("triton")
    env = {"TRITON_INTERPRET": "1", "TRITON_DEFAULT_FP_FUSION": "1", "PATH": ""}
    result = subprocess.run([sys.executable, "-c", KERNEL_CHECK], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    errors = [line.split() for line in result.stdout.splitlines()]
    assert [kind for kind, _ in errors] == ["fp32", "fp16"] * 3
    assert all(float(e) <= (2e-4 if kind == "fp32" else 2e-3) for kind, e in errors), errors


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_kernel_compiles_to_ptx_taking_exactly_tensorrts_arguments(dtype):
    pytest.importorskip("triton")
    from repvsr_deploy.trt.dcn_kernel import PtxTarget, compile_for_tensorrt

    dtypes = dict(x=dtype, residual=dtype, mask=dtype, flow="fp32", weight=dtype, bias=dtype, out=dtype)
    name, ptx, threads, shared = compile_for_tensorrt(dtypes, 64, 64, 8, 10.0, PtxTarget(90, 84))
    entry = ptx[ptx.index(f".entry {name}(") :]
    params = entry[: entry.index(")")].count(".param")
    assert params == 9  # 6 inputs, height, width, the output: no hidden scratch pointers
    assert threads % 32 == 0 and shared > 0
    assert ".version 8.4" in ptx and ".target sm_90a" in ptx


def test_ptx_is_written_for_what_the_driver_compiles(monkeypatch):
    """The driver compiles the PTX ISA of its CUDA version and older; Triton's own is newer."""
    pytest.importorskip("triton")
    from repvsr_deploy.trt import cuda
    from repvsr_deploy.trt.dcn_kernel import PtxTarget, compile_for_tensorrt, ptx_target

    monkeypatch.setattr(cuda, "device", lambda: ("NVIDIA GeForce RTX 3080", "8.6"))
    monkeypatch.setattr(cuda, "driver_version", lambda: (12, 2))
    assert ptx_target() == PtxTarget(86, 82)
    monkeypatch.setattr(cuda, "driver_version", lambda: (13, 9))  # newer than this Triton knows: Triton's own
    newest = ptx_target().ptx_version
    assert (
        82 < newest
        and f".version {newest // 10}.{newest % 10}"
        in compile_for_tensorrt(
            dict.fromkeys(["x", "residual", "mask", "flow", "weight", "bias", "out"], "fp32"),
            8,
            8,
            1,
            10.0,
            PtxTarget(86, newest),
        )[1]
    )


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs an NVIDIA GPU with a CUDA build of torch")
def test_triton_kernel_on_the_gpu():
    pytest.importorskip("triton")
    from repvsr_deploy.models.deform_conv import flow_guided_deform_conv2d_reference as reference
    from repvsr_deploy.trt.dcn_kernel import flow_guided_deform_conv

    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(1, 64, 180, 320, device="cuda", generator=gen)
    residual = torch.randn(1, 144, 180, 320, device="cuda", generator=gen)
    mask, flow = (
        torch.randn(1, 72, 180, 320, device="cuda", generator=gen),
        torch.randn(1, 2, 180, 320, device="cuda") * 5,
    )
    weight, bias = torch.randn(64, 64, 3, 3, device="cuda") * 0.05, torch.randn(64, device="cuda")
    expected = reference(x, residual, mask, flow, weight, bias, 8, 10.0)
    got = flow_guided_deform_conv(x, residual, mask, flow, weight, bias, 8, 10.0)
    assert float((got - expected).abs().max() / expected.abs().max()) <= 1e-5
