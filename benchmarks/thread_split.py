"""How repvsr-upscale's default model and its encoder share the cores: the demo on OpenVINO with 1
thread and with every core, x264 with its own threads, per preset, end to end.

    python benchmarks/thread_split.py bikes.mp4 --out benchmarks/results/cpu-thread-split-720p.json

The first `--frames` frames of a real clip scaled to 320x180 (H.264), upscaled to 720p through
`repvsr_deploy.upscale` (the pipeline of repvsr-upscale) with the demo on OpenVINO at the precision
it picks for this CPU; each row the best of `--rounds`, the rows taking turns. ms a frame from the
first frame in to the last out (what `--stats` calls wall).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from pathlib import Path

from upscale_pipeline import write_lr_clip

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.runtime import Backend
from repvsr_deploy.upscaling import Encoding, Model, upscale


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="A real clip")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--presets", default="medium,veryfast,superfast,ultrafast")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    rows = {(preset, threads): [] for preset in args.presets.split(",") for threads in sorted({1, cores})}
    described = {}
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "lr.mp4"
        write_lr_clip(args.video, clip, 320, 180, args.frames)
        for _ in range(args.rounds):
            for preset, threads in rows:
                [result] = upscale(
                    clip,
                    Path(tmp) / "out.mkv",
                    model=Model(backend=Backend.OpenVINO(threads=threads)),
                    encoding=Encoding(preset=preset),
                    overwrite=True,
                    on_model=lambda line: described.setdefault("model", line),
                )
                rows[preset, threads].append(1e3 * result.stages.wall / result.stages.items)
                described[f"{preset}, {threads} thread(s)"] = result.stages.describe()
    table = [{"preset": p, "openvino_threads": t, "ms_per_frame": min(v), "runs": v} for (p, t), v in rows.items()]
    for row in table:
        print(
            f"{row['preset']:<10} OpenVINO {row['openvino_threads']} thread(s): {row['ms_per_frame']:6.1f} ms a frame"
        )
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": describe_machine(),
        "input": f"{args.video.name}: its first {args.frames} frames at 320x180, H.264; to 1280x720",
        "model": described.pop("model"),
        "rows": table,
        "stages": described,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
