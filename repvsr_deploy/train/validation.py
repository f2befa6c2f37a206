"""Validation during training: PSNR/SSIM over the validation clips in the paper's convention, through
the torch session (the recurrence as deployed, from a zero state), and one crop per clip to look at."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ..data.sequences import crop_to_multiple
from ..evaluate import Convention, Sequence, bicubic, degraded, measure, through
from ..runtime.choice import Backend
from ..runtime.session import open_session

CROP = 128  # side of the GT window a crop shows (smaller frames: all of it)
CROP_STRIDE = 16


@dataclass
class ValidationSet:
    name: str  # "REDS4", "Vimeo-90K-T (100 of 7,824)", a folder
    sequences: list[Sequence]
    convention: Convention
    degradation: str  # how LR frames are made where none are read
    lr_source: str = ""  # where LR frames are read from, if they are

    def describe(self) -> str:
        lr = f"LR read from {self.lr_source}" if self.lr_source else f"LR {self.degradation}"
        return f"{self.name}: {len(self.sequences)} clips, {self.convention.describe()}; {lr}"


def from_training_sequences(sequences: list, degradation: str, max_frames: int | None, max_clips: int | None) -> list:
    """Evaluation sequences of a data set's own validation clips; with `max_clips`, that many
    taken evenly (Vimeo-90K-T has 7,824)."""
    if max_clips and len(sequences) > max_clips:
        sequences = [sequences[round(i * len(sequences) / max_clips)] for i in range(max_clips)]
    return [_as_sequence(s, degradation, max_frames) for s in sequences]


def _as_sequence(train_sequence, degradation: str, max_frames: int | None) -> Sequence:
    scale = train_sequence.scale
    count = min(len(train_sequence), max_frames or len(train_sequence))

    def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for index in range(count):
            gt = crop_to_multiple(train_sequence.read(index, 1)[0], scale)
            lr = train_sequence.read_lr(index, 1)[0] if train_sequence.lr_store else degraded(gt, degradation, scale)
            yield gt, lr

    height, width = (side - side % scale for side in (train_sequence.height, train_sequence.width))
    return Sequence(train_sequence.name, width, height, pairs)


@dataclass
class Validation:
    psnr: float
    ssim: float
    crops: dict[str, np.ndarray]


def validate(model, validation: ValidationSet, device: str) -> Validation:
    """Mean PSNR/SSIM over the clips (each clip counts once), and each clip's crop of its last frame."""
    scores, crops = [], {}
    training = model.training
    with open_session(model, Backend.Torch(device)) as session:
        for sequence in validation.sequences:
            last: dict = {}

            def remembered(pairs):
                for gt, lr in pairs:
                    last["gt"], last["lr"] = gt, lr
                    yield gt, lr

            def upscale(frames, session=session):
                for hr in through(session)(frames):
                    last["hr"] = hr
                    yield hr

            scores.append(
                measure(sequence.name, model.name, upscale, remembered(sequence.pairs()), validation.convention)
            )
            if "hr" in last:
                crops[sequence.name] = side_by_side(last["lr"], last["hr"], last["gt"])
    model.train(training)
    return Validation(float(np.mean([s.psnr for s in scores])), float(np.mean([s.ssim for s in scores])), crops)


def side_by_side(lr: np.ndarray, hr: np.ndarray, gt: np.ndarray, gap: int = 4) -> np.ndarray:
    """LR bicubic | output | GT over the most detailed window of the GT, at 1:1, white between."""
    up = next(bicubic(iter([lr]), gt.shape[0] // lr.shape[0]))
    y, x, side = detailed_window(gt)
    panels = [image[y : y + side, x : x + side] for image in (up, hr, gt)]
    white = np.full((side, gap, 3), 255, np.uint8)
    return np.concatenate([panels[0], white, panels[1], white, panels[2]], axis=1)


def detailed_window(frame: np.ndarray, side: int = CROP, stride: int = CROP_STRIDE) -> tuple[int, int, int]:
    """(y, x, side) of the square window with the most detail: the largest sum of luma gradient
    magnitudes among windows on a `stride` grid (the first such window where several tie)."""
    side = min(side, *frame.shape[:2])
    luma = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    gradient = np.zeros_like(luma)
    gradient[:, 1:] += np.abs(np.diff(luma, axis=1))
    gradient[1:, :] += np.abs(np.diff(luma, axis=0))
    summed = np.pad(gradient.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(0, frame.shape[0] - side + 1, stride)
    xs = np.arange(0, frame.shape[1] - side + 1, stride)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    totals = summed[yy + side, xx + side] - summed[yy, xx + side] - summed[yy + side, xx] + summed[yy, xx]
    best = np.unravel_index(np.argmax(totals), totals.shape)
    return int(ys[best[0]]), int(xs[best[1]]), side
