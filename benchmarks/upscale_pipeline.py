"""The end-to-end upscale rate against the model-only rate of the same session, in one run.

A real clip (or, with `--synthetic`, a moving picture) is scaled to the LR size and written as 8-bit
H.264 (the input); its frames, decoded, are
what the model-only run steps through (in memory, nothing else running). The end-to-end run is
`repvsr-upscale`'s own path (`video.upscale.run`: decoding, the model and encoding in their own
threads) into a Matroska file with the default encoder. The two alternate `--repeats` times; the best
of each is kept (a shared machine only ever slows a run down).

    python benchmarks/upscale_pipeline.py bikes.mp4 --lr-size 320x180 --frames 60 \\
        --out benchmarks/results/cpu-upscale-pipeline-720p.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.demo import CHECKPOINT, GRAPH
from repvsr_deploy.runtime import open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.video.sink import open_sink
from repvsr_deploy.video.source import open_source
from repvsr_deploy.video.upscale import run, upscale_frames


def write_lr_clip(source: Path | None, path: Path, width: int, height: int, frames: int) -> None:
    """The first `frames` frames of `source` (None: a moving picture), scaled to width x height, as
    H.264 at 25 fps."""
    with av.open(str(path), "w") as writing:
        stream = writing.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index, frame in enumerate(_frames(source, width, height, frames)):
            small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="AREA")
            small.pts, small.time_base = index, Fraction(1, 25)
            writing.mux(stream.encode(small))
        writing.mux(stream.encode(None))


def _frames(source: Path | None, width: int, height: int, count: int):
    if source is None:
        for rgb in moving_clip(count, height, width):
            yield av.VideoFrame.from_ndarray(np.ascontiguousarray((rgb.transpose(1, 2, 0) * 255).astype(np.uint8)))
        return
    with av.open(str(source)) as reading:
        for index, frame in enumerate(reading.decode(video=0)):
            if index == count:
                return
            yield frame


def model_only(session, frames: list[np.ndarray]) -> float:
    """ms per frame of the session over frames already in memory, HR frames as uint8 (as encoded)."""
    start = time.perf_counter()
    for _ in upscale_frames(session, frames):
        pass
    return 1e3 * (time.perf_counter() - start) / len(frames)


def end_to_end(session, clip_path: Path, out: Path):
    with open_source(clip_path) as source, open_sink(out, source, session.info.scale, overwrite=True) as sink:
        times = run(source, sink, session, None, lambda: None)
    return 1e3 * times.wall / times.items, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("video", type=Path, nargs="?", help="A real clip (or --synthetic)")
    parser.add_argument("--synthetic", action="store_true", help="A moving picture instead of a clip")
    parser.add_argument("--model", type=Path, help="[default: the demo RepVSR: its graph, or for torch its checkpoint]")
    parser.add_argument("--backend", default="openvino")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lr-size", default="320x180")
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if (args.video is None) == (not args.synthetic):
        parser.error("give a clip or --synthetic")
    model = args.model or (CHECKPOINT if args.backend == "torch" else GRAPH)
    width, height = map(int, args.lr_size.split("x"))
    with tempfile.TemporaryDirectory() as tmp, open_session(model, Backend.named(args.backend, args.device)) as session:
        clip = Path(tmp) / "lr.mp4"
        write_lr_clip(args.video, clip, width, height, args.frames)
        with open_source(clip) as source:
            frames = [rgb for rgb, _ in source.frames()]
        model_only(session, frames[:3])  # warm-up
        model_ms, e2e_ms, stages = [], [], []
        for _ in range(args.repeats):
            model_ms.append(model_only(session, frames))
            ms, times = end_to_end(session, clip, Path(tmp) / "out.mkv")
            e2e_ms.append(ms)
            stages.append(times.describe())
    result = {
        "command": shlex.join(["python", *sys.argv]),
        "machine": describe_machine(),
        "input": f"{args.video.name if args.video else 'a moving picture'}, {len(frames)} frames at {width}x{height}, H.264",
        "model": f"{model.name} on {args.backend} ({args.device})",
        "model_only_ms_per_frame": model_ms,
        "end_to_end_ms_per_frame": e2e_ms,
        "stages": stages,
        "end_to_end_rate_vs_model_only": min(model_ms) / min(e2e_ms),
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
