"""The GPU run script runs its steps here, on the CPU and small, so that a lent GPU's minutes go to
measuring: each step's output lands in one folder with a summary of what ran and how it ended."""

import json
import subprocess
import sys
from argparse import Namespace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import gpu_run  # noqa: E402


def test_the_gpu_run_measures_streams_and_the_upscale_rate_on_the_cpu(tmp_path):
    out = tmp_path / "run"
    command = [sys.executable, str(ROOT / "benchmarks" / "gpu_run.py"), "--device", "cpu", "--quick"]
    command += ["--backend", "torch", "--only", "streams,upscale", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert [s["step"] for s in summary["steps"]] == ["streams", "upscale"]
    assert all(s["status"] == "ok" for s in summary["steps"]) and summary["machine"]["versions"]["torch"]
    streams = json.loads((out / "streams.json").read_text())
    assert [row["streams"] for row in streams["rows"]] == [1, 2] and all(row["fps"] > 0 for row in streams["rows"])
    upscale = json.loads((out / "upscale.json").read_text())
    assert upscale["end_to_end_rate_vs_model_only"] > 0 and len(upscale["end_to_end_ms_per_frame"]) == 2
    assert (out / "summary.md").read_text().count("| ok |") == 2


def test_on_a_gpu_the_tables_cover_the_three_resolutions_and_the_streams_go_to_16(tmp_path):
    args = Namespace(quick=False, table="all", precision="fp16,fp32")
    steps = {name: command for name, command, _ in gpu_run.steps(args, "torch", "cuda", tmp_path)}
    assert list(steps) == ["gpu-tests", "tables", "streams", "upscale", "train"]
    assert "720p,1080p,4k" in steps["tables"] and "gpu or tensorrt" in steps["gpu-tests"]
    assert "1,4,16" in steps["streams"] and "cuda" in steps["upscale"] and "fp32,bf16" in steps["train"]
    assert sum(limit for *_, limit in gpu_run.steps(args, "torch", "cuda", tmp_path)) <= 9 * 60


def test_training_speed_is_measured_as_repvsr_train_runs(tmp_path):
    """The GPU run's training step, small, on the CPU: the loop with its loader workers, per model
    and precision, with the recipe's hours at that rate."""
    out = tmp_path / "train.json"
    command = [sys.executable, str(ROOT / "benchmarks" / "train_speed.py"), "--quick", "--model", "repvsr"]
    command += ["--iterations", "2", "--warmup", "1", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (row,) = json.loads(out.read_text())["rows"]
    assert row["model"] == "repvsr" and row["iterations_per_s"] > 0 and len(row["per_iteration_s"]) == 2
    assert row["projected_hours"] == round(400_000 * row["seconds_per_iteration"] / 3600, 1)
    assert "| RepVSR | fp32 |" in out.with_suffix(".md").read_text()
