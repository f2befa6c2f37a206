"""Graphs that take and give frames as integer levels (`repvsr-export --io uint8|uint16`): normalised
and rounded inside the graph, as the float path does it on the host, so the same frames come out."""

import numpy as np
import onnx
import pytest
from helpers import make_video, run_cli
from PIL import Image

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.modelinfo import GraphKind
from repvsr_deploy.quantize.footage import demo_footage
from repvsr_deploy.quantize.targets import TARGETS
from repvsr_deploy.quantize.verified import quantize_verified
from repvsr_deploy.runtime import open_graphs, open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.frame_layout import to_levels
from repvsr_deploy.runtime.streams import StreamBatch

HW = (36, 44)


def _clip(dtype, frames: int = 4) -> np.ndarray:
    top = np.iinfo(dtype).max
    return np.random.default_rng(0).integers(0, top + 1, (frames, 3, *HW)).astype(dtype)


@pytest.mark.parametrize("io", ["uint8", "uint16"])
def test_an_integer_frame_graph_gives_the_float_graphs_frames_rounded(exported, io):
    _, path = exported("rrn", io=io)
    graph = onnx.load(path)
    elem = {i.name: i.type.tensor_type.elem_type for i in [*graph.graph.input, *graph.graph.output]}
    levels = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(io))
    assert elem["lr"] == elem["hr"] == levels and elem["state_hr_prev"] == onnx.TensorProto.FLOAT
    _, float_path = exported("rrn")
    clip = _clip(np.dtype(io))
    with (
        open_session(path, Backend.OnnxRuntime("cpu")) as ints,
        open_session(float_path, Backend.OnnxRuntime("cpu")) as floats,
    ):
        assert ints.info.io == io
        for frame in clip:
            got, expected = ints.step(frame), to_levels(floats.step(frame), np.dtype(io))
            assert got.dtype == np.dtype(io) and got.shape == expected.shape
            difference = np.abs(got.astype(np.int64) - expected.astype(np.int64))
            assert difference.max() <= 1 and (difference == 0).mean() > 0.999  # a level where torch is a hair off


def test_float_and_other_integer_frames_are_taken_as_levels(exported):
    _, path = exported("rrn", io="uint8")
    frame = _clip(np.dtype(np.uint8), 1)[0]
    with open_session(path, Backend.OnnxRuntime("cpu")) as session:
        as_uint8 = session.step(frame)
        session.reset()
        as_float = session.step(frame.astype(np.float32) / 255)
        session.reset()
        as_uint16 = session.step(frame.astype(np.uint16) * 257)
    assert np.array_equal(as_uint8, as_float) and np.array_equal(as_uint8, as_uint16)


def test_a_batch_of_streams_and_an_upscale_run_on_integer_frames(exported, tmp_path):
    _, path = exported("rrn", io="uint8")
    _, float_path = exported("rrn")
    clip = _clip(np.dtype(np.uint8))
    with (
        StreamBatch(open_graphs(path, Backend.OnnxRuntime("cpu"))[GraphKind.STEP]) as batch,
        open_session(path, Backend.OnnxRuntime("cpu")) as alone,
    ):
        a, b = batch.join(), batch.join()
        for frame in clip:
            out = batch.step({a: frame, b: frame[:, ::-1].copy()})
            assert np.array_equal(out[a], alone.step(frame)) and out[a].dtype == np.uint8
    make_video(tmp_path / "in.mp4", frames=4, width=44, height=36, audio=False)
    for graph, name in ((path, "ints"), (float_path, "floats")):  # PNG frames: nothing lossy after the model
        result = run_cli("repvsr-upscale", tmp_path / "in.mp4", tmp_path / name, "--onnx", graph)
        assert result.returncode == 0, result.stderr
    ints, floats = (sorted((tmp_path / name).iterdir()) for name in ("ints", "floats"))
    assert len(ints) == len(floats) == 4
    for a, b in zip(ints, floats):
        difference = np.abs(np.asarray(Image.open(a), int) - np.asarray(Image.open(b), int))
        assert difference.max() <= 1 and (difference == 0).mean() > 0.999


def test_quantizing_an_integer_frame_graph_is_refused(exported, tmp_path):
    _, path = exported("rrn", io="uint8")
    with pytest.raises(ReportedError, match="a graph with uint8 frames; quantize the float-frame graph"):
        quantize_verified(path, tmp_path / "q.xml", TARGETS["openvino"], "int8", demo_footage())
    assert not list(tmp_path.iterdir())
