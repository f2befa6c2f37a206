"""Writes the demo model's training data: a folder of sequences (PNG frames) that `repvsr-train`
reads like any other, made from photographs seen through a synthetic camera, since no video data set
can be downloaded where the demo is trained.

    apt-get download plasma-workspace-wallpapers && dpkg -x plasma-workspace-wallpapers_*.deb kde
    python benchmarks/demo_data.py --kde kde/usr/share/wallpapers --out demo-data

Photographs (the licences the demo's model card repeats):
- scikit-image's bundled data: astronaut, chelsea, rocket, hubble_deep_field, immunohistochemistry
  (colour) and brick, grass, gravel, camera (gray; public domain or CC0 as scikit-image states);
- matplotlib's sample data: grace_hopper.jpg (a US Navy photograph, public domain);
- KDE Plasma's wallpapers that are photographs (LGPL-3): BytheWater, ColdRipple, ColorfulCups,
  DarkestHour, EveningGlow, FallenLeaf, Grey, Kite, OneStandsOut, Path, summer_1am.
scikit-image's coffee and retina are left out: they are the demo's validation clips (`--val-out`).

Each clip: the photograph shrunk by a random factor in [1, 3] (Lanczos; a large photograph's pixels
are softer than a small one's), never below what the camera's path needs (a magnified photograph
would be a blurred HR frame), a window moving over it along a smooth path (`camera_clip`: a pan of
up to 2 pixels and a zoom of up to 1 % a frame), and in half of the clips a second photograph's
patch in a soft-edged ellipse moving across it on a path of its own (independent motion, occlusion).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from repvsr_deploy.data.synthetic import HELD_OUT_PHOTOS, camera_clip, photo, photo_clips

SKIMAGE = (
    "astronaut",
    "chelsea",
    "rocket",
    "hubble_deep_field",
    "immunohistochemistry",
    "brick",
    "grass",
    "gravel",
    "camera",
)
KDE_PHOTOS = (
    "BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow", "FallenLeaf", "Grey", "Kite",
    "OneStandsOut", "Path", "summer_1am",
)  # fmt: skip


def photographs(kde: Path) -> dict[str, np.ndarray]:
    import matplotlib.cbook

    found = {name: photo(name) for name in SKIMAGE}
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        found["grace_hopper"] = np.asarray(Image.open(file).convert("RGB"))
    for name in KDE_PHOTOS:
        images = sorted((kde / name / "contents" / "images").iterdir(), key=lambda p: p.stat().st_size)
        found[name] = np.asarray(Image.open(images[-1]).convert("RGB"))  # the largest
    return found


def shrunk(image: np.ndarray, factor: float, frames: int, side: int) -> np.ndarray:
    """`image` made `factor` times smaller, or as much smaller as still fills a camera path of
    `frames` frames of `side` pixels (camera_clip's margins), or as it is."""
    height, width = image.shape[:2]
    needed = side + 2 * (2.0 * frames + side * 0.2)  # camera_clip's window and margins at max_pan 2
    factor = max(1.0, min(factor, min(height, width) / needed))
    size = (max(1, round(width / factor)), max(1, round(height / factor)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.LANCZOS))


def with_moving_patch(clip: np.ndarray, patch_clip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`patch_clip`'s frames in an ellipse with a soft edge (3 px), moving at a constant velocity of
    up to 3 pixels a frame across `clip`."""
    frames, height, width = clip.shape[:3]
    side = patch_clip.shape[1]
    yy, xx = np.mgrid[:side, :side] - (side - 1) / 2
    radius_y, radius_x = rng.uniform(0.3, 0.5, 2) * side
    distance = np.sqrt((yy / radius_y) ** 2 + (xx / radius_x) ** 2)
    alpha = np.clip((1 - distance) * min(radius_y, radius_x) / 3, 0, 1)[..., None]
    start = rng.uniform([0, 0], [height - side, width - side])
    velocity = rng.uniform(-3, 3, 2)
    out = clip.astype(np.float64)
    for t in range(frames):
        y, x = np.clip(np.round(start + velocity * t).astype(int), 0, [height - side, width - side])
        region = out[t, y : y + side, x : x + side]
        out[t, y : y + side, x : x + side] = region * (1 - alpha) + patch_clip[t] * alpha
    return np.round(out).astype(np.uint8)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kde", type=Path, required=True, help="KDE Plasma's wallpapers folder (usr/share/wallpapers)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--clips", type=int, default=12, help="per photograph")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=160, help="frame side, HR pixels")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val-out", type=Path, help="Also write the validation clips here (coffee, retina)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    photos = photographs(args.kde)
    names = sorted(photos)
    args.out.mkdir(parents=True, exist_ok=False)
    for name in names:
        for index in range(args.clips):
            source = shrunk(photos[name], rng.uniform(1, 3), args.frames, args.size)
            clip = camera_clip(source, args.frames, (args.size, args.size), rng)
            if rng.random() < 0.5:
                other = photos[names[rng.integers(len(names))]]
                side = int(rng.integers(args.size // 4, args.size // 2))
                moving = camera_clip(
                    shrunk(other, rng.uniform(1, 3), args.frames, side), args.frames, (side, side), rng
                )
                clip = with_moving_patch(clip, moving, rng)
            folder = args.out / f"{name}-{index:02d}"
            folder.mkdir()
            for number, frame in enumerate(clip):
                Image.fromarray(frame).save(folder / f"{number:04d}.png")
        print(f"{name}: {args.clips} clips", flush=True)
    if args.val_out:
        write_validation(args.val_out)
    return 0


def write_validation(out: Path) -> None:
    """The demo's held-out clips, as `repvsr-eval --demo-data` makes them, as a folder of sequences."""
    clips = photo_clips(HELD_OUT_PHOTOS, 2, 10, (256, 256), seed=1234)
    names = [f"{name}-{i}" for name in HELD_OUT_PHOTOS for i in range(2)]
    for name, clip in zip(names, clips):
        (out / name).mkdir(parents=True)
        for number, frame in enumerate(clip):
            Image.fromarray(frame).save(out / name / f"{number:04d}.png")


if __name__ == "__main__":
    sys.exit(main())
