"""Engines on a GPU, with either TensorRT flavour: built, judged step by step against the torch model
on the CPU (the same state each step, as the export verification does; no TF32 anywhere), and run
in sessions.

Skipped, with the reason, where a flavour cannot run here; what needs no GPU is tested in
test_trt_logic, test_rtx (every graph built by TensorRT for RTX) and test_dcn_plugin.
"""

import numpy as np
import pytest

from repvsr_deploy.export.verified import LIMITS
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.trt import probe

FOUND = probe()
pytestmark = pytest.mark.tensorrt

# what each flavour builds: TensorRT all three lowerings, TensorRT for RTX the portable one
CASES = [
    ("tensorrt", "repvsr", "standard"),
    ("tensorrt", "ksnet-uni", "standard"),
    ("tensorrt", "ksnet-uni", "plugin"),
    ("tensorrt", "ksnet-bi", "standard"),
    ("tensorrt", "edvr-m", "standard"),
    ("rtx", "repvsr", "portable"),
    ("rtx", "ksnet-uni", "portable"),
    ("rtx", "ksnet-bi", "portable"),
    ("rtx", "edvr-m", "portable"),
]


def runs_here(flavor: str):
    version, problem = FOUND.libraries[flavor]
    why = problem or ("cuda-python missing" if FOUND.cuda_python is None else FOUND.gpu_problem or "")
    return pytest.mark.skipif(
        not FOUND.can_run(flavor), reason=f"needs {flavor}, cuda-python and an NVIDIA GPU ({why})"
    )


def cases(precisions=("fp32",)):
    return [
        pytest.param(flavor, name, dcn, precision, marks=runs_here(flavor), id=f"{flavor}-{name}-{dcn}-{precision}")
        for flavor, name, dcn in CASES
        for precision in precisions
    ]


def build(path, flavor: str, profiles="96x64,320x180"):
    from repvsr_deploy.trt.builder import BuildSettings
    from repvsr_deploy.trt.builder import build as build_engines
    from repvsr_deploy.trt.profiles import parse_profiles

    settings = BuildSettings(parse_profiles(profiles), flavor=flavor)
    return build_engines(path, path.with_suffix(f".{flavor}.plan"), settings, say=lambda *_: None)


@pytest.mark.parametrize("flavor, name, dcn, precision", cases(("fp32", "fp16")))
def test_engines_match_torch_step_by_step(exported, flavor, name, dcn, precision):
    from repvsr_deploy.export.verify import step_errors
    from repvsr_deploy.runtime import open_graphs

    model, path = exported(name, precision, dcn)
    errors = step_errors(open_graphs(build(path, flavor)[-1], Backend.TensorRT()), model, frames=8, hw=(64, 96))
    worst = max(errors, key=lambda e: e.error)
    assert worst.error <= LIMITS[precision], worst


@pytest.mark.parametrize("flavor, name, dcn, precision", cases())
def test_sessions_run_a_clip_with_cuda_graphs(exported, flavor, name, dcn, precision):
    from repvsr_deploy.clips import moving_clip
    from repvsr_deploy.runtime import open_session

    model, path = exported(name, precision, dcn)
    engine = build(path, flavor)[-1]
    clip = moving_clip(10, 180, 320)
    session = open_session(engine, window=10)
    got = np.concatenate(list(session.run(clip)))
    expected = np.concatenate(list(open_session(model, Backend.Torch(), window=10).run(clip)))
    assert got.shape == expected.shape and np.isfinite(got).all()
    # compounded over 10 recurrent frames, so looser than one step's limit
    assert np.abs(got - expected).max() <= 10 * LIMITS[precision]
    backend = getattr(session, "backend", None)
    if backend is not None and flavor == "tensorrt":
        assert backend.cuda_graphs, backend.graph_fallback


@pytest.mark.parametrize("flavor", [pytest.param(f, marks=runs_here(f)) for f in ("tensorrt", "rtx")])
def test_reused_when_up_to_date_and_rebuilt_when_stale(exported, flavor):
    from repvsr_deploy.trt.builder import BuildSettings
    from repvsr_deploy.trt.builder import build as build_engines
    from repvsr_deploy.trt.profiles import parse_profiles

    _, path = exported("repvsr")
    messages = []
    for profiles in ("320x180", "320x180", "480x270"):
        settings = BuildSettings(parse_profiles(profiles), flavor=flavor)
        build_engines(path, path.with_suffix(".plan"), settings, say=messages.append)
    assert any("up to date" in m for m in messages) and any("stale (profiles:" in m for m in messages)


@pytest.mark.skipif(
    not (FOUND.can_run("tensorrt") or FOUND.can_run("rtx")), reason="needs TensorRT or TensorRT for RTX and a GPU"
)
def test_an_int8_graph_for_tensorrt_is_checked_on_an_engine(tmp_path):
    """Where a GPU is, repvsr-quantize --backend tensorrt checks the Q/DQ graph on an engine built
    from it, not on onnxruntime, and the int8 engine keeps within the limit."""
    from pathlib import Path

    from footage import make_clip
    from helpers import run_cli

    from repvsr_deploy.runtime.session import open_session

    demo = Path(__file__).resolve().parents[1] / "repvsr_deploy" / "demo" / "repvsr-demo.onnx"
    clip = tmp_path / "camera.mp4"
    make_clip(clip, 130, 96, 64)
    out = tmp_path / "demo.int8.tensorrt.onnx"
    result = run_cli("repvsr-quantize", str(demo), "--calib", str(clip), "--backend", "tensorrt", "-o", str(out))
    assert result.returncode == 0, result.stderr
    check = open_session(out).info.quantization["check"]
    assert check["checked_on"] in ("tensorrt", "tensorrt-rtx") and check["psnr_fp32"] - check["psnr_quantized"] <= 0.1
