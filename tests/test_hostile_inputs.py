"""What a hostile-input run found still ending in a traceback or a silent acceptance: each is one
line now, or cleaned up."""

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from helpers import make_video, run_cli

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.models import build_model, save_checkpoint
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.session import open_session

DEEP = "[" * 100_000 + "]" * 100_000  # JSON nested past what Python's decoder recurses through


def one_line(result, *words):
    assert result.returncode not in (0, None) and result.stderr.count("\n") == 1, result.stderr
    assert "internal error" not in result.stderr and all(w in result.stderr for w in words), result.stderr


def test_graph_metadata_nested_too_deep_is_one_line(exported, tmp_path):
    from test_graphs import _graph_with_metadata

    bad = _graph_with_metadata(exported("repvsr")[1], tmp_path / "deep.onnx", config=DEEP)
    with pytest.raises(ReportedError, match="nests too deep"):
        open_session(bad, Backend.OnnxRuntime())
    make_video(tmp_path / "in.mp4", frames=2, audio=False)
    one_line(run_cli("repvsr-upscale", tmp_path / "in.mp4", tmp_path / "out.mp4", "--onnx", bad), "nests too deep")


def test_an_engine_sidecar_nested_too_deep_is_one_line(tmp_path):
    from test_trt_cli import write_engine

    engine = write_engine(tmp_path, with_sidecar=False)
    (tmp_path / "r.plan.json").write_text(DEEP)
    one_line(run_cli("repvsr-trt", "info", engine), "not a repvsr-trt engine sidecar")


@pytest.mark.parametrize(
    "field, value",
    [
        ("iteration", "5"),
        ("iterations", 2.5),
        ("optimizer", {"state": {0: {"step": "x"}}, "param_groups": []}),
        ("optimizer", {"state": {}, "param_groups": [{"lr": "fast", "params": []}]}),
    ],
)
def test_a_training_state_of_the_wrong_kinds_is_refused_on_resume(tmp_path, field, value):
    training = {"iteration": 1, "iterations": 2, "recipe": "repvsr", "optimizer": {"state": {}, "param_groups": []}}
    save_checkpoint(build_model("repvsr"), tmp_path / "run.pth", training={**training, field: value})
    one_line(
        run_cli("repvsr-train", "--demo-data", "--resume", "-o", tmp_path / "run.pth"),
        field if field != "optimizer" else "optimizer state",
    )


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_a_frame_without_pixels_is_refused_in_one_line(dtype):
    session = open_session(build_model("repvsr"), Backend.Torch())
    with pytest.raises(ReportedError, match="0x0 pixels"):
        session.step(np.zeros((3, 0, 0), dtype))


@pytest.mark.parametrize(
    "command, flag", [("repvsr-upscale", "--cut-threshold"), ("repvsr-train", "--lr"), ("repvsr-trt", "--workspace")]
)
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_numbers_that_are_not_finite_are_refused(tmp_path, command, flag, value):
    args = {
        "repvsr-upscale": ["in.mp4", "out.mp4"],
        "repvsr-train": ["--demo-data", "-o", "x.pth"],
        "repvsr-trt": ["build", "x.onnx"],
    }[command]
    result = run_cli(command, *args, flag, value)
    bounded = flag == "--cut-threshold" and value == "inf"  # above the range's top: the range refuses it
    one_line(result, flag, "is not in the range" if bounded else "not a finite number")
    assert result.returncode == 2


SCRATCH_HOLDER = """
import time
from repvsr_deploy.atomic import scratch_folder
with scratch_folder("repvsr-bench-") as folder:
    (folder / "repvsr.onnx").write_bytes(b"a graph")
    print(folder, flush=True)
    time.sleep(600)
"""


def test_the_graphs_a_killed_benchmark_left_are_removed_by_the_next_run(tmp_path, monkeypatch):
    """repvsr-bench writes its graphs into `scratch_folder("repvsr-bench-")`: two processes hold
    one each, as two benchmarks would; the one SIGKILLed (no handler sees it) leaves its folder,
    which the next run removes, and the live one's stays."""
    from repvsr_deploy.atomic import scratch_folder

    environment = {**os.environ, "TMPDIR": str(tmp_path)}
    killed, live = (
        subprocess.Popen([sys.executable, "-c", SCRATCH_HOLDER], stdout=subprocess.PIPE, text=True, env=environment)
        for _ in range(2)
    )
    try:
        left, alive = (Path(process.stdout.readline().strip()) for process in (killed, live))
        killed.send_signal(signal.SIGKILL)
        killed.wait()
        assert (left / "repvsr.onnx").is_file()
        monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
        with scratch_folder("repvsr-bench-") as mine:  # what the next benchmark does first
            assert not left.exists() and (alive / "repvsr.onnx").is_file() and mine.is_dir()
        assert not mine.exists()
    finally:
        for process in (killed, live):
            process.kill()
            process.wait()
