"""repvsr-trt through its entry point: each failure is one line, whatever is missing."""

import importlib.util

import pytest
from helpers import run_cli
from test_cli import assert_one_line_error
from test_trt_logic import key

from repvsr_deploy.modelinfo import ModelInfo, StateSpec
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.trt import probe
from repvsr_deploy.trt.cache import Sidecar, sidecar_path

NO_TENSORRT = not probe().usable


def test_build_refuses_bad_input_before_asking_for_tensorrt(tmp_path, exported):
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07 not protobuf")
    cases = [
        (["build", "absent.onnx"], "absent.onnx: no such ONNX file"),
        (["build", "bad.onnx"], "bad.onnx: not an ONNX model"),
        (["build", str(exported("repvsr")[1]), "--profiles", "8k"], "--profiles: '8k' is neither"),
        (["build", str(exported("repvsr")[1]), "--precision", "int4"], "Invalid value for '--precision'"),
        (["build", str(exported("repvsr")[1]), "--opt-level", "9"], "Invalid value for '--opt-level'"),
    ]
    for args, message in cases:
        assert_one_line_error(run_cli("repvsr-trt", *args, cwd=tmp_path), "repvsr-trt", message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


@pytest.mark.skipif(not NO_TENSORRT, reason="checks the message where TensorRT is missing")
def test_build_without_tensorrt_says_how_to_get_it(tmp_path, exported):
    result = run_cli("repvsr-trt", "build", exported("repvsr")[1], "-o", tmp_path / "r.plan")
    assert_one_line_error(result, "repvsr-trt", "TensorRT is not usable here")
    assert "pip install 'repvsr-deploy[gpu-cu13]' (NVIDIA driver >= 580)" in result.stderr and not any(
        tmp_path.iterdir()
    )
    if importlib.util.find_spec("tensorrt_rtx"):  # the flavour that builds here, named
        assert result.stderr.strip().endswith("; TensorRT for RTX builds engines on this machine: --flavor rtx")


def write_engine(tmp_path, with_sidecar=True):
    engine = tmp_path / "r.plan"
    engine.write_bytes(b"not really an engine")
    if with_sidecar:
        info = ModelInfo("repvsr", 4, 1, 8, (StateSpec("lr", 3, 1), StateSpec("hr", 3, 4)))
        sidecar_path(engine).write_text(Sidecar(key(), info.to_metadata(), built="2026-11-21T10:00:00").to_json())
    return engine


def test_info_and_run_need_an_engine_with_its_sidecar(tmp_path):
    assert_one_line_error(
        run_cli("repvsr-trt", "info", "absent.plan", cwd=tmp_path), "repvsr-trt", "absent.plan: no such engine file"
    )
    engine = write_engine(tmp_path, with_sidecar=False)
    assert_one_line_error(run_cli("repvsr-trt", "info", engine), "repvsr-trt", "no r.plan.json beside it")
    assert_one_line_error(run_cli("repvsr-trt", "run", engine), "repvsr-trt", "no r.plan.json beside it")


@pytest.mark.skipif(not NO_TENSORRT, reason="checks what info shows where TensorRT is missing")
def test_info_shows_the_build_key_where_the_engine_cannot_load(tmp_path):
    result = run_cli("repvsr-trt", "info", write_engine(tmp_path))
    assert result.returncode == 0, result.stderr
    assert "TensorRT 10.13.0, fp16, built 2026-11-21T10:00:00 for NVIDIA H100 (compute capability 9.0)" in result.stdout
    assert "profile 0 (720p): LR frames up to 320x180" in result.stdout
    assert "not loaded here: TensorRT is not usable here" in result.stdout


def test_run_rejects_a_malformed_clip(tmp_path):
    import numpy as np

    np.save(tmp_path / "clip.npy", np.zeros((4, 180, 320, 3), np.float32))
    result = run_cli("repvsr-trt", "run", write_engine(tmp_path), "--input", tmp_path / "clip.npy")
    assert_one_line_error(result, "repvsr-trt", "clip.npy: frames must be [T, 3, H, W], got [4, 180, 320, 3]")


def test_run_times_the_session_with_host_io(monkeypatch, exported, tmp_path):
    """`run` hands frames and results across the host boundary, as a user's program would."""
    from click.testing import CliRunner

    from repvsr_deploy.bench import timing
    from repvsr_deploy.cli.trt import trt_command
    from repvsr_deploy.runtime import session

    _, graph = exported("repvsr")
    opened, timed = [], []
    real_open, real_time = session.open_session, timing.time_session

    def open_on_the_cpu(path, backend, window):  # the engine's stand-in: its graph on onnxruntime
        opened.append((path, backend))
        stand_in = real_open(graph, Backend.OnnxRuntime("cpu"))
        stand_in.backend.execution_mode = "onnxruntime on the CPU"
        return stand_in

    monkeypatch.setattr(session, "open_session", open_on_the_cpu)
    monkeypatch.setattr(timing, "time_session", lambda *args, **kw: timed.append(kw) or real_time(*args, **kw))
    result = CliRunner().invoke(
        trt_command, ["run", str(write_engine(tmp_path)), "--frames", "3", "--warmup", "1", "--size", "64x48"]
    )
    assert result.exit_code == 0, result.output
    assert opened == [(tmp_path / "r.plan", Backend.TensorRT())] and timed == [{"include_io": True}]
    assert "3 frames of 64x48 -> 256x192" in result.output and "host I/O included" in result.output


def test_run_names_the_output_size_by_the_models_scale(monkeypatch, exported, tmp_path):
    """A x2 model's engine: 64x48 frames give 128x96 (not the x4 of the papers' models)."""
    from dataclasses import replace

    from click.testing import CliRunner

    from repvsr_deploy.cli.trt import trt_command
    from repvsr_deploy.runtime import session

    _, graph = exported("repvsr")
    real_open = session.open_session

    def a_x2_stand_in(path, backend, window):
        stand_in = real_open(graph, Backend.OnnxRuntime("cpu"))
        stand_in.info = replace(stand_in.info, scale=2)
        stand_in.backend.execution_mode = "onnxruntime on the CPU"
        return stand_in

    monkeypatch.setattr(session, "open_session", a_x2_stand_in)
    result = CliRunner().invoke(
        trt_command, ["run", str(write_engine(tmp_path)), "--frames", "2", "--warmup", "0", "--size", "64x48"]
    )
    assert result.exit_code == 0, result.output
    assert "2 frames of 64x48 -> 128x96" in result.output
