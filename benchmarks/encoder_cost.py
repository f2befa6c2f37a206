"""What repvsr-upscale's encoder costs a 720p frame, per x264 preset: the wall time, the CPU time,
the size and what it keeps of the frames.

HR frames (the bicubic x4 of a real clip's first frames scaled to 320x180; the model is left out)
go through the toolkit's own sink (`video.sink.open_sink`: RGB to YUV 4:2:0, then libx264 at crf 18
with its own threads, as repvsr-upscale encodes). The CPU time (user + system of this process) is
what the encoder takes from the cores the model also needs; the wall time is what it takes alone.
PSNR: the decoded output against the frames given (RGB, 8 bits; the 4:2:0 subsampling included).

    python benchmarks/encoder_cost.py bikes.mp4 --out benchmarks/results/cpu-encoder-cost-720p.json
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from upscale_pipeline import write_lr_clip

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.metrics import psnr
from repvsr_deploy.runtime.bicubic_backend import BicubicBackend
from repvsr_deploy.runtime.session import Session
from repvsr_deploy.upscaling import Encoding
from repvsr_deploy.video.sink import open_sink
from repvsr_deploy.video.source import open_source
from repvsr_deploy.video.upscale import upscale_frames

PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def encode(clip: Path, hr: list, preset: str, out: Path) -> dict:
    with open_source(clip) as source:
        times = [time for _, time in source.frames()]
    with open_source(clip) as source:
        start, cpu = time.perf_counter(), _cpu_seconds()
        with open_sink(out, source, 4, Encoding(crf=18, preset=preset), overwrite=True) as sink:
            for frame, frame_time in zip(hr, times):
                sink.write(frame, frame_time)
        wall, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
    with open_source(out) as written:
        decoded = [rgb for rgb, _ in written.frames()]
    return {
        "preset": preset,
        "wall_ms_per_frame": 1e3 * wall / len(hr),
        "cpu_ms_per_frame": 1e3 * cpu / len(hr),
        "kbytes": out.stat().st_size / 1e3,
        "psnr_db": float(np.mean([psnr(got, given) for got, given in zip(decoded, hr)])),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, help="A real clip")
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "lr.mp4"
        write_lr_clip(args.video, clip, 320, 180, args.frames)
        with open_source(clip) as source, Session(BicubicBackend()) as session:
            hr = list(upscale_frames(session, (rgb for rgb, _ in source.frames())))
        rows = [encode(clip, hr, preset, Path(tmp) / f"{preset}.mkv") for preset in PRESETS]
    for row in rows:
        print(
            f"{row['preset']:<10} {row['wall_ms_per_frame']:6.1f} ms a frame alone, "
            f"{row['cpu_ms_per_frame']:6.1f} ms of CPU, {row['kbytes']:.0f} kB, {row['psnr_db']:.2f} dB"
        )
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": describe_machine(),
        "input": f"{args.video.name}: the bicubic x4 of its first {len(hr)} frames at 320x180, 1280x720 out",
        "encoder": "libx264, crf 18, yuv420p, its own threads",
        "rows": rows,
    }
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
