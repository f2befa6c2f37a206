"""repvsr-quantize: int8 graphs for OpenVINO, onnxruntime and TensorRT, calibrated on footage through
the recurrence, checked on held-out frames, refused (nothing written) when they lose too much; and
every quantized artifact opened as any graph is (sessions, upscale, eval, bench, engine builds)."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from footage import make_clip
from helpers import run_cli
from onnx import numpy_helper

from repvsr_deploy.quantize.check import Check
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.session import open_session

DEMO = Path(__file__).resolve().parents[1] / "repvsr_deploy" / "demo" / "repvsr-demo.onnx"
FRAMES = 130  # 100 held out for the check, 30 before them to calibrate on


@pytest.fixture(scope="module")
def footage(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("footage") / "camera.mp4"
    make_clip(path, FRAMES, 96, 64)
    return path


@pytest.fixture(scope="module")
def openvino_int8(footage, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("int8") / "demo.int8.xml"
    result = run_cli("repvsr-quantize", str(DEMO), "--calib", str(footage), "--calib-frames", "20", "-o", str(out))
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def test_openvino_int8_is_calibrated_on_footage_and_checked_on_frames_it_never_saw(openvino_int8, footage):
    out, report = openvino_int8
    assert out.is_file() and out.with_suffix(".bin").is_file()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging left
    session = open_session(out)  # .xml: the OpenVINO backend, by the backend rule
    info = session.info
    assert session.backend.name == "openvino" and info.precision == "int8" and info.model == "repvsr"
    q = info.quantization
    assert q["for"] == "openvino" and q["quantizer"].startswith("nncf ")
    assert q["calibration"]["sources"] == ["camera.mp4[0:20]"] and q["calibration"]["frames"] == 20
    check = q["check"]
    assert check["clip"] == "camera.mp4[30:130]" == q["calibration"]["held_out"] and check["frames"] == 100
    assert check["checked_on"] == "openvino"
    assert check["psnr_fp32"] - check["psnr_quantized"] <= 0.1 and 30 < check["psnr_vs_fp32"] < 100
    assert "node_conv2d_13 (Conv, sampling)" in report  # RepVSR's flow head stays float
    assert f"checked on camera.mp4[30:130], 100 frames on openvino: fp32 {check['psnr_fp32']:.3f} dB" in report


def test_bf16_is_the_fp32_model_run_in_openvinos_bf16_and_checked_as_int8_is(footage, tmp_path):
    """No calibration; the check on held-out frames as for int8; the IR says bf16, and OpenVINO runs it
    in bf16 (on a CPU without bf16 it runs in fp32: the check then shows no loss at all)."""
    import openvino as ov

    out = tmp_path / "demo.bf16.xml"
    result = run_cli("repvsr-quantize", str(DEMO), "--calib", str(footage), "--precision", "bf16", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "bf16 for openvino (openvino " in result.stdout and "nothing to calibrate" in result.stdout
    with open_session(out) as session:
        q = session.info.quantization
        assert session.info.precision == "bf16" and q["calibration"]["frames"] == 0 and q["kept_float"] == []
        assert (
            q["check"]["clip"] == "camera.mp4[30:130]" and q["check"]["psnr_fp32"] - q["check"]["psnr_quantized"] <= 0.1
        )
        with open_session(DEMO, Backend.OpenVINO()) as fp32:
            frame = np.random.default_rng(0).random((3, 64, 96), dtype=np.float32)
            difference = np.abs(session.step(frame) - fp32.step(frame)).max()
        compiled = session.backend.request.get_compiled_model()
        asked = compiled.get_property(ov.properties.hint.inference_precision)
        bf16_here = "BF16" in ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
        assert (difference > 1e-4) == bf16_here and difference < 0.05
        assert asked == ov.Type.bf16 or not bf16_here


def test_every_input_and_state_of_the_int8_graph_reaches_its_output(openvino_int8):
    from repvsr_deploy.runtime.backends import open_graphs

    backend = next(iter(open_graphs(openvino_int8[0]).values()))
    rng = np.random.default_rng(0)
    lr = rng.random((1, 3, 16, 24), dtype=np.float32)
    state = [rng.random(s.shape(16, 24), dtype=np.float32) for s in backend.info.states]
    hr, _ = backend.run(lr, state)
    changed = [lr * 0.5, *state]
    for slot in range(len(changed)):
        inputs = [lr, *state]
        inputs[slot] = changed[slot] * 0.5 if slot else changed[0]
        other, _ = backend.run(inputs[0], inputs[1:])
        assert np.abs(other - hr).max() > 1e-3, f"input slot {slot} does not reach the output"


def test_upscale_and_eval_run_the_int8_model(openvino_int8, footage, tmp_path):
    out = tmp_path / "up.mp4"
    result = run_cli("repvsr-upscale", str(footage), str(out), "--onnx", str(openvino_int8[0]), "--frames", "3")
    assert result.returncode == 0, result.stderr
    import av

    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.width == 96 * 4
    data = tmp_path / "data"
    data.mkdir()
    (data / "camera.mp4").symlink_to(footage)
    result = run_cli("repvsr-eval", str(data), str(openvino_int8[0]), "--frames", "4", "--format", "json")
    assert result.returncode == 0, result.stderr
    assert {row["model"] for row in json.loads(result.stdout)["rows"]} >= {"demo.int8.xml (openvino)"}


def test_a_quantization_that_loses_too_much_is_refused_and_writes_nothing(footage, tmp_path):
    from PIL import Image

    black = tmp_path / "black"
    black.mkdir()
    Image.fromarray(np.zeros((64, 96, 3), np.uint8)).save(black / "0.png")
    out = tmp_path / "demo.int8.xml"
    result = run_cli(
        "repvsr-quantize",
        str(DEMO),
        "--calib",
        str(black),
        "--val",
        str(footage),
        "--val-frames",
        "100",
        "-o",
        str(out),
    )
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"repvsr-quantize: error: {out}: not written: it loses ")
    assert "(limit 0.1 dB)" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["black"]  # no .xml, no .bin, no staging


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--precision", "fp8"], "fp8 is for --backend tensorrt only"),
        (["--precision", "bf16", "--backend", "onnxruntime"], "bf16 is for --backend openvino only"),
        (["--precision", "bf16", "--keep-float", "output"], "bf16 has no quantizers to keep out"),
        (["--keep-float", "weights"], "'weights' is not one of sampling, ranking, input, output, none"),
        (["--val-frames", "50"], "50 is not in the range x>=100"),
        (["--max-loss", "nan"], "nan is not a finite number"),
        (["-o", "out.onnx"], "--backend openvino writes a .xml file"),
    ],
)
def test_bad_flags_are_refused_in_one_line(footage, tmp_path, flags, message):
    result = run_cli("repvsr-quantize", str(DEMO), "--calib", str(footage), *flags, cwd=tmp_path)
    assert result.returncode == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_too_short_footage_is_refused(footage, tmp_path):
    result = run_cli("repvsr-quantize", str(DEMO), "--calib", str(footage), "--val-frames", "130", cwd=tmp_path)
    assert result.returncode == 1
    assert f"{footage}: 130 frames; at least 131 are needed (--val-frames held out" in result.stderr
    assert list(tmp_path.iterdir()) == []
    result = run_cli("repvsr-quantize", str(DEMO), "--calib", str(footage), "--val", str(footage), cwd=tmp_path)
    assert result.returncode == 1 and "is also a --calib source" in result.stderr


def _zero_point_types(path: Path) -> set[str]:
    graph = onnx.load(path)
    initializers = {i.name: numpy_helper.to_array(i) for i in graph.graph.initializer}
    return {
        str(initializers[n.input[2]].dtype)
        for n in graph.graph.node
        if n.op_type == "QuantizeLinear" and len(n.input) == 3
    }


@pytest.fixture(scope="module")
def tensorrt_int8(footage, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("trt") / "demo.int8.tensorrt.onnx"
    result = run_cli(
        "repvsr-quantize", str(DEMO), "--calib", str(footage), "--calib-frames", "10", "--backend", "tensorrt",
        "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return out


def test_the_tensorrt_graph_has_signed_quantizers_only_and_is_checked_on_onnxruntime(tensorrt_int8):
    assert _zero_point_types(tensorrt_int8) == {"int8"}
    session = open_session(tensorrt_int8)
    q = session.info.quantization
    assert session.info.precision == "int8" and q["for"] == "tensorrt"
    assert q["check"]["checked_on"] == "onnxruntime" and q["check"]["psnr_fp32"] - q["check"]["psnr_quantized"] <= 0.1


def test_signed_int8_keeps_each_unsigned_quantizers_range():
    """A uint8 quantizer of scale s made int8 of scale 255 s / 127: values in [0, 255 s] come back
    within half a new step, as onnxruntime computes the Q/DQ pair."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from repvsr_deploy.quantize.targets import signed_int8

    scale = np.float32(0.01)
    graph = helper.make_graph(
        [
            helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
            helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        ],
        "qdq",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [256])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [256])],
        [numpy_helper.from_array(np.array(scale), "s"), numpy_helper.from_array(np.array(0, np.uint8), "z")],
    )
    model = signed_int8(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)]))
    assert numpy_helper.to_array(model.graph.initializer[1]).dtype == np.int8
    x = np.linspace(0, 255 * scale, 256, dtype=np.float32)
    y = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.abs(y - x).max() <= 255 * scale / 127 / 2 + 1e-6 and y.max() > 0.99 * x.max()


