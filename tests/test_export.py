"""The single-step ONNX graph: interface, fusion, and equivalence with torch through onnxruntime."""

from dataclasses import replace

import numpy as np
import onnx
import pytest
from conftest import build_test_model
from helpers import distinct_graph_models, needs_ksnet_fp16

from repvsr_deploy import fuse
from repvsr_deploy.export import compare_with_torch
from repvsr_deploy.modelinfo import ModelInfo
from repvsr_deploy.runtime import open_session

MODELS = [name for name in ("repvsr", "frvsr") if name in distinct_graph_models()]


@pytest.mark.parametrize("name", MODELS)
def test_graph_interface(exported, name):
    model, path = exported(name)
    graph = onnx.load(path)
    assert graph.ir_version <= 10
    assert [(o.domain, o.version) for o in graph.opset_import] == [("", 19)]
    assert [i.name for i in graph.graph.input] == ["lr", "state_lr_prev", "state_hr_prev"]
    assert [o.name for o in graph.graph.output] == ["hr", "next_state_lr_prev", "next_state_hr_prev"]
    for value in [*graph.graph.input, *graph.graph.output]:
        dims = value.type.tensor_type.shape.dim
        assert dims[0].dim_param == "N" and dims[1].dim_value == 3  # a batch of streams
        assert dims[2].dim_param and dims[3].dim_param  # dynamic H and W
    info = ModelInfo.from_metadata({p.key: p.value for p in graph.metadata_props}, str(path))
    assert info == replace(fuse(model).info(), streams=True)


@pytest.mark.parametrize("name", MODELS)
def test_graph_is_fused(exported, name):
    import torch

    from repvsr_deploy.quantize.float_scope import interpolation_nodes

    model, path = exported(name)
    graph = onnx.load(path)
    interpolation = interpolation_nodes(graph)
    assert len(interpolation) == 2  # the base frame's and the flow's bilinear x4, in sub-pixel form
    convs = sum(n.op_type == "Conv" and n.name not in interpolation for n in graph.graph.node)
    assert convs == sum(isinstance(m, torch.nn.Conv2d) for m in fuse(model).modules())


@pytest.mark.parametrize("name", MODELS)
def test_onnxruntime_matches_unfused_torch_over_8_frames_of_an_odd_size(exported, name):
    """The export verified 3 frames of 40x56 (VERIFIED_HW); here 8 of a size no stride divides."""
    model, path = exported(name)
    assert compare_with_torch(path, model, frames=8, hw=(45, 77)) <= 1e-4


def test_fp16_graph(exported):
    model, path = exported("repvsr", "fp16")
    graph = onnx.load(path)
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT16
    assert {p.key: p.value for p in graph.metadata_props}["repvsr.precision"] == '"fp16"'
    # the warp runs in float32 inside the float16 graph (a float16 grid cannot address 4K pixels)
    grid_sample = next(n for n in graph.graph.node if n.op_type == "GridSample")
    types = {v.name: v.type.tensor_type.elem_type for v in onnx.shape_inference.infer_shapes(graph).graph.value_info}
    assert types[grid_sample.input[1]] == onnx.TensorProto.FLOAT
    assert compare_with_torch(path, model, frames=4, hw=(45, 77)) <= 1e-2  # the export verified 40x56


def test_one_graph_runs_any_frame_size(exported):
    _, path = exported("repvsr")
    session = open_session(path)
    for height, width in [(24, 40), (33, 57)]:
        session.reset()
        hr = session.step(np.random.default_rng(0).random((3, height, width), dtype=np.float32))
        assert hr.shape == (1, 3, 4 * height, 4 * width)


def ops(graph: onnx.ModelProto) -> dict[str, list[onnx.NodeProto]]:
    found: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.graph.node:
        found.setdefault(node.op_type, []).append(node)
    return found


