"""TensorRT on a GPU: engines built, run in sessions, against onnxruntime and torch.

Skipped, with the reason, where TensorRT, cuda-python or an NVIDIA GPU is missing; everything of
the TensorRT path that runs without them is tested in test_trt_logic and test_dcn_plugin.
"""

import numpy as np
import pytest

from repvsr_deploy.trt import probe

FOUND = probe()
pytestmark = [
    pytest.mark.tensorrt,
    pytest.mark.skipif(not FOUND.usable, reason=f"needs TensorRT, cuda-python and an NVIDIA GPU "
                       f"(TensorRT: {FOUND.tensorrt or FOUND.tensorrt_problem}; GPU: {FOUND.gpu_problem or 'ok'})"),
]


def build(path, profiles="320x180", precision=None):
    from repvsr_deploy.trt.builder import BuildSettings, build as build_engines
    from repvsr_deploy.trt.profiles import parse_profiles

    settings = BuildSettings(parse_profiles(profiles), precision, 2.0, 3, None, False, False)
    return build_engines(path, path.with_suffix(".plan"), settings, say=lambda *_: None)[-1]


def run_clip(source, clip, **kwargs):
    from repvsr_deploy.runtime import open_session

    return np.concatenate(list(open_session(source, **kwargs).run(clip)))


@pytest.mark.parametrize("name, dcn", [("repvsr", "standard"), ("ksnet-uni", "standard"), ("ksnet-uni", "plugin")])
def test_engine_matches_torch_over_8_frames(exported, name, dcn):
    from repvsr_deploy.clips import moving_clip
    from repvsr_deploy.runtime import open_session

    model, path = exported(name, "fp32", dcn)
    engine = build(path)
    clip = moving_clip(8, 180, 320)
    session = open_session(engine)
    got = np.concatenate(list(session.run(clip)))
    assert session.backend.cuda_graphs, session.backend.graph_fallback
    expected = run_clip(model, clip, backend="torch", device="cuda")
    assert np.abs(got - expected).max() <= 1e-3


def test_fp16_engine(exported):
    from repvsr_deploy.clips import moving_clip

    model, path = exported("repvsr", "fp16")
    clip = moving_clip(8, 180, 320)
    got = run_clip(build(path), clip)
    assert np.abs(got - run_clip(model, clip, backend="torch", device="cuda")).max() <= 2e-2


def test_bidirectional_engines_run_a_clip(exported):
    from repvsr_deploy.clips import moving_clip

    model, path = exported("ksnet-bi")
    clip = moving_clip(10, 180, 320)
    got = run_clip(build(path), clip, window=10)
    assert np.abs(got - run_clip(model, clip, backend="torch", device="cuda", window=10)).max() <= 1e-3


def test_reused_when_up_to_date_and_rebuilt_when_stale(exported, capsys):
    from repvsr_deploy.trt.builder import BuildSettings, build as build_engines
    from repvsr_deploy.trt.profiles import parse_profiles

    _, path = exported("repvsr")
    messages = []
    for profiles in ("320x180", "320x180", "480x270"):
        settings = BuildSettings(parse_profiles(profiles), None, 2.0, 3, None, False, False)
        build_engines(path, path.with_suffix(".plan"), settings, say=messages.append)
    assert any("up to date" in m for m in messages) and any("stale (profiles:" in m for m in messages)
