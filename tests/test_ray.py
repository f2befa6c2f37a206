"""repvsr-upscale --ray: the segments of two videos run by the workers of a local Ray cluster (this
machine's CPUs), one worker SIGKILLed mid-run, the output equal to one machine's chunked run; and a
cluster whose nodes lack the model's backend refused before any work."""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
from footage import Audio, decode_audio, decode_video, frame_times, make_clip
from helpers import BIN, run_cli

from repvsr_deploy.demo import GRAPH
from repvsr_deploy.video.ray_chunks import require_answer

pytest.importorskip("ray")
pytest.importorskip("onnxruntime")
KEYFRAMES_EVERY_10 = {"g": "10", "keyint_min": "10", "sc_threshold": "0"}
CHUNKS = ("--chunks", 2, "--segment", 0.3, "--onnx", GRAPH)


def video_packets(path) -> list[tuple]:
    with av.open(str(path)) as container:
        return [(p.pts, p.dts, p.duration, bytes(p)) for p in container.demux(video=0) if p.size]


def worker_pids() -> list[int]:
    """The processes of this machine's Ray workers that hold a SegmentWorker."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"SegmentWorker" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:  # gone meanwhile
            continue
    return pids


def ray_upscale(*args, env=None) -> subprocess.Popen:
    return subprocess.Popen(
        [str(BIN / "repvsr-upscale"), *map(str, args), *map(str, CHUNKS), "--ray", "--workers", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's worker processes in /proc")
def test_two_videos_on_ray_with_a_worker_killed_equal_the_one_machine_run(tmp_path):
    # a phone's clip: rotated, starting late after its audio, its rate falling from 25 to 10 fps
    times = frame_times(60, late=0.2, slow_after=30)
    make_clip(tmp_path / "a.mp4", 60, 64, 48, times=times, rotation=90, audio=(Audio(),), options=KEYFRAMES_EVERY_10)
    make_clip(tmp_path / "b.mkv", 30, 48, 32, rate=30, options=KEYFRAMES_EVERY_10)
    inputs = (tmp_path / "a.mp4", tmp_path / "b.mkv")
    local = run_cli("repvsr-upscale", *inputs, "--out-dir", tmp_path / "local", *CHUNKS)
    assert local.returncode == 0, local.stderr

    run = ray_upscale(*inputs, "--out-dir", tmp_path / "ray")
    staging = tmp_path / "ray" / ".a.mp4.segments"
    deadline = time.monotonic() + 120
    while not (staging.is_dir() and any(p.name.startswith("segment-") for p in staging.iterdir())):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.02)
    killed = worker_pids()[:1]
    assert killed, "no Ray worker process found"
    os.kill(killed[0], signal.SIGKILL)  # mid-run: segments of a.mp4 are left to do
    stdout, stderr = run.communicate(timeout=240)
    assert run.returncode == 0, stderr
    assert "1 Ray worker(s) died running segments; what they had not written was run by others" in stderr
    assert "ray/a.mp4: 60 frames, 6 segments, 1 stream(s) carried" in stdout
    assert "ray/b.mkv: 30 frames, 3 segments" in stdout
    for name in ("a.mp4", "b.mkv"):  # b's 192-pixel width is one where x264 needs holding to AVX2
        assert video_packets(tmp_path / "ray" / name) == video_packets(tmp_path / "local" / name)
        served, expected = decode_video(tmp_path / "ray" / name), decode_video(tmp_path / "local" / name)
        np.testing.assert_array_equal(served.frames, expected.frames)
        assert (served.times, served.rotation) == (expected.times, expected.rotation)
    assert (
        decode_audio(tmp_path / "ray" / "a.mp4")[1].tobytes() == decode_audio(tmp_path / "local" / "a.mp4")[1].tobytes()
    )
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["a.mp4", "b.mkv"]  # no staging left


def test_a_cluster_without_the_models_backend_is_refused_before_any_work(tmp_path):
    make_clip(tmp_path / "a.mp4", 20, 64, 48, options=KEYFRAMES_EVERY_10)
    hidden = tmp_path / "no-openvino"
    hidden.mkdir()
    (hidden / "sitecustomize.py").write_text("import sys\n\nsys.modules['openvino'] = None  # not installed here\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hidden), os.environ.get("PYTHONPATH")]))}
    run = ray_upscale(tmp_path / "a.mp4", tmp_path / "out.mp4", "--graph-backend", "openvino", env=env)
    _, stderr = run.communicate(timeout=120)
    assert run.returncode == 1
    assert stderr.strip().splitlines()[-1].startswith("repvsr-upscale: error: Ray node ")
    assert "openvino is not installed" in stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4", "no-openvino"]  # nothing written


def test_an_address_where_nothing_answers_is_one_line_at_once(tmp_path):
    """Ray itself would go on trying such an address for minutes, a warning every few seconds."""
    with socket.socket() as probe:  # a port of this machine that nothing listens on once closed
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    make_clip(tmp_path / "a.mp4", 10, 64, 48)
    started = time.monotonic()
    result = run_cli("repvsr-upscale", tmp_path / "a.mp4", tmp_path / "out.mp4", *CHUNKS, "--ray", f"127.0.0.1:{port}")
    assert result.returncode == 1 and time.monotonic() - started < 30
    assert (
        result.stderr
        == f"repvsr-upscale: error: --ray 127.0.0.1:{port}: nothing answers there (Connection refused); give a Ray cluster's address\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.mp4"]  # nothing written


def test_an_address_that_answers_is_left_to_ray():
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        require_answer(f"127.0.0.1:{listening.getsockname()[1]}")
        require_answer(f"ray://127.0.0.1:{listening.getsockname()[1]}")
    require_answer("auto")  # Ray's own way to find a cluster
