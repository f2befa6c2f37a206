"""repvsr-serve against a real Triton Inference Server (the one nvidia-pytriton's wheel bundles),
started on loopback: two videos streamed at once equal local runs, a stream that ends frees its slot,
bad requests get errors while the others are served; and the repository's configurations read back
with Triton's own schema."""

import subprocess
import sysconfig
import threading
from pathlib import Path

import numpy as np
import pytest
from footage import Audio, decode_audio, decode_video, make_clip
from helpers import BIN, run_cli

import repvsr_deploy
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.frame_layout import to_levels
from repvsr_deploy.runtime.session import open_session
from repvsr_deploy.runtime.streams import open_streams
from repvsr_deploy.serve.load import stream_frames
from repvsr_deploy.serve.repository import parse_model_config
from repvsr_deploy.serve.sequences import SequenceFrame, Sequences
from repvsr_deploy.video.upscale import upscale_frames

grpcclient = pytest.importorskip("tritonclient.grpc")
from triton_server import bundled_server, running_server  # noqa: E402
from tritonclient.utils import InferenceServerException  # noqa: E402

STREAMS = 2  # the server's sequence slots
# x264 at crf 0: decoded frames are the model's, as rounded to YUV, whatever the encoder decides (at
# crf 18 it was seen to code equal frames differently from one encode to the next in one process)
LOSSLESS = ("--crf", "0")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    bundled_server()  # skips where the wheel is missing
    folder = tmp_path_factory.mktemp("triton")
    site_packages = [sysconfig.get_paths()["purelib"], str(Path(repvsr_deploy.__file__).parents[1])]
    result = run_cli(
        "repvsr-serve", "export", GRAPH, "-o", folder / "repo", "--max-streams", STREAMS, "--device", "cpu",
        *[arg for path in site_packages for arg in ("--site-packages", path)],
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    with running_server(folder / "repo", folder) as url:
        yield url


def local_frames(frames: np.ndarray) -> np.ndarray:
    """[T, H, W, 3] uint8 -> the demo's HR frames [T, sH, sW, 3] uint8, run locally."""
    with open_session(GRAPH, Backend.Auto("cpu")) as session:
        return np.stack(list(upscale_frames(session, iter(frames))))


def client(url, source, target) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "repvsr-serve"), "client", url, str(source), str(target), *LOSSLESS],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_videos_streamed_at_once_equal_local_runs(server, tmp_path):
    with_audio = make_clip(tmp_path / "a.mp4", 12, 64, 48, audio=(Audio(),), rate=24)
    plain = make_clip(tmp_path / "b.mkv", 9, 64, 48, rate=30)  # one size: the two run in one batch
    local = tmp_path / "local.mp4"
    local_run = run_cli("repvsr-upscale", tmp_path / "a.mp4", local, "--onnx", GRAPH, "--device", "cpu", *LOSSLESS)
    assert local_run.returncode == 0, local_run.stderr
    runs = [
        client(server, tmp_path / "a.mp4", tmp_path / "a-out.mp4"),
        client(server, tmp_path / "b.mkv", tmp_path / "b-out"),
    ]
    for run in runs:
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr
    # the video with audio, encoded: as repvsr-upscale encodes the local run, frame for frame and time for time
    served, expected = decode_video(tmp_path / "a-out.mp4"), decode_video(local)
    assert len(served.frames) == len(with_audio) == 12
    np.testing.assert_array_equal(served.frames, expected.frames)
    assert served.times == expected.times
    assert decode_audio(tmp_path / "a-out.mp4")[1].shape == decode_audio(local)[1].shape
    # the other, as images: the served frames are the local run's, level for level
    images = sorted((tmp_path / "b-out").iterdir())
    assert len(images) == len(plain) == 9
    served_b = np.stack([decode_video(image).frames[0] for image in images])
    decoded_b = decode_video(tmp_path / "b.mkv").frames
    np.testing.assert_array_equal(served_b, local_frames(decoded_b))


