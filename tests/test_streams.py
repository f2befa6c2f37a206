"""A batch of streams gives each stream what a session of its own gives: streams join with a zero
state, leave, and step together or alone, on every streaming registry model."""

import numpy as np
import pytest
from helpers import streaming_models

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.modelinfo import GraphKind
from repvsr_deploy.runtime import open_graphs, open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.session import Session
from repvsr_deploy.runtime.streams import StreamBatch
from repvsr_deploy.runtime.torch_backend import TorchBackend

HW = (36, 44)  # above every model's minimum, a multiple of every size multiple
# joins, steps ({stream: its frame index}) and a leave: streams step together or alone; the set changes
EVENTS = [
    ("join", 0),
    ("step", {0: 0}),
    ("join", 1),
    ("step", {0: 1, 1: 0}),
    ("join", 2),
    ("step", {0: 2, 1: 1, 2: 0}),
    ("step", {1: 2}),
    ("leave", 1),
    ("step", {0: 3, 2: 1}),
    ("step", {2: 2}),
]
# onnxruntime's DeformConv sums a batch of 2 in another order than a batch of 1
BATCH_ROUNDING = {"edvr-m": 2e-7}


def _frames(stream: int) -> list[np.ndarray]:
    return list(np.random.default_rng(stream).integers(0, 256, (4, 3, *HW), np.uint8))


def _each_alone(open_one) -> dict[int, list[np.ndarray]]:
    """Each stream's HR frames from a session of its own."""
    steps = [call for event, call in EVENTS if event == "step"]
    results = {}
    for stream in (0, 1, 2):
        count = sum(stream in call for call in steps)
        with open_one() as session:
            results[stream] = [session.step(frame) for frame in _frames(stream)[:count]]
    return results


def _batched(batch: StreamBatch) -> dict[int, list[np.ndarray]]:
    ids, results = {}, {}
    for event, what in EVENTS:
        if event == "join":
            ids[what] = batch.join()
        elif event == "leave":
            batch.leave(ids[what])
        else:
            out = batch.step({ids[s]: _frames(s)[index] for s, index in what.items()})
            for stream in what:
                results.setdefault(stream, []).append(out[ids[stream]])
    assert batch.streams == [ids[0], ids[2]]
    return results


def _assert_equal(batched, alone, tolerance: float) -> None:
    for stream, frames in alone.items():
        assert len(batched[stream]) == len(frames)
        for got, expected in zip(batched[stream], frames):
            assert got.shape == expected.shape and np.abs(got - expected).max() <= tolerance, stream


@pytest.mark.parametrize("name", streaming_models())
def test_a_batch_of_streams_equals_a_session_per_stream_on_onnxruntime(exported, name):
    _, path = exported(name)
    with StreamBatch(open_graphs(path, Backend.OnnxRuntime("cpu"))[GraphKind.STEP]) as batch:
        batched = _batched(batch)
    alone = _each_alone(lambda: open_session(path, Backend.OnnxRuntime("cpu")))
    _assert_equal(batched, alone, BATCH_ROUNDING.get(name, 0.0))


def test_a_batch_of_streams_on_openvino_and_torch(exported):
    model, path = exported("repvsr", "fp32", "portable")
    with StreamBatch(open_graphs(path, Backend.OpenVINO())[GraphKind.STEP]) as batch:
        batched = _batched(batch)
    _assert_equal(batched, _each_alone(lambda: open_session(path, Backend.OpenVINO())), 1e-5)
    with StreamBatch(TorchBackend(model, "cpu")) as batch:
        batched = _batched(batch)
    _assert_equal(batched, _each_alone(lambda: Session(TorchBackend(model, "cpu"))), 1e-5)


def test_what_a_batch_refuses(exported):
    _, path = exported("repvsr")
    with StreamBatch(open_graphs(path, Backend.OnnxRuntime("cpu"))[GraphKind.STEP]) as batch:
        first = batch.join()
        with pytest.raises(ReportedError, match=r"no stream 7 in this batch \(its streams: \[0\]\)"):
            batch.step({7: _frames(0)[0]})
        batch.step({first: _frames(0)[0]})
        second = batch.join()
        with pytest.raises(ReportedError, match="frame size changed from 44x36 to 48x36"):
            batch.step({second: np.zeros((3, 36, 48), np.uint8)})
    with pytest.raises(ReportedError, match="is closed"):
        batch.join()
    _, bidirectional = exported("ksnet-bi")
    with pytest.raises(ReportedError, match="model 'ksnet-bi' does not stream frame by frame"):
        StreamBatch(open_graphs(bidirectional, Backend.OnnxRuntime("cpu"))[GraphKind.FORWARD])
