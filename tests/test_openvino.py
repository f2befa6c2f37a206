"""The OpenVINO backend against onnxruntime: the same portable graph of every registry model, the
same inputs and the same state at every step, so each step's output is compared on its own."""

import numpy as np
import pytest
from helpers import distinct_graph_models, make_video, run_cli

from repvsr_deploy.clips import moving_clip
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.modelinfo import GraphKind
from repvsr_deploy.runtime import open_graphs, open_session
from repvsr_deploy.runtime.choice import Backend

pytest.importorskip("openvino")
HW = (36, 44)  # above every model's minimum, a multiple of every size multiple


def run(backend, lr, state, feature=None):
    feature = None if feature is None else backend.upload(feature)
    out, next_state = backend.run(backend.upload(lr), backend.load_state(state), feature, download=False)
    return backend.to_host(out), [np.asarray(backend.to_host(s)) for s in next_state]


@pytest.mark.parametrize("name", distinct_graph_models())
def test_openvino_steps_as_onnxruntime_on_the_same_state(exported, name):
    _, path = exported(name, "fp32", "portable")
    openvino, onnxruntime = open_graphs(path, Backend.OpenVINO()), open_graphs(path, Backend.OnnxRuntime("cpu"))
    clip = moving_clip(3, *HW)[:, None]  # each step on the same state: the steps do not compound
    feature = np.random.default_rng(0).random((1, 64, *HW), np.float32)  # a forward sweep's backward feature
    for kind in openvino:
        reference = onnxruntime[kind]
        state = [np.zeros(s.shape(*HW), np.float32) for s in reference.info.states]
        extra = feature[:, : _feature_channels(reference)] if kind is GraphKind.FORWARD else None
        for lr in clip:
            expected, next_state = run(reference, lr, state, extra)
            got, got_state = run(openvino[kind], lr, state, extra)
            assert np.abs(got - expected).max() <= 1e-4, f"{name} {kind}"
            for a, b in zip(got_state, next_state):
                assert np.abs(a - b).max() <= 1e-4, f"{name} {kind}: state"
            state = next_state


def _feature_channels(backend) -> int:
    return backend.session.get_inputs()[1].shape[1]


def test_a_session_runs_a_clip_through_openvino(exported):
    _, path = exported("repvsr", "fp32", "portable")
    clip = moving_clip(5, *HW)  # past the two sets of state arrays the backend takes in turn
    got = list(open_session(path, Backend.OpenVINO()).run(clip))
    expected = list(open_session(path, Backend.OnnxRuntime("cpu")).run(clip))
    assert all(np.abs(a - b).max() <= 1e-4 for a, b in zip(got, expected)) and got[0].shape == (1, 3, 144, 176)


@pytest.mark.parametrize("name", ["repvsr", "frvsr"])
def test_the_step_graph_equals_the_torch_model_over_a_recurrence_on_both_cpu_runtimes(exported, name):
    """The sub-pixel step as exported, 8 recurrent frames of 45x77 (no multiple of 16, borders
    everywhere), each runtime carrying its own state: within 1e-5 of the fused torch model (float32)."""
    import torch

    from repvsr_deploy.models import fuse

    model, path = exported(name, "fp32", "portable")
    model = fuse(model).eval()
    clip = moving_clip(8, 45, 77)
    expected, lr_prev = [], None
    with torch.no_grad():
        for frame in clip:
            lr = torch.from_numpy(np.ascontiguousarray(frame))[None]
            if lr_prev is None:
                lr_prev, hr_prev = model.init_state(lr)
            hr, lr_prev, hr_prev = model.step(lr, lr_prev, hr_prev)
            expected.append(hr.numpy())
    for backend in (Backend.OnnxRuntime("cpu"), Backend.OpenVINO()):
        with open_session(path, backend) as session:
            got = [session.step(frame) for frame in clip]
        assert max(float(np.abs(a - b).max()) for a, b in zip(got, expected)) <= 1e-5, backend.name
    assert np.abs(expected[-1]).max() > 0.1


