"""The one description of a model's step graphs and its state (modelinfo), and the one way to open
them (runtime.backends): every model's step follows its declared state, every reader goes through
them, and every entry point resolves a file to the same backend."""

import ast
import inspect
import json
import pickle
import re
from pathlib import Path

import pytest

import repvsr_deploy
from repvsr_deploy.errors import ParameterError, ReportedError
from repvsr_deploy.modelinfo import BIDIRECTIONAL, STREAMING, GraphKind, ModelInfo, StateSpec
from repvsr_deploy.models import build_model, model_names
from repvsr_deploy.runtime.backends import BACKENDS, backend_for, open_graphs
from repvsr_deploy.runtime.choice import CHOICES, Backend
from repvsr_deploy.runtime.session import ClipSession, Session, open_session

PACKAGE = Path(repvsr_deploy.__file__).parent


@pytest.mark.parametrize("name", model_names())
def test_each_step_takes_its_state_in_the_declared_order_and_names(name):
    model = build_model(name)
    for kind in model.graphs.kinds:
        parameters = list(inspect.signature(model.graph_method(kind)).parameters.values())
        inputs, state = parameters[: len(kind.inputs)], parameters[len(kind.inputs) :]
        names = [s.name for s in model.states_of(kind)]
        if [p.kind for p in state] == [inspect.Parameter.VAR_POSITIONAL]:  # step(lr, *previous)
            assert names, f"{name} {kind}: takes a state it does not declare"
            continue
        assert [p.name for p in state] == names, f"{name} {kind}: step's state arguments differ from state_specs"
        assert len(inputs) == len(kind.inputs)


def test_the_twin_rule():
    assert STREAMING.files("out/m.onnx") == {GraphKind.STEP: Path("out/m.onnx")}
    assert BIDIRECTIONAL.files("out/m.fp16.plan") == {
        GraphKind.BACKWARD: Path("out/m.fp16.backward.plan"),
        GraphKind.FORWARD: Path("out/m.fp16.plan"),
    }
    assert [k.method for k in GraphKind] == ["step", "backward_step", "forward_step"]
    assert [k.output for k in GraphKind] == ["hr", "feature", "hr"]


def test_model_info_round_trips_through_metadata_and_refuses_an_unknown_graph_kind():
    info = ModelInfo("ksnet-bi", 4, 1, 33, (StateSpec("x_prev", 3, 1),), graph=GraphKind.FORWARD)
    assert info.input_names == ["lr", "feature", "state_x_prev"]
    assert info.output_names == ["hr", "next_state_x_prev"]
    metadata = info.to_metadata()
    assert metadata["repvsr.graph"] == '"forward"'
    back = ModelInfo.from_metadata(metadata, "g.onnx")
    assert back == info and back.graph is GraphKind.FORWARD
    with pytest.raises(ReportedError, match="g.onnx: not a repvsr-deploy step graph"):
        ModelInfo.from_metadata({**metadata, "repvsr.graph": '"sideways"'}, "g.onnx")


def _graph_kind_literals(path: Path) -> list[str]:
    """String constants naming a graph kind, other than a progress bar's unit."""
    tree = ast.parse(path.read_text())
    units = {
        id(k.value) for node in ast.walk(tree) if isinstance(node, ast.Call) for k in node.keywords if k.arg == "unit"
    }
    kinds = {k.value for k in GraphKind}
    return [
        f"{path.name}:{node.lineno} {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and node.value in kinds and id(node) not in units
    ]


def test_no_graph_kind_is_spelled_outside_its_description():
    found = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "modelinfo.py"
        for hit in _graph_kind_literals(path)
    ]
    assert found == []


def test_the_backend_of_a_source():
    assert [backend_for(p).name for p in ("m.onnx", "m.PLAN", "m.engine", "m.pth", "m.ckpt")] == [
        "onnxruntime",
        "tensorrt",
        "tensorrt",
        "torch",
        "torch",
    ]
    assert backend_for(build_model("repvsr")).name == "torch"


