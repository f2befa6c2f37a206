"""PSNR / SSIM of models over a Vid4-style folder: per sequence and on average, bicubic beside.

Layout: DATA/GT/<sequence>/ (frames or a video), with DATA/LR/<sequence>/ where the LR frames are
given; without LR (or with only GT sequences directly under DATA), the LR frames are made from the
GT ones with a degradation (BD by default) and quantized to 8 bits, as stored test sets are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .data.degrade import bicubic_upscale, degrade
from .data.sequences import crop_to_multiple, list_sequences, read_sequence
from .errors import ReportedError
from .metrics import psnr, ssim
from .video.upscale import to_uint8, upscale_frames

BICUBIC = "bicubic"


@dataclass(frozen=True)
class Convention:
    """How a table measures: on RGB or on Y (BT.601), and how many border pixels it leaves out."""

    channel: str = "rgb"
    crop_border: int = 0

    def describe(self) -> str:
        where = "RGB" if self.channel == "rgb" else "the Y channel of BT.601 YCbCr"
        crop = f", {self.crop_border} border pixels cropped" if self.crop_border else ""
        return f"PSNR and SSIM on {where}{crop}, 8-bit frames"


@dataclass
class Score:
    sequence: str
    model: str
    frames: int
    psnr: float
    ssim: float
    channel: str
    crop_border: int


def sequence_pairs(data: Path) -> list[tuple[str, Path, Path | None]]:
    """(name, GT sequence, LR sequence or None) for every sequence of `data`."""
    data = Path(data)
    gt_root = data / "GT" if (data / "GT").is_dir() else data
    lr_root = data / "LR"
    pairs = []
    for gt in list_sequences(gt_root):
        lr = lr_root / gt.name
        pairs.append((gt.stem, gt, lr if lr.exists() else None))
    return pairs


def load_pair(gt_path: Path, lr_path: Path | None, degradation: str, max_frames: int | None, scale: int = 4):
    """(GT uint8 [T,H,W,3], LR uint8 [T,h,w,3]); GT cropped to whole LR pixels."""
    gt = crop_to_multiple(read_sequence(gt_path, max_frames), scale)
    if lr_path is not None:
        lr = read_sequence(lr_path, max_frames)
        if lr.shape[1] * scale != gt.shape[1] or lr.shape[2] * scale != gt.shape[2] or len(lr) != len(gt):
            raise ReportedError(f"{lr_path}: {len(lr)} frames of {lr.shape[2]}x{lr.shape[1]} do not match "
                                f"{gt_path}: {len(gt)} frames of {gt.shape[2]}x{gt.shape[1]} at x{scale}")
        return gt, lr
    return gt, degraded(gt, degradation, scale)


def degraded(gt: np.ndarray, degradation: str, scale: int = 4) -> np.ndarray:
    """uint8 LR frames of uint8 GT frames [T,H,W,3] (H, W multiples of `scale`)."""
    hr = torch.from_numpy(gt).permute(0, 3, 1, 2).double() / 255
    return to_uint8(degrade(hr, degradation, scale).permute(0, 2, 3, 1).numpy())


def demo_pairs(degradation: str) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The demo's held-out clips (photographs the demo model never saw): (name, GT, LR)."""
    from .data.synthetic import HELD_OUT_PHOTOS, photo_clips

    clips = photo_clips(HELD_OUT_PHOTOS, 2, 10, (256, 256), seed=1234)
    names = [f"{name}-{i}" for name in HELD_OUT_PHOTOS for i in range(2)]
    return [(name, gt, degraded(gt, degradation)) for name, gt in zip(names, clips)]


def score(name: str, model: str, output: np.ndarray, gt: np.ndarray, convention: Convention = Convention()) -> Score:
    """Per-frame PSNR and SSIM averaged over the sequence."""
    c = convention
    return Score(name, model, len(gt), float(np.mean([psnr(o, g, c.channel, c.crop_border) for o, g in zip(output, gt)])),
                 float(np.mean([ssim(o, g, c.channel, c.crop_border) for o, g in zip(output, gt)])),
                 c.channel, c.crop_border)


def upscale_sequence(session, lr: np.ndarray) -> np.ndarray:
    """uint8 LR frames [T,h,w,3] through a session -> uint8 HR frames [T,H,W,3]."""
    return np.stack(list(upscale_frames(session, lr)))


def bicubic_sequence(lr: np.ndarray, scale: int = 4) -> np.ndarray:
    up = bicubic_upscale(torch.from_numpy(lr).permute(0, 3, 1, 2).double() / 255, scale)
    return to_uint8(up.permute(0, 2, 3, 1).numpy())


def averages(scores: list[Score]) -> list[Score]:
    """Per model: the mean over sequences (each sequence counts once, as Vid4 tables do)."""
    rows = []
    for model in dict.fromkeys(s.model for s in scores):
        mine = [s for s in scores if s.model == model]
        rows.append(Score("average", model, sum(s.frames for s in mine), float(np.mean([s.psnr for s in mine])),
                          float(np.mean([s.ssim for s in mine])), mine[0].channel, mine[0].crop_border))
    return rows