def test_ksnet_uni_graph_carries_selection_and_deformable_conv(exported):
    model, path = exported("ksnet-uni")
    graph = onnx.load(path)
    names = [s.name for s in model.state_specs]
    assert [i.name for i in graph.graph.input] == ["lr", *(f"state_{n}" for n in names)]
    assert [o.name for o in graph.graph.output] == ["hr", *(f"next_state_{n}" for n in names)]
    found = ops(graph)
    topk = found["TopK"]
    assert len(topk) == 6  # 3 levels x 2 branches
    assert all({a.name: a.i for a in n.attribute} == {"axis": 1, "largest": 0, "sorted": 1} for n in topk)
    assert "Gather" in found
    assert len(found["DeformConv"]) == 2 and all(len(n.input) == 5 for n in found["DeformConv"])


def test_ksnet_uni_onnxruntime_matches_torch_over_8_frames_of_an_odd_size(exported):
    """The export verified 3 frames of 40x56; here a size no pyramid level halves evenly."""
    model, path = exported("ksnet-uni")
    assert compare_with_torch(path, model, frames=8, hw=(33, 45)) <= 1e-4


@needs_ksnet_fp16
def test_ksnet_uni_fp16(exported):
    model, path = exported("ksnet-uni", "fp16")
    assert compare_with_torch(path, model, frames=8, hw=(64, 96)) <= 1e-2


def test_ksnet_bi_writes_two_linked_graphs(exported):
    model, path = exported("ksnet-bi")
    forward, backward = onnx.load(path), onnx.load(path.with_name(f"{path.stem}.backward.onnx"))
    for graph, kind in ((forward, "forward"), (backward, "backward")):
        assert {p.key: p.value for p in graph.metadata_props}["repvsr.graph"] == f'"{kind}"'
    assert [i.name for i in backward.graph.input][0] == "lr"
    assert [o.name for o in backward.graph.output][0] == "feature"
    assert [i.name for i in forward.graph.input][:2] == ["lr", "feature"]
    assert [o.name for o in forward.graph.output][0] == "hr"


def test_ksnet_bi_onnxruntime_matches_torch_over_a_6_frame_clip_of_an_odd_size(exported):
    """The export verified 3 frames of 40x56; here both sweeps over a longer clip of an odd size."""
    model, path = exported("ksnet-bi")
    assert compare_with_torch(path, model, frames=6, hw=(45, 77)) <= 1e-4


def test_ksnet_frame_below_minimum_size(exported):
    from repvsr_deploy.errors import ReportedError

    _, path = exported("ksnet-uni")
    with pytest.raises(ReportedError, match="frame of 40x32 is smaller than model 'ksnet-uni' accepts"):
        open_session(path).step(np.zeros((3, 32, 40), np.float32))


@pytest.mark.parametrize("name", ["ksnet-uni", "ksnet-bi", "edvr-m"])
def test_portable_deformable_convs_match_torch(exported, name):
    """`--dcn portable`: no DeformConv left, only operators every runtime has, and the same function."""
    model, path = exported(name, "fp32", "portable")
    for file in [path, *([path.with_name(f"{path.stem}.backward.onnx")] if name == "ksnet-bi" else [])]:
        found = ops(onnx.load(file))
        assert "DeformConv" not in found and "GridSample" in found
        assert {(o.domain, o.version) for o in onnx.load(file).opset_import} == {("", 19)}
    assert compare_with_torch(path, model, frames=4, hw=(40, 56)) <= 1e-4


@needs_ksnet_fp16
def test_portable_fp16_graph(exported):
    model, path = exported("ksnet-uni", "fp16", "portable")
    assert compare_with_torch(path, model, frames=8, hw=(64, 96)) <= 1e-2


def test_verified_export_reports_and_writes_its_graph(tmp_path):
    """export_verified's report (a portable export of deformable convs: tests/test_centred.py)."""
    from repvsr_deploy.export import export_verified

    model = build_test_model("rrn")  # quick to trace: the report is what is tested
    report = export_verified(model, tmp_path / "e.onnx", ("fp32",), frames=2, hw=(32, 44))
    (graph,) = report.graphs
    assert graph.files == [tmp_path / "e.onnx"] and graph.dcn is None and len(graph.errors) == 2 + 1
    assert [e.streams for e in graph.errors] == [1, 1, 2]  # the last frame again, as 2 streams
    assert graph.max_error <= graph.limit == 1e-4
    assert "checker and shape inference ok" in report.lines()[1] and "2 frames of 44x32" in report.lines()[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["e.onnx"]