def test_drift_along_the_clip_is_refused_even_when_the_mean_loss_is_small():
    check = Check("clip", 100, "openvino", 30.0, 29.95, 45.0, loss_first_tenth=0.0, loss_last_tenth=0.3)
    assert check.problem(0.1).startswith("its loss grows along clip, from 0.000 dB")
    assert Check("clip", 100, "openvino", 30.0, 29.8, 45.0, 0.2, 0.2).problem(0.1).startswith("it loses 0.200 dB")
    assert Check("clip", 100, "openvino", 30.0, 29.95, 45.0, 0.05, 0.05).problem(0.1) is None


def test_rtx_builds_the_int8_and_fp8_graphs(tensorrt_int8, footage, tmp_path):
    pytest.importorskip("tensorrt_rtx")
    result = run_cli("repvsr-trt", "build", str(tensorrt_int8), "--flavor", "rtx", "--compute-capability", "8.9")
    assert result.returncode == 0, result.stderr
    engine = tensorrt_int8.with_suffix(".plan")
    assert engine.is_file() and json.loads(engine.with_suffix(".plan.json").read_text())["key"]["precision"] == "int8"
    # FP8 (E4M3: 3 mantissa bits) on RepVSR's image-valued residuals loses far more than 0.1 dB (docs):
    # written when the limit allows it, and built for the GPUs that have FP8
    fp8 = tmp_path / "demo.fp8.tensorrt.onnx"
    quantize = ["repvsr-quantize", str(DEMO), "--calib", str(footage), "--calib-frames", "10", "--backend", "tensorrt"]
    result = run_cli(*quantize, "--precision", "fp8", "--max-loss", "100", "-o", str(fp8))
    assert result.returncode == 0 and _zero_point_types(fp8) == {"float8_e4m3fn"}
    result = run_cli("repvsr-trt", "build", str(fp8), "--flavor", "rtx", "--compute-capability", "8.9,12.0")
    assert result.returncode == 0, result.stderr
    result = run_cli("repvsr-trt", "build", str(fp8), "--flavor", "rtx", "-o", str(tmp_path / "any.plan"))
    assert result.returncode == 1 and "fp8 engines run on compute capability 8.9 and later" in result.stderr


