"""RepVSR at 720p on this CPU, this checkout against another (an earlier commit), in one run.

    git worktree add /tmp/before <commit>
    python benchmarks/cpu_realtime.py bikes.mp4 --before /tmp/before --out benchmarks/results/cpu-realtime-720p.json

For each checkout, in a process of its own with that checkout's code (`PYTHONPATH`):
- model time: RepVSR (random init, seed 0, fused) exported by that checkout, then quantized to int8
  as `profile_cpu.py` quantizes it; the LR frames of a real clip (320x180) through a session of that
  checkout, HR frames as uint8 levels (what repvsr-upscale's model stage makes), ms a frame, on
  OpenVINO fp32 (float parts fp32), OpenVINO int8 and onnxruntime fp32;
- end to end: that checkout's `repvsr-upscale IN OUT --stats` with no model (its default: the demo
  on the backend and precision it picks) and each `--preset` asked (`default`: none, its own), ms a frame from the first frame
  in to the last out (--stats' wall time: the process's start, paid once a file, left out).
The checkouts take turns (`--rounds`), so that both see the machine as it was; each number is the
best of its rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

from upscale_pipeline import write_lr_clip

HERE = Path(__file__).resolve().parent
MODEL_RUNS = ("openvino fp32", "openvino int8", "onnxruntime fp32")

# Run with the other checkout's code, so written here, not imported from profile_cpu.py (whose
# int8_model an earlier checkout lacks); it quantizes as that function does.
WORKER = r"""
import json, sys, time
from dataclasses import replace
from pathlib import Path
import numpy as np, onnx, torch
from repvsr_deploy.export import export_verified
from repvsr_deploy.models import build_model
from repvsr_deploy.graph_file import read_graph
from repvsr_deploy.quantize.float_scope import DEFAULT_RULES, float_nodes
from repvsr_deploy.quantize.targets import TARGETS, quantize_model
from repvsr_deploy.runtime import Backend, open_session
from repvsr_deploy.runtime.openvino_backend import save_ir
from repvsr_deploy.video.source import open_source
from repvsr_deploy.video.upscale import upscale_frames
import openvino as ov

clip, folder = Path(sys.argv[1]), Path(sys.argv[2])
with open_source(clip) as source:
    frames = [rgb for rgb, _ in source.frames()]
height, width = frames[0].shape[:2]
graph, int8 = folder / "repvsr.onnx", folder / "repvsr.int8.xml"
if not graph.exists():
    torch.manual_seed(0)
    export_verified(build_model("repvsr").eval(), graph, dcn="portable", frames=2)
    _, info = read_graph(graph)
    def inputs(seed):
        rng = np.random.default_rng(seed)
        values = {"lr": rng.random((1, 3, height, width), dtype=np.float32)}
        values.update({s.input_name: rng.random(s.shape(height, width), dtype=np.float32) * 0.1 for s in info.states})
        return values
    kept = [node.name for node in float_nodes(onnx.load(graph), DEFAULT_RULES)]
    model = quantize_model(graph, TARGETS["openvino"], "int8", [inputs(seed) for seed in range(3)], kept)
    save_ir(ov, model, int8, replace(info, precision="int8", quantization={"for": "openvino"}))
times = {}
for name, path, backend in (
    ("openvino fp32", graph, Backend.OpenVINO()),
    ("openvino int8", int8, Backend.OpenVINO()),
    ("onnxruntime fp32", graph, Backend.OnnxRuntime("cpu")),
):
    with open_session(path, backend) as session:
        for _ in upscale_frames(session, frames[:3]):  # compiles for this size
            pass
        session.reset()
        start = time.perf_counter()
        for _ in upscale_frames(session, frames):
            pass
        times[name] = 1e3 * (time.perf_counter() - start) / len(frames)
print(json.dumps(times))
"""


def model_times(checkout: Path, clip: Path, folder: Path) -> dict[str, float]:
    folder.mkdir(exist_ok=True)
    result = subprocess.run(
        [sys.executable, "-c", WORKER, str(clip), str(folder)],
        env={**os.environ, "PYTHONPATH": str(checkout)},
        cwd=folder,  # not this checkout: `python -c` puts the working folder first on sys.path
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def upscale_ms(checkout: Path, clip: Path, out: Path, preset: str) -> tuple[float, str]:
    """(ms a frame from the first frame in to the last out, as --stats says; its --stats line) of
    that checkout's repvsr-upscale with its default model. The process's start (imports, the model's
    compilation) is left out: it is paid once a file, not a frame."""
    command = [sys.executable, "-c", "from repvsr_deploy.cli.upscale import main; main()", str(clip), str(out)]
    command += ["--overwrite", "--stats", *(("--preset", preset) if preset != "default" else ())]
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    result = subprocess.run(command, env=env, cwd=out.parent, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f"{checkout}: repvsr-upscale failed: {result.stderr.strip().splitlines()[-1]}")
    stages = next(line for line in result.stdout.splitlines() if line.startswith("stages: "))
    model = next((line for line in result.stdout.splitlines() if line.startswith("model: ")), "model: (not said)")
    wall = float(re.search(r"; ([\d.]+) ms/frame wall", stages).group(1))
    return wall, f"{model} | {stages}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="A real clip; its first --frames frames, scaled to 320x180")
    parser.add_argument("--before", type=Path, required=True, help="The other checkout (its repository root)")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--presets", default="default,medium,ultrafast", help="x264 presets; default: none asked")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE.parent))
    from repvsr_deploy.bench.machine import describe_machine

    checkouts = {"before": args.before.resolve(), "after": HERE.parent}
    presets = args.presets.split(",")
    model: dict = {side: {run: [] for run in MODEL_RUNS} for side in checkouts}
    e2e: dict = {side: {preset: [] for preset in presets} for side in checkouts}
    said: dict = {side: {} for side in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "lr.mp4"
        write_lr_clip(args.video, clip, 320, 180, args.frames)
        for round_ in range(args.rounds):
            for side, checkout in checkouts.items():
                for run, ms in model_times(checkout, clip, Path(tmp) / side).items():
                    model[side][run].append(ms)
                for preset in presets:
                    ms, line = upscale_ms(checkout, clip, Path(tmp) / f"{side}.mkv", preset)
                    e2e[side][preset].append(ms)
                    said[side][preset] = line
                print(f"round {round_ + 1}, {side}: {model[side]} {e2e[side]}", file=sys.stderr)
    best = {
        kind: {s: {k: min(v) for k, v in rows.items()} for s, rows in d.items()}
        for kind, d in (("model", model), ("e2e", e2e))
    }
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": describe_machine(),
        "before": str(args.before),
        "input": f"{args.video.name}: its first {args.frames} frames at 320x180, H.264; to 1280x720",
        "model_ms_per_frame": model,
        "end_to_end_ms_per_frame": e2e,
        "end_to_end_said": said,
        "best": best,
        "after_over_before": {
            "model": {run: best["model"]["after"][run] / best["model"]["before"][run] for run in MODEL_RUNS},
            "end_to_end": {p: best["e2e"]["after"][p] / best["e2e"]["before"][p] for p in presets},
        },
    }
    print(json.dumps({k: result[k] for k in ("best", "after_over_before")}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