class Sequence:
    """One sequence sent request by request (the synchronous API), with its frames."""

    def __init__(self, url: str, sequence: int, frames: np.ndarray):
        self.client = grpcclient.InferenceServerClient(url)
        self.sequence, self.frames, self.sent = sequence, frames, 0

    def send(self, frame=None, start=None, end=False, sequence=None) -> np.ndarray:
        frame = self.frames[self.sent] if frame is None else frame
        tensor = grpcclient.InferInput("FRAME", [1, *frame.shape], "UINT8")
        tensor.set_data_from_numpy(np.ascontiguousarray(frame[None]))
        result = self.client.infer(
            "repvsr",
            [tensor],
            sequence_id=self.sequence if sequence is None else sequence,
            sequence_start=self.sent == 0 if start is None else start,
            sequence_end=end,
        )
        self.sent += 1
        return result.as_numpy("HR")[0]


def clip_frames(stream: int, count: int, size=(40, 48)) -> np.ndarray:
    return stream_frames(stream, count, size).transpose(0, 2, 3, 1).copy()


def test_a_stream_that_ends_frees_its_slot_for_a_third(server):
    first, second = Sequence(server, 11, clip_frames(0, 3)), Sequence(server, 12, clip_frames(1, 3))
    outputs = {11: [first.send(), first.send()], 12: [second.send()]}
    third = Sequence(server, 13, clip_frames(2, 3))
    answered = []
    waiting = threading.Thread(target=lambda: answered.append(third.send()))
    waiting.start()  # both slots are taken: the third sequence waits for one
    waiting.join(2)
    assert waiting.is_alive() and not answered
    outputs[11].append(first.send(end=True))  # the first ends: its slot goes to the third
    waiting.join(60)
    assert answered
    outputs[13] = [answered[0], third.send(), third.send(end=True)]
    outputs[12] += [second.send(), second.send(end=True)]
    for sequence, frames in ((11, first.frames), (12, second.frames), (13, third.frames)):
        np.testing.assert_array_equal(np.stack(outputs[sequence]), local_frames(frames))


def test_bad_requests_get_errors_and_the_server_serves_the_others(server):
    good = Sequence(server, 21, clip_frames(3, 4))
    outputs = [good.send()]
    bad = Sequence(server, 22, clip_frames(4, 2))
    with pytest.raises(InferenceServerException, match="START"):  # Triton's: a sequence starts with START
        bad.send(start=False, sequence=23)
    with pytest.raises(InferenceServerException, match="correlation ID|sequence"):  # no correlation ID at all
        bad.send(start=True, sequence=0)
    with pytest.raises(InferenceServerException, match="shape|dims"):  # two channels: the config refuses it
        bad.send(frame=np.zeros((40, 48, 2), np.uint8))
    bad.sent = 0
    bad.send()
    with pytest.raises(InferenceServerException, match="runs 48x40 frames; this one is 32x24"):
        bad.send(frame=np.zeros((24, 32, 3), np.uint8), end=True)
    outputs += [good.send(), good.send(), good.send(end=True)]
    np.testing.assert_array_equal(np.stack(outputs), local_frames(good.frames))


def test_bench_reports_rate_latency_and_each_stream_against_its_local_run(server):
    result = run_cli(
        "repvsr-serve", "bench", server, GRAPH, "--streams", 2, "--frames", 4, "--size", "48x40", "--device", "cpu"
    )
    assert result.returncode == 0, result.stderr
    assert "2 streams x 4 frames" in result.stdout and "p99" in result.stdout
    assert "at most 0 level(s) apart" in result.stdout


def test_the_repository_reads_back_with_tritons_schema(tmp_path):
    result = run_cli("repvsr-serve", "export", GRAPH, "-o", tmp_path, "--max-streams", 3, "--native-size", "64x48")
    assert result.returncode == 0, result.stderr
    served = parse_model_config((tmp_path / "repvsr" / "config.pbtxt").read_text())
    assert (served.backend, served.max_batch_size) == ("python", 3)
    assert served.sequence_batching.oldest.max_candidate_sequences == 3
    assert {c.name for c in served.sequence_batching.control_input} == {"START", "END", "CORRID"}
    assert (tmp_path / "repvsr" / "1" / GRAPH.name).read_bytes() == GRAPH.read_bytes()
    native = parse_model_config((tmp_path / "repvsr_native" / "config.pbtxt").read_text())
    assert native.platform == "onnxruntime_onnx"
    states = {
        s.input_name: (s.output_name, list(s.dims), s.initial_state[0].zero_data)
        for s in native.sequence_batching.state
    }
    assert states == {
        "state_lr_prev": ("next_state_lr_prev", [3, 48, 64], True),
        "state_hr_prev": ("next_state_hr_prev", [3, 192, 256], True),
    }
    assert list(native.input[0].dims) == [3, 48, 64] and list(native.output[0].dims) == [3, 192, 256]


