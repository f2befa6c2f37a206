"""What a seam of `repvsr-upscale --chunks` costs, by the warm-up W: the frames after each seam of a real
clip against the sequential run's and against the ground truth.

The clip's frames are the ground truth, BD-degraded x4 (the papers' setting) into the LR input. The
sequential run steps the model through all of them. At every seam s (the clip's own keyframes, where
the chunked upscale cuts) a segment run starts from a zero state at s - W, and its frames s .. s+9
are compared: PSNR against the sequential run's frames, and the PSNR loss against the ground truth
(sequential minus segment; 0 is a seam that costs nothing). Model and backend: the demo RepVSR.

    python benchmarks/chunk_seams.py bikes.mp4 --frames 250 --out benchmarks/results/cpu-chunk-seams.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import av
import numpy as np
import torch

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.data.degrade import degrade
from repvsr_deploy.demo import GRAPH
from repvsr_deploy.metrics import psnr
from repvsr_deploy.runtime import open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.frame_layout import hwc_levels

AFTER = 10  # frames compared after each seam
WARMUPS = (0, 4, 8, 16)
IDENTICAL_DB = 99.0  # what an identical frame counts as in the means


def read_clip(path: Path, count: int) -> tuple[np.ndarray, list[int]]:
    """RGB uint8 frames [T, H, W, 3] (sides cropped to multiples of 4) and the keyframes' indexes."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keyed = sorted((p.pts, p.is_keyframe) for p in container.demux(stream) if p.size)[:count]
        container.seek(0)
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(count), container.decode(stream))]
    clip = np.stack(frames)
    height, width = clip.shape[1] // 4 * 4, clip.shape[2] // 4 * 4
    return clip[:, :height, :width], [k for k, (_, key) in enumerate(keyed) if key and k]


def run(session, lr: np.ndarray) -> list[np.ndarray]:
    session.reset()
    return [hwc_levels(hr) for hr in session.run(iter(lr))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clip", type=Path)
    parser.add_argument("--frames", type=int, default=250)
    parser.add_argument("--backend", default="onnxruntime")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    try:
        gt, keyframes = read_clip(args.clip, args.frames)
    except (av.FFmpegError, ValueError) as exc:  # missing, unreadable, or no frame
        sys.exit(f"chunk_seams.py: {args.clip}: not a readable video ({exc})")
    seams = [k for k in keyframes if k + AFTER <= len(gt) and k >= max(WARMUPS)]
    hr = torch.from_numpy(gt).permute(0, 3, 1, 2).float() / 255
    lr = (degrade(hr, "bd").clamp(0, 1) * 255 + 0.5).to(torch.uint8).numpy()  # 8-bit LR, as decoded video
    with open_session(GRAPH, Backend.named(args.backend)) as session:
        sequential = run(session, lr)
        rows = []
        for warmup in WARMUPS:
            to_sequential, loss = [], []
            for seam in seams:
                segment = run(session, lr[seam - warmup : seam + AFTER])[warmup:]
                for k, frame in enumerate(segment):
                    same = np.array_equal(frame, sequential[seam + k])
                    to_sequential.append(IDENTICAL_DB if same else min(IDENTICAL_DB, psnr(frame, sequential[seam + k])))
                    loss.append(psnr(sequential[seam + k], gt[seam + k]) - psnr(frame, gt[seam + k]))
            rows.append(
                {
                    "warmup": warmup,
                    "identical_frames": f"{sum(p == IDENTICAL_DB for p in to_sequential)}/{len(to_sequential)}",
                    "psnr_vs_sequential_db": round(float(np.mean(to_sequential)), 2),
                    "worst_frame_vs_sequential_db": round(float(np.min(to_sequential)), 2),
                    "loss_vs_gt_db": round(float(np.mean(loss)), 4),
                    "worst_frame_loss_vs_gt_db": round(float(np.max(loss)), 4),
                }
            )
            print(rows[-1], flush=True)
    result = {
        "command": shlex.join([Path(sys.argv[0]).as_posix(), *sys.argv[1:]]),
        "clip": args.clip.name,
        "frames": len(gt),
        "hr_size": f"{gt.shape[2]}x{gt.shape[1]}",
        "seams": seams,
        "frames_after_each_seam": AFTER,
        "model": GRAPH.name,
        "backend": args.backend,
        "machine": describe_machine(),
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