def test_a_backend_is_one_typed_choice_with_its_own_options():
    model = build_model("repvsr")
    with pytest.raises(ParameterError, match="backend= takes a choice of repvsr_deploy.runtime.Backend .*not 'torch'"):
        open_graphs(model, "torch")
    with pytest.raises(
        ParameterError, match="backend= 'tensorflow': one of auto, tensorrt, tensorrt-rtx, onnxruntime, openvino, torch"
    ):
        Backend.named("tensorflow")
    with pytest.raises(ParameterError, match="device= 'gpu': one of auto, cpu, cuda"):
        Backend.Auto("gpu")
    with pytest.raises(ParameterError, match="m.plan: the tensorrt backend runs it, on cuda only, not device= cpu"):
        open_session("m.plan", Backend.Auto("cpu"))
    with pytest.raises(ParameterError, match="device= cuda: the openvino backend runs on cpu only"):
        Backend.named("openvino", "cuda")
    with pytest.raises(ParameterError, match="precision= is an option of the torch backend, not of openvino"):
        Backend.named("openvino", precision="fp16")
    with pytest.raises(
        ParameterError, match="threads= is an option of the onnxruntime, openvino backend, not of torch"
    ):
        Backend.named("torch", threads=2)
    with pytest.raises(ParameterError, match=r"bogus= is no backend's option \(openvino takes: threads\)"):
        Backend.named("openvino", bogus=3)
    assert {name for name, choice in CHOICES.items() if choice is not Backend.Auto} == set(BACKENDS)
    with pytest.raises(ParameterError, match="threads= 0: an integer of at least 1"):
        Backend.OpenVINO(threads=0)
    with pytest.raises(ParameterError, match="precision= 'int8': the torch backend runs fp32, fp16"):
        Backend.Torch(precision="int8")
    assert Backend.named("tensorrt", trust_host_code=True) == Backend.TensorRT(trust_host_code=True)
    assert Backend.named("openvino", "cpu", threads=None, trust_host_code=False) == Backend.OpenVINO()
    assert pickle.loads(pickle.dumps(Backend.OnnxRuntime("cpu", 2))) == Backend.OnnxRuntime("cpu", 2)  # to Ray workers
    graphs = open_graphs(model, Backend.Torch("cpu", "fp16"))
    assert list(graphs) == [GraphKind.STEP] and graphs[GraphKind.STEP].info.precision == "fp16"


def test_a_bidirectional_model_opens_as_its_twins_from_any_entry(exported):
    model, path = exported("ksnet-bi")
    graphs = open_graphs(path, Backend.Auto("cpu"))
    assert {kind: backend.info.graph for kind, backend in graphs.items()} == {k: k for k in BIDIRECTIONAL.kinds}
    assert isinstance(open_session(path, Backend.Auto("cpu")), ClipSession)
    assert isinstance(open_session(model, Backend.Auto("cpu")), ClipSession)
    with pytest.raises(ReportedError, match="ksnet-bi.backward.onnx: a backward graph; open its forward graph instead"):
        open_session(path.with_name("ksnet-bi.backward.onnx"))
    assert isinstance(open_session(build_model("repvsr"), Backend.Auto("cpu")), Session)


def test_metadata_written_before_the_twin_rule_still_reads():
    """Earlier 0.1 graphs also named their twin in the metadata; the rule gives that name now."""
    metadata = {**ModelInfo("basicvsr", 4, 1, 64, ()).to_metadata(), "repvsr.backward_graph": json.dumps("x.onnx")}
    assert ModelInfo.from_metadata(metadata, "old.onnx").graph is GraphKind.STEP


def _graph_with_metadata(source: Path, target: Path, **changes) -> Path:
    """A copy of an exported graph with some repvsr metadata values replaced (raw JSON text)."""
    import onnx

    graph = onnx.load(source)
    for prop in graph.metadata_props:
        key = prop.key.removeprefix("repvsr.")
        if key in changes:
            prop.value = changes[key]
    onnx.save(graph, target)
    return target


@pytest.mark.parametrize(
    "changes, named",
    [
        ({"scale": "100000"}, "scale 100000: an integer in 1..16"),
        ({"size_multiple": "0"}, "size_multiple 0"),
        ({"size_multiple": "-4"}, "size_multiple -4"),
        ({"scale": '{"x": [1, 2]}'}, "scale {'x': [1, 2]}"),
        ({"delay": "3.5"}, "delay 3.5"),
        ({"precision": '"int4"'}, "precision 'int4'"),
        ({"graph": '"sideways"'}, "'sideways' is not a valid GraphKind"),
        ({"states": '[{"name": "f", "channels": 1000000000, "scale": 1}]'}, "state 'f'"),
        ({"states": "[]"}, "its metadata declares inputs lr; the graph has lr, state_"),
    ],
)
def test_metadata_out_of_range_is_refused_by_every_reader(exported, tmp_path, changes, named):
    from repvsr_deploy.graph_file import read_graph

    bad = _graph_with_metadata(exported("repvsr")[1], tmp_path / "bad.onnx", **changes)
    for backend in (Backend.OnnxRuntime(), Backend.OpenVINO()):
        with pytest.raises(ReportedError, match=re.escape(named)):
            open_session(bad, backend)
    with pytest.raises(ReportedError, match=re.escape(named)):
        read_graph(bad)


def test_a_command_on_garbled_metadata_says_one_line(exported, tmp_path):
    from helpers import run_cli
    from PIL import Image

    bad = _graph_with_metadata(exported("repvsr")[1], tmp_path / "bad.onnx", size_multiple="0")
    (tmp_path / "in").mkdir()
    Image.new("RGB", (40, 40)).save(tmp_path / "in" / "0.png")
    result = run_cli("repvsr-upscale", tmp_path / "in", tmp_path / "out", "--onnx", bad)
    assert result.returncode == 1 and "internal error" not in result.stderr
    assert (
        result.stderr.strip() == f"repvsr-upscale: error: {bad}: its repvsr metadata is out of range "
        "(size_multiple 0: an integer in 1..1024)"
    )
    assert not (tmp_path / "out").exists()