def test_an_fp32_graph_is_not_built_as_int8(tmp_path):
    pytest.importorskip("tensorrt_rtx")
    result = run_cli(
        "repvsr-trt", "build", str(DEMO), "--flavor", "rtx", "--precision", "int8", "-o", str(tmp_path / "x.plan")
    )
    assert result.returncode == 1 and "int8 engines come from a quantized graph: repvsr-quantize" in result.stderr


def test_bench_puts_the_int8_row_beside_the_fp32_row_with_what_it_costs(footage, tmp_path):
    result = run_cli(
        "repvsr-bench", "--model", "repvsr", "--backend", "openvino", "--precision", "fp32,int8", "--lr-size", "48x32",
        "--frames", "2", "--warmup", "0", "--format", "json", "--calib", str(footage), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    fp32, int8 = report["rows"]
    assert (fp32["precision"], int8["precision"]) == ("fp32", "int8")
    assert fp32["psnr_db"] is not None and fp32["psnr_vs_fp32_db"] is None
    assert int8["psnr_db"] is not None and 20 < int8["psnr_vs_fp32_db"] < 100
    assert {p["precision"] for p in report["peaks"]} == {"fp32", "int8"}
    assert any(note.startswith("PSNR: RGB, 8 bits, on camera.mp4[30:130] (100 frames") for note in report["notes"])


@pytest.mark.parametrize("dcn", ["standard", "portable"])
def test_ksnets_offsets_and_channel_ranking_stay_float(exported, dcn):
    """The deformable convs' offsets and masks (DeformConv's inputs, or the portable lowering's
    sampling grids) and the scores KSNet's TopK ranks are computed in float, back to the convs that
    make them; the frame-making convolutions are quantized unless asked for."""
    from repvsr_deploy.quantize.float_scope import DEFAULT_RULES, float_nodes

    graph = onnx.load(exported("ksnet-uni", "fp32", dcn)[1])
    kept = {n.name: n for n in float_nodes(graph, DEFAULT_RULES)}
    producers = {out: node for node in graph.graph.node for out in node.output}
    if dcn == "standard":
        deform = [n for n in graph.graph.node if n.op_type == "DeformConv"]
        assert deform and all(producers[n.input[2]].name in kept for n in deform)  # offsets
        assert all(producers[n.input[4]].name in kept for n in deform)  # masks
    else:
        grids = [producers[n.input[1]] for n in graph.graph.node if n.op_type == "GridSample"]
        assert grids and all(node.name in kept for node in grids)
    ranking = [producers[n.input[0]] for n in graph.graph.node if n.op_type == "TopK"]
    assert ranking and all(kept[node.name].rule == "ranking" for node in ranking)
    assert any(n.op in ("Conv", "ConvTranspose") and n.rule == "sampling" for n in kept.values())
    residual_sum = producers[graph.graph.output[0].name]  # the bilinear base's Add: interpolation
    assert residual_sum.op_type == "Add" and kept[residual_sum.name].rule == "interpolation"
    [tail] = [producers[t] for t in residual_sum.input if producers[t].op_type == "Conv"]
    assert tail.name not in kept and tail.name in {n.name for n in float_nodes(graph, ["output"])}


def test_demo_footage_calibrates_on_the_training_photographs_and_checks_on_a_held_out_one():
    from repvsr_deploy.data.synthetic import HELD_OUT_PHOTOS, TRAIN_PHOTOS
    from repvsr_deploy.quantize.footage import demo_footage

    clips = demo_footage(10, 100, size=(32, 48))
    assert [c.name.split()[0] for c in clips.calibration] == list(TRAIN_PHOTOS)
    assert clips.calibration_frames == 10 and clips.validation.name.split()[0] == HELD_OUT_PHOTOS[0]
    pairs = list(clips.validation.pairs())
    assert len(pairs) == 100 and pairs[0][0].shape == (32, 48, 3) and pairs[0][1].shape == (8, 12, 3)


def test_a_graph_quantized_for_onnxruntime_runs_only_where_it_was_checked(footage, tmp_path):
    """The same Q/DQ file read by another runtime is another model (TensorRT would read its uint8
    quantizers as int8): OpenVINO and TensorRT refuse it, onnxruntime (where it was checked) runs it."""
    from repvsr_deploy.errors import ReportedError

    out = tmp_path / "demo.int8.onnx"
    result = run_cli(
        "repvsr-quantize", str(DEMO), "--calib", str(footage), "--calib-frames", "10", "--backend", "onnxruntime",
        "-o", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "uint8" in _zero_point_types(out)  # NNCF's, as onnxruntime takes them
    session = open_session(out)
    assert session.backend.name == "onnxruntime" and session.info.quantization["check"]["checked_on"] == "onnxruntime"
    with pytest.raises(ReportedError, match="made for onnxruntime and checked there, not for openvino"):
        open_session(out, Backend.OpenVINO())
    if importlib.util.find_spec("tensorrt_rtx"):
        result = run_cli("repvsr-trt", "build", str(out), "--flavor", "rtx", "-o", str(tmp_path / "x.plan"))
        assert result.returncode == 1 and "not for tensorrt; quantize the fp32 graph for it" in result.stderr


def test_a_node_taking_one_tensor_twice_takes_it_through_an_identity_and_computes_the_same():
    """EDVR-M concatenates a feature with itself; NNCF's ONNX backend cannot place a quantizer on an
    edge that ends twice at one node (an InternalError on EDVR-M's graph; REPVSR_SWEEP=all in
    test_rtx quantizes it), so the second use goes through an Identity first."""
    import onnxruntime as ort
    from onnx import TensorProto, helper

    from repvsr_deploy.quantize.targets import distinct_inputs

    rng = np.random.default_rng(0)
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["lr", "w"], ["f"], pads=[1, 1, 1, 1], name="conv"),
            helper.make_node("Concat", ["f", "f", "lr", "f"], ["hr"], axis=1, name="cat"),
        ],
        "twice",
        [helper.make_tensor_value_info("lr", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("hr", TensorProto.FLOAT, [1, 27, 8, 8])],
        [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    feed = {"lr": rng.random((1, 3, 8, 8), dtype=np.float32)}
    before = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    rewritten = distinct_inputs(model)
    onnx.checker.check_model(rewritten)
    cat = next(n for n in rewritten.graph.node if n.name == "cat")
    assert len(set(cat.input)) == 4 and [n.op_type for n in rewritten.graph.node].count("Identity") == 2
    after = ort.InferenceSession(rewritten.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feed)[0]
    assert np.array_equal(before, after)


def test_a_file_that_is_not_a_whole_openvino_model_is_refused_in_one_line(openvino_int8, footage, tmp_path):
    garbage, cut = tmp_path / "garbage.xml", tmp_path / "cut.xml"
    garbage.write_text("<html>not a model</html>")
    garbage.with_suffix(".bin").write_bytes(b"x")
    cut.write_text(openvino_int8[0].read_text())
    cut.with_suffix(".bin").write_bytes(openvino_int8[0].with_suffix(".bin").read_bytes()[:1000])
    for model, message in ((garbage, "not an OpenVINO IR model"), (cut, "not an OpenVINO model (")):
        out = tmp_path / f"{model.stem}.mp4"
        result = run_cli("repvsr-upscale", str(footage), str(out), "--onnx", str(model), "--frames", "2")
        assert result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not out.exists()