def test_what_cannot_be_served_is_refused_in_one_line(tmp_path):
    odd = run_cli("repvsr-serve", "export", GRAPH, "-o", tmp_path, "--native-size", "7x7")
    assert odd.returncode != 0 and "smaller than model" in odd.stderr and len(odd.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # checked before anything is written
    missing = run_cli("repvsr-serve", "export", tmp_path / "none.onnx", "-o", tmp_path)
    assert missing.returncode != 0 and "no such ONNX file" in missing.stderr


def test_frames_cross_as_uint8_levels_whatever_their_depth():
    deep = np.array([0, 128, 129, 32896, 65535], np.uint16)  # 10- and 16-bit sources decode to uint16
    assert to_levels(deep, np.uint8).dtype == np.uint8 and to_levels(deep, np.uint8).tolist() == [0, 0, 1, 128, 255]
    assert to_levels(np.array([0.0, 0.5, 1.0], np.float32), np.uint8).tolist() == [0, 128, 255]


def test_sequences_leave_at_end_and_after_idling_and_run_each_size_in_its_batch():
    now = [0.0]
    with Sequences(lambda: open_streams(GRAPH, Backend.Auto("cpu")), idle_seconds=5, clock=lambda: now[0]) as sequences:
        frames = clip_frames(5, 2, (16, 16))
        assert all(isinstance(r, np.ndarray) for r in sequences.run([SequenceFrame(1, True, False, frames[0])]))
        sequences.run([SequenceFrame(2, True, True, frames[0])])
        assert sequences.live == [1]  # 2 ended
        other = clip_frames(6, 1, (24, 32))  # another size at once: a batch of its own
        results = sequences.run([SequenceFrame(3, True, False, frames[1]), SequenceFrame(4, True, False, other[0])])
        assert [r.shape for r in results] == [(64, 64, 3), (96, 128, 3)]
        (error,) = sequences.run([SequenceFrame(3, False, False, other[0])])
        assert "runs 16x16 frames; this one is 32x24" in error
        now[0] = 6.0
        (error,) = sequences.run([SequenceFrame(1, False, False, frames[1])])
        assert "no state here" in error and sequences.live == []  # every one idled out


def test_an_engine_is_served_with_its_sidecar_up_to_the_streams_it_was_built_for(tmp_path):
    pytest.importorskip("tensorrt_rtx", reason="builds a TensorRT for RTX engine (the rtx extra)")
    engine = tmp_path / "demo.plan"
    built = run_cli("repvsr-trt", "build", GRAPH, "--flavor", "rtx", "--streams", 2, "--profiles", "720p", "-o", engine)
    assert built.returncode == 0, built.stderr
    repository = tmp_path / "repo"
    more = run_cli("repvsr-serve", "export", engine, "-o", repository, "--max-streams", 4)
    assert more.returncode == 1 and "built for at most 2 stream(s) a run, not --max-streams 4" in more.stderr
    native = run_cli("repvsr-serve", "export", engine, "-o", repository, "--max-streams", 2, "--native-size", "320x180")
    assert native.returncode == 1 and "Triton's own backends run .onnx graphs and TensorRT engines" in native.stderr
    assert not repository.exists()  # each refused before anything was written
    served = run_cli("repvsr-serve", "export", engine, "-o", repository, "--max-streams", 2)
    assert served.returncode == 0, served.stderr
    assert sorted(p.name for p in (repository / "repvsr" / "1").iterdir()) == [
        "demo.plan",
        "demo.plan.json",
        "model.py",
    ]
    config = parse_model_config((repository / "repvsr" / "config.pbtxt").read_text())
    assert config.parameters["backend"].string_value == "tensorrt" and config.max_batch_size == 2
