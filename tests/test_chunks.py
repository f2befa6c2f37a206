"""repvsr-upscale --chunks: a video cut at keyframes into segments that run as the streams of one batch,
joined by stream copy, and resumed after a SIGKILL."""

import subprocess
import time
from fractions import Fraction

import av
import numpy as np
import pytest
from footage import Audio, decode_audio, decode_video, frame_times, make_clip
from helpers import BIN, run_cli

from repvsr_deploy.demo import GRAPH

pytest.importorskip("onnxruntime")
KEYFRAMES_EVERY_10 = {"g": "10", "keyint_min": "10", "sc_threshold": "0"}
LOSSLESS = ("--crf", "0")  # x264 at crf 0: decoded frames are the model's, as rounded to YUV


def upscale(*args):
    return run_cli("repvsr-upscale", *map(str, args), "--onnx", GRAPH)


def video_packets(path):
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, p.dts, p.duration, p.is_keyframe) for p in container.demux(stream) if p.size]


@pytest.fixture(scope="module")
def rotated_clip(tmp_path_factory):
    """A phone's clip: rotated, starting late after its audio, its rate falling from 25 to 10 fps."""
    path = tmp_path_factory.mktemp("chunks") / "in.mp4"
    times = frame_times(30, late=0.2, slow_after=15)
    make_clip(path, 30, 64, 48, times=times, rotation=90, audio=(Audio(),), options=KEYFRAMES_EVERY_10)
    return path


def psnr(a, b) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_chunks_give_the_sequential_frames_times_and_streams(rotated_clip, tmp_path):
    """Two streams over three segments: the first segment's frames are the sequential run's exactly,
    every frame has its time, the seams are primed by the warm-up, the other streams are the input's."""
    sequential = upscale(rotated_clip, tmp_path / "seq.mp4", *LOSSLESS)
    assert sequential.returncode == 0, sequential.stderr
    runs = {}
    for warmup in (0, 8):
        out = tmp_path / f"w{warmup}.mp4"
        result = upscale(rotated_clip, out, *LOSSLESS, "--chunks", 2, "--segment", 0.3, "--warmup", warmup)
        assert result.returncode == 0, result.stderr
        assert f"{out}: 30 frames, 256x192, 3 segments, 1 stream(s) carried" in result.stdout
        assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []  # staging gone
        runs[warmup] = decode_video(out)
    reference = decode_video(tmp_path / "seq.mp4")
    assert abs(reference.times[0] - 0.2) < 1e-3 and abs(reference.times[-1] - reference.times[-2] - 0.1) < 1e-3
    for warmup, got in runs.items():
        assert (got.times, got.ends, got.rotation) == (reference.times, reference.ends, 90)
        assert np.array_equal(got.frames[:10], reference.frames[:10])  # a segment from the start is the run's
        assert decode_audio(tmp_path / f"w{warmup}.mp4")[1].tobytes() == decode_audio(rotated_clip)[1].tobytes()
    assert [k for k, p in enumerate(video_packets(tmp_path / "w8.mp4")) if p[3]][:3] == [0, 10, 20]
    cold, primed = ([psnr(runs[w].frames[k], reference.frames[k]) for k in (10, 20)] for w in (0, 8))
    assert all(p > c for p, c in zip(primed, cold)), (primed, cold)  # the warm-up brings the state nearer


@pytest.mark.parametrize("suffix", [".mp4", ".mov"])
def test_seams_where_the_rate_changes_keep_every_time_and_rising_decoding_times(tmp_path, suffix):
    """25, then 30, then 10 fps, a segment from each change (frames 0, 10, 20). x264 reorders frames
    at the default crf, so a segment's decoding times run two frames behind its presentation times:
    where the rate falls at a seam, the next segment's would start before the last of the one
    before, which a muxer refuses. And the third segment starts at 0.7333 s, which an mp4 or mov
    segment keeps in whole milliseconds. The join gives the sequential run's times exactly."""
    times = [Fraction(k, 25) if k <= 10 else Fraction(2, 5) + Fraction(k - 10, 30) for k in range(21)]
    times += [times[-1] + Fraction(k, 10) for k in range(1, 10)]
    clip = tmp_path / f"in{suffix}"
    make_clip(clip, 30, 64, 48, times=times, options=KEYFRAMES_EVERY_10)
    assert upscale(clip, tmp_path / f"seq{suffix}").returncode == 0
    result = upscale(clip, tmp_path / f"out{suffix}", "--chunks", 2, "--segment", 0.3)
    assert result.returncode == 0, result.stderr
    assert "3 segments" in result.stdout
    packets = video_packets(tmp_path / f"out{suffix}")
    assert any(pts != dts for pts, dts, _, _ in packets)  # reordered: what the case needs
    decoding = [dts for _, dts, _, _ in packets]
    assert all(a < b for a, b in zip(decoding, decoding[1:])) and all(dts <= pts for pts, dts, _, _ in packets)
    joined, sequential = decode_video(tmp_path / f"out{suffix}"), decode_video(tmp_path / f"seq{suffix}")
    # mp4 keeps no frame durations but decoding-time steps, which differ by a tick from x264's own
    assert (joined.times, joined.ends[-1]) == (sequential.times, sequential.ends[-1])


