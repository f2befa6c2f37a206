"""Training speed of the papers' recipes at their patch, clip length and batch on this machine: the
whole loop as `repvsr-train` runs it (clips made by loader workers from PNG frames on disk, the step,
no validation), per model and precision, and the hours the recipe's iteration count takes at that rate.

    python benchmarks/train_speed.py --out benchmarks/results/cpu-train-speed.json
    python benchmarks/train_speed.py --device cuda --precision fp32,bf16 --out train-speed.json
    python benchmarks/train_speed.py --quick --out x.json   # tiny clips: checks the script runs

The frames: synthetic camera clips over scikit-image's photographs (16 frames of 640x360 per
sequence), written as PNG once into a scratch folder. Per run: `--warmup` iterations left out, then
the median seconds per iteration of `--iterations`, and the share of it spent waiting for clips.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.data.synthetic import TRAIN_PHOTOS, camera_clip, photo
from repvsr_deploy.train.recipes import recipe_for
from repvsr_deploy.train.run import TrainOptions, train_model

PAPER = {"repvsr": "RepVSR", "ksnet-uni": "KSNet-uni"}


def write_frames(root: Path, sequences: int, frames: int, size: tuple[int, int]) -> Path:
    rng = np.random.default_rng(0)
    for index in range(sequences):
        clip = camera_clip(photo(TRAIN_PHOTOS[index % len(TRAIN_PHOTOS)]), frames, size, rng)
        folder = root / f"{index:03d}"
        folder.mkdir(parents=True)
        for number, frame in enumerate(clip):
            Image.fromarray(frame).save(folder / f"{number:08d}.png", compress_level=1)
    return root


def measure(model: str, precision: str, args, data: Path, scratch: Path) -> dict:
    recipe = recipe_for(model)
    patch, clip = (40, 2) if args.quick else (recipe.patch, recipe.clip_frames)
    times, waits = [], []

    def report(progress) -> None:
        times.append(progress.seconds)
        waits.append(progress.data_wait)

    options = TrainOptions(
        out=scratch / f"{model}-{precision}.pth",
        data=(data,),
        model=model,
        iterations=args.warmup + args.iterations,
        batch=recipe.batch,
        clip_frames=clip,
        patch=patch,
        precision=precision,
        workers=args.workers,
        val_every=0,
        save_every=10**9,
        device=args.device,
    )
    train_model(options, report=report)
    measured, waited = times[args.warmup :], waits[args.warmup :]
    seconds = float(np.median(measured))
    return {
        "model": model,
        "precision": precision,
        "patch": patch,
        "clip_frames": clip,
        "batch": recipe.batch,
        "seconds_per_iteration": round(seconds, 4),
        "iterations_per_s": round(1 / seconds, 4),
        "data_wait_share": round(float(np.sum(waited) / np.sum(measured)), 3),
        "per_iteration_s": [round(t, 4) for t in measured],
        "recipe_iterations": recipe.iterations,
        "projected_hours": round(recipe.iterations * seconds / 3600, 1),
    }


def markdown(result: dict) -> str:
    lines = [
        f"# Training speed: {result['machine']['gpu'] or result['machine']['cpu']}",
        "",
        f"`{result['command']}`",
        "",
        "| model | precision | LR patch | clip | batch | s/iteration | iterations/s | waiting for clips | recipe | hours |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        lines.append(
            f"| {PAPER.get(r['model'], r['model'])} | {r['precision']} | {r['patch']} | {r['clip_frames']} | "
            f"{r['batch']} | {r['seconds_per_iteration']:.3f} | {r['iterations_per_s']:.3f} | "
            f"{100 * r['data_wait_share']:.0f} % | {r['recipe_iterations']:,} | {r['projected_hours']:,} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="JSON; a Markdown table beside it (.md)")
    parser.add_argument("--model", default="repvsr,ksnet-uni")
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--iterations", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--workers", type=int, help="[default: repvsr-train's]")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory(prefix="repvsr-train-speed-") as scratch:
        size = (160, 160) if args.quick else (360, 640)
        data = write_frames(Path(scratch) / "data", 2 if args.quick else 4, 16, size)
        rows = [
            measure(model, precision, args, data, Path(scratch))
            for model in args.model.split(",")
            for precision in args.precision.split(",")
        ]
    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "machine": describe_machine(),
        "device": args.device,
        "threads": torch.get_num_threads(),
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