@pytest.mark.parametrize("precision, io", [("fp32", "float"), ("fp16", "float"), ("fp32", "uint8")])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_levels_made_inside_the_graph_equal_those_made_on_the_host(exported, precision, io, dtype):
    """`run_levels` on OpenVINO (scaling, rounding and layout inside the graph; an fp16 graph's frame
    widened first, an integer-frame graph's levels scaled back) against the host's conversion of the
    same session's frames, at a size the graph pads (then crops)."""
    from repvsr_deploy.runtime.frame_layout import hwc_levels

    _, path = exported("repvsr", precision, "portable", io)
    clip = (moving_clip(4, 37, 45) * 255 + 0.5).astype(np.uint8)
    # a level, where a multiply-add rounds once; fp16's own step (2^-11 of the range) in 16-bit levels
    tolerance = 1 if precision == "fp32" or dtype == np.uint8 else 65535 // 2048
    with open_session(path, Backend.OpenVINO()) as session:
        on_host = [hwc_levels(hr, dtype) for hr in session.run(clip)]
        session.reset()
        made = list(session.run_levels(clip, dtype))
    for a, b in zip(made, on_host):
        assert a.dtype == dtype and a.shape == (148, 180, 3) and a.flags.c_contiguous
        assert np.abs(a.astype(np.int64) - b).max() <= tolerance
    if precision == "fp32" and dtype == np.uint8:  # fp16 kernels may round differently in the two compiled forms
        assert np.mean([np.array_equal(a, b) for a, b in zip(made, on_host)]) >= 0.5


def test_levels_of_a_type_that_is_no_video_levels_are_refused_in_one_line(exported):
    _, path = exported("repvsr", "fp32", "portable")
    with open_session(path, Backend.OpenVINO()) as session, pytest.raises(ReportedError, match="uint8 or uint16"):
        next(session.run_levels(moving_clip(1, *HW), np.float32))


def test_openvino_compiles_again_for_frames_of_another_size(exported):
    _, path = exported("repvsr", "fp32", "portable")
    with open_session(path, Backend.OpenVINO()) as openvino, open_session(path, Backend.OnnxRuntime("cpu")) as ort:
        for hw in (HW, (40, 52), HW):
            openvino.reset()
            ort.reset()
            for frame in moving_clip(2, *hw):
                assert np.abs(openvino.step(frame) - ort.step(frame)).max() <= 1e-4
        compiled_for = openvino.backend.compiled_for[0]
    assert compiled_for["lr"] == (1, 3, *HW)


def test_a_batch_of_streams_compiles_once_for_its_frame_size_whatever_its_streams(exported):
    """Streams join and leave (serving, chunks): the batch's size is left free, not compiled for."""
    from repvsr_deploy.runtime import open_streams

    _, path = exported("repvsr", "fp32", "portable")
    frame = moving_clip(1, *HW)[0]
    with open_streams(path, Backend.OpenVINO()) as batch:
        a, b = batch.join(), batch.join()
        batch.step({a: frame, b: frame})
        compiled = batch.backend.request
        batch.step({a: frame})
        batch.step({a: frame, b: frame})
        assert batch.backend.request is compiled and batch.backend.compiled_for[0]["lr"] == (-1, 3, *HW)


def test_a_state_taken_to_the_host_is_a_copy_the_next_runs_leave_alone(exported):
    _, path = exported("repvsr", "fp32", "portable")
    [backend] = open_graphs(path, Backend.OpenVINO()).values()
    with backend:
        clip = moving_clip(3, *HW)[:, None]
        state = backend.zero_state(*HW)
        _, state = backend.run(clip[0], state)
        kept = [backend.to_host(s) for s in state]
        before = [s.copy() for s in kept]
        for lr in clip[1:]:
            _, state = backend.run(lr, state)
        assert all(np.array_equal(a, b) for a, b in zip(kept, before))


def test_openvino_refuses_the_standard_deformable_conv_with_the_way_out(exported):
    _, path = exported("ksnet-uni", "fp32", "standard")
    with pytest.raises(
        ReportedError, match="OpenVINO cannot compile it \\(export it with repvsr-export --dcn portable\\)"
    ):
        open_session(path, Backend.OpenVINO())
    with pytest.raises(ReportedError, match="device= cuda: the openvino backend runs on cpu only"):
        open_session(path, Backend.named("openvino", "cuda"))


def test_upscale_runs_a_graph_on_openvino(exported, tmp_path):
    """repvsr-upscale --graph-backend openvino: the same frames as onnxruntime's (to a level of 8 bits)."""
    from PIL import Image

    _, path = exported("repvsr", "fp32", "portable")
    make_video(tmp_path / "in.mp4", frames=4, width=48, height=32, audio=False)
    frames = {}
    for backend in ("openvino", "onnxruntime"):
        result = run_cli(
            "repvsr-upscale", tmp_path / "in.mp4", tmp_path / backend, "--onnx", path, "--graph-backend", backend
        )
        assert result.returncode == 0, result.stderr
        frames[backend] = np.stack([np.asarray(Image.open(p)) for p in sorted((tmp_path / backend).iterdir())])
    frames = {backend: array.astype(int) for backend, array in frames.items()}
    assert frames["openvino"].shape == (4, 128, 192, 3)
    assert np.abs(frames["openvino"] - frames["onnxruntime"]).max() <= 1