def start(*args) -> subprocess.Popen:
    command = [str(BIN / "repvsr-upscale"), *map(str, args), "--onnx", str(GRAPH)]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_killed_run_resumes_from_its_finished_segments_and_gives_the_same_output(tmp_path):
    clip = tmp_path / "long.mp4"
    make_clip(clip, 60, 64, 48, audio=(Audio(),), options=KEYFRAMES_EVERY_10)
    options = ("--chunks", 1, "--segment", 0.3)
    whole = upscale(clip, tmp_path / "whole.mp4", *options)
    assert whole.returncode == 0, whole.stderr

    target = tmp_path / "out.mp4"
    staging = tmp_path / ".out.mp4.segments"
    process = start(clip, target, *options)
    deadline = time.monotonic() + 120
    while not (staging.is_dir() and any(p.name.startswith("segment-") for p in staging.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.01)
    process.kill()
    process.wait()
    done = sorted(p.name for p in staging.iterdir() if p.name.startswith("segment-"))
    assert not target.exists() and 0 < len(done) < 6

    again = upscale(clip, target, *options)
    assert again.returncode == 0, again.stderr
    assert f"resuming: {len(done)} of 6 segments were done" in again.stdout
    assert not staging.exists()
    assert video_packets(target) == video_packets(tmp_path / "whole.mp4")
    assert np.array_equal(decode_video(target).frames, decode_video(tmp_path / "whole.mp4").frames)
    assert decode_audio(target)[1].tobytes() == decode_audio(clip)[1].tobytes()


def test_segments_of_another_job_are_not_taken_and_matroska_joins(rotated_clip, tmp_path):
    """Matroska keeps no decoding times: the join gives a segment's first packets theirs again."""
    target = tmp_path / "out.mkv"
    staging = tmp_path / ".out.mkv.segments"
    staging.mkdir()
    (staging / "job.json").write_text('{"input": "another"}')
    (staging / "segment-00000.mkv").write_bytes(b"not this job's")
    result = upscale(rotated_clip, target, "--chunks", 2, "--segment", 0.3)
    assert result.returncode == 0, result.stderr
    assert "resuming" not in result.stdout and not staging.exists()
    assert upscale(rotated_clip, tmp_path / "seq.mkv").returncode == 0
    assert decode_video(target).times == decode_video(tmp_path / "seq.mkv").times


@pytest.mark.parametrize(
    "args, message",
    [
        (("--start", 3), "--chunks runs a whole video: it does not take --start"),
        (("--reset-at-cuts",), "--chunks runs a whole video: it does not take --reset-at-cuts"),
        (("--bicubic",), "--chunks runs a model as streams of a batch; --bicubic is no model"),
    ],
)
def test_what_chunks_refuse(rotated_clip, tmp_path, args, message):
    result = run_cli("repvsr-upscale", rotated_clip, tmp_path / "out.mp4", "--chunks", 2, *args)
    assert result.returncode == 2 and message in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "output, message",
    [("frames", "--chunks writes a video file, not a folder of images"), ("out.xyz", "unknown video container")],
)
def test_chunks_write_a_video_file(rotated_clip, tmp_path, output, message):
    result = upscale(rotated_clip, tmp_path / output, "--chunks", 2)
    assert result.returncode == 1 and message in result.stderr
    assert result.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_an_engine_built_for_fewer_streams_is_refused_before_any_work(rotated_clip, tmp_path):
    from repvsr_deploy.graph_file import read_graph
    from repvsr_deploy.trt.cache import BuildKey, Sidecar, sidecar_path

    engine = tmp_path / "models" / "r.plan"
    engine.parent.mkdir()
    engine.write_bytes(b"an engine")  # never loaded: its sidecar refuses it first
    key = BuildKey("rtx", "1.7", "", (), "ab" * 32, "fp32", (("720p", 180, 320),), 3, None, False, streams=2)
    sidecar = Sidecar(key, read_graph(GRAPH)[1].to_metadata(), (), "2026-12-02T00:00:00")
    sidecar_path(engine).write_text(sidecar.to_json())
    result = run_cli("repvsr-upscale", rotated_clip, tmp_path / "out.mp4", "--engine", engine, "--chunks", 3)
    assert result.returncode == 1, result.stderr
    assert "built for at most 2 stream(s) a run, and --chunks 3 runs 3; rebuild it with" in result.stderr
    assert result.stderr.count("\n") == 1 and sorted(p.name for p in tmp_path.iterdir()) == ["models"]
