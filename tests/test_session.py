"""The Session: padding to the size multiple and cropping, state carried between steps, size checks."""

import re

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.modelinfo import StateSpec
from repvsr_deploy.models.base import VSRModel
from repvsr_deploy.runtime import Session, open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.torch_backend import TorchBackend


class Accumulator(VSRModel):
    """A toy recurrent model: HR = nearest x4 of LR + half the previous HR; needs H, W divisible by 4."""

    size_multiple = 4
    min_size = 8
    state_specs = (StateSpec("hr", channels=3, scale=4),)

    def __init__(self):
        super().__init__()
        self.seen_hw = []
        self.weight = torch.nn.Parameter(torch.ones(()))

    def step(self, lr, hr_prev):
        assert lr.shape[-1] % 4 == 0 and lr.shape[-2] % 4 == 0
        self.seen_hw.append(tuple(lr.shape[-2:]))
        hr = self.weight * F.interpolate(lr, scale_factor=4, mode="nearest") + 0.5 * hr_prev
        return hr, hr


def frames(n, height, width):
    return np.random.default_rng(0).random((n, 3, height, width), dtype=np.float32)


def test_pads_to_the_size_multiple_and_crops_the_result():
    model = Accumulator()
    session = Session(TorchBackend(model, "cpu"))
    clip = frames(1, 10, 13)
    hr = session.step(clip[0])
    assert model.seen_hw == [(12, 16)]
    assert hr.shape == (1, 3, 40, 52)
    assert np.allclose(hr[0, :, ::4, ::4], clip[0])


def test_state_is_carried_between_steps_and_reset_clears_it():
    session = Session(TorchBackend(Accumulator(), "cpu"))
    clip = frames(2, 8, 8)
    first = session.step(clip[0])
    second = session.step(clip[1])
    assert np.allclose(second, np.kron(clip[1], np.ones((4, 4))) + 0.5 * first)
    session.reset()
    assert np.allclose(session.step(clip[1]), np.kron(clip[1], np.ones((4, 4))))


def test_frame_size_change_within_a_clip_is_refused():
    session = Session(TorchBackend(Accumulator(), "cpu"))
    session.step(frames(1, 8, 8)[0])
    with pytest.raises(ReportedError, match="frame size changed from 8x8 to 12x8 within a clip"):
        session.step(frames(1, 8, 12)[0])


def test_frame_smaller_than_the_model_accepts():
    session = Session(TorchBackend(Accumulator(), "cpu"))
    with pytest.raises(ReportedError, match="frame of 7x20 is smaller than model 'accumulator' accepts"):
        session.step(frames(1, 20, 7)[0])


def test_frame_layout_is_checked():
    session = Session(TorchBackend(Accumulator(), "cpu"))
    with pytest.raises(ReportedError, match="RGB \\[3,H,W\\] or \\[1,3,H,W\\], got shape \\[8, 8, 3\\]"):
        session.step(np.zeros((8, 8, 3), np.float32))


def test_onnxruntime_session_keeps_state_like_torch(exported):
    model, path = exported("repvsr")
    graph, reference = open_session(path), open_session(model, Backend.Torch("cpu"))
    assert graph.backend.name == "onnxruntime" and graph.backend.device == "cpu"
    for frame in frames(3, 24, 40):
        assert np.abs(graph.step(frame) - reference.step(frame)).max() <= 1e-4


def test_graph_that_is_not_a_step_graph(tmp_path):
    import onnx.helper as h

    x = h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])
    graph = h.make_model(
        h.make_graph(
            [h.make_node("Relu", ["x"], ["y"])], "g", [x], [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])]
        ),
        opset_imports=[h.make_opsetid("", 19)],
    )
    graph.ir_version = 10
    onnx.save(graph, tmp_path / "relu.onnx")
    with pytest.raises(ReportedError, match="relu.onnx: not a repvsr-deploy step graph"):
        open_session(tmp_path / "relu.onnx")


def test_missing_and_corrupt_graphs(tmp_path):
    with pytest.raises(ReportedError, match="no such ONNX file"):
        open_session(tmp_path / "absent.onnx")
    (tmp_path / "bad.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(ReportedError, match="bad.onnx: onnxruntime cannot load it"):
        open_session(tmp_path / "bad.onnx")


def test_the_frame_contract_integer_levels_are_scaled(exported):
    """uint8 and uint16 frames are the float frame at level / 255 and / 65535."""
    _, path = exported("repvsr")
    levels8 = np.random.default_rng(1).integers(0, 256, (3, 24, 40), dtype=np.uint8)
    levels16 = levels8.astype(np.uint16) * 257
    expected = open_session(path).step(levels8.astype(np.float32) / 255)
    assert np.array_equal(open_session(path).step(levels8), expected)
    assert np.abs(open_session(path).step(levels16) - expected).max() <= 1e-6


@pytest.mark.parametrize(
    "frame, named",
    [
        (np.full((3, 24, 40), 200.0, np.float32), "values in [200, 200]: float frames are in [0, 1]"),
        (np.zeros((3, 24, 40), bool), "a frame of bool values"),
        (np.zeros((3, 24, 40), np.int32), "a frame of int32 values"),
        (torch.zeros(3, 24, 40), "a frame must be a numpy array (RGB [3,H,W]), got torch.Tensor"),
        ([[[0.5] * 40] * 24] * 3, "got builtins.list"),
    ],
)
def test_the_frame_contract_refuses_what_it_cannot_read_as_levels(exported, frame, named):
    _, path = exported("repvsr")
    for session in (open_session(path), open_session(Accumulator(), Backend.Torch("cpu"))):
        with pytest.raises(ReportedError, match=re.escape(named)):
            session.step(frame)


@pytest.mark.parametrize("poison", ["inf_pixel", "nan_frame"])
def test_a_non_finite_frame_is_refused_and_does_not_poison_the_stream(exported, poison):
    """Once in the state, one +Inf pixel made every later frame NaN; it is refused at the door."""
    _, path = exported("repvsr")
    clip = frames(3, 24, 40)
    bad = clip[1].copy()
    if poison == "inf_pixel":
        bad[0, 5, 7] = np.inf
    else:
        bad[:] = np.nan
    clean, session = open_session(path), open_session(path)
    clean.step(clip[0])
    session.step(clip[0])
    with pytest.raises(ReportedError, match="non-finite values"):
        session.step(bad)
    after = session.step(clip[2])
    assert np.isfinite(after).all() and np.array_equal(after, clean.step(clip[2]))


def test_float_frames_may_stray_by_a_rounding_step_only():
    session = Session(TorchBackend(Accumulator(), "cpu"))
    session.step(np.full((3, 8, 8), 1 + 0.5 / 255, np.float32))
    with pytest.raises(ReportedError, match="values in"):
        session.step(np.full((3, 8, 8), -2 / 255, np.float32))


def test_uploaded_frames_are_taken_as_uploaded():
    session = Session(TorchBackend(Accumulator(), "cpu"))
    clip = frames(2, 8, 8)
    uploaded = [session.upload(frame) for frame in clip]
    reference = Session(TorchBackend(Accumulator(), "cpu"))
    for got, frame in zip(session.run(uploaded), clip):
        assert np.array_equal(got, reference.step(frame))
