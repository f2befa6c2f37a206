"""PSNR / SSIM of models over a Vid4-style folder: per sequence and on average, bicubic beside.

Layout: DATA/GT/<sequence> (a folder of frames, a video file, or a folder holding one video), with
DATA/LR/<sequence> where the LR frames are given; without LR (or with only GT sequences directly
under DATA), the LR frames are made from the GT ones with a degradation (BD by default) and
quantized to 8 bits, as stored test sets are. Frames are read, degraded, upscaled and measured one
at a time: memory does not grow with a sequence's length.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np
import torch

from .data.degrade import degrade
from .data.sequences import crop_to_multiple, frames_8bit, list_sequences, sequence_file
from .errors import ParameterError, ReportedError
from .metrics import psnr, ssim
from .runtime.bicubic_backend import bicubic_upscale
from .runtime.frame_layout import chw, hwc_levels, to_levels
from .video.source import open_source
from .video.upscale import upscale_frames

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


@dataclass(frozen=True)
class Sequence:
    """A test sequence: its GT frame size (cropped to whole LR pixels) and its (GT, LR) uint8 frame
    pairs, read anew on every call."""

    name: str
    width: int
    height: int
    pairs: Callable[[], Iterator[tuple[np.ndarray, np.ndarray]]]


def file_sequences(data: Path, degradation: str, max_frames: int | None, scale: int = 4) -> list[Sequence]:
    """The sequences of a Vid4-style folder (see the module docstring)."""
    data = Path(data)
    gt_root = data / "GT" if (data / "GT").is_dir() else data
    lr_root = data / "LR"
    sequences = []
    for gt in list_sequences(gt_root):
        lr = lr_root / gt.name
        with open_source(sequence_file(gt), 0, max_frames) as source:
            height, width = (side - side % scale for side in (source.height, source.width))
        sequences.append(
            Sequence(
                gt.name if gt.is_dir() else gt.stem,  # a folder's name keeps its dots
                width,
                height,
                lambda gt=gt, lr=lr if lr.exists() else None: frame_pairs(gt, lr, degradation, max_frames, scale),
            )
        )
    return sequences


def frame_pairs(
    gt_path: Path, lr_path: Path | None, degradation: str, max_frames: int | None, scale: int = 4
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(GT, LR) uint8 frames [H, W, 3]: GT cropped to whole LR pixels; LR read, or degraded from GT."""
    gt_frames = (crop_to_multiple(frame, scale) for frame in frames_8bit(gt_path, max_frames))
    if lr_path is None:
        yield from ((gt, degraded(gt, degradation, scale)) for gt in gt_frames)
        return
    for count, (gt, lr) in enumerate(zip_longest(gt_frames, frames_8bit(lr_path, max_frames))):
        if gt is None or lr is None:
            raise ReportedError(
                f"{lr_path} and {gt_path} do not hold as many frames as each other "
                f"({'GT' if gt is None else 'LR'} ends after {count})"
            )
        if lr.shape[0] * scale != gt.shape[0] or lr.shape[1] * scale != gt.shape[1]:
            raise ReportedError(
                f"{lr_path}: frames of {lr.shape[1]}x{lr.shape[0]} do not match {gt_path}'s "
                f"{gt.shape[1]}x{gt.shape[0]} at x{scale}"
            )
        yield gt, lr


def degraded(gt: np.ndarray, degradation: str, scale: int = 4) -> np.ndarray:
    """The uint8 LR frame of a uint8 GT frame [H, W, 3] (sides multiples of `scale`), in float32."""
    hr = torch.from_numpy(np.array(gt)).permute(2, 0, 1)[None].float() / 255  # a copy: decoded frames are read-only
    return to_levels(degrade(hr, degradation, scale)[0].permute(1, 2, 0).numpy())


def demo_sequences(degradation: str) -> list[Sequence]:
    """The demo's held-out clips (photographs the demo model never saw)."""
    from .data.synthetic import HELD_OUT_PHOTOS, photo_clips

    clips = photo_clips(HELD_OUT_PHOTOS, 2, 10, (256, 256), seed=1234)
    names = [f"{name}-{i}" for name in HELD_OUT_PHOTOS for i in range(2)]
    return [
        Sequence(name, 256, 256, lambda gt=gt: ((frame, degraded(frame, degradation)) for frame in gt))
        for name, gt in zip(names, clips)
    ]


def measure(
    sequence: str,
    model: str,
    upscale: Callable[[Iterator[np.ndarray]], Iterable[np.ndarray]],
    pairs: Iterable[tuple[np.ndarray, np.ndarray]],
    convention: Convention = Convention(),
    on_frame: Callable[[int, np.ndarray, np.ndarray, np.ndarray], None] | None = None,
) -> Score:
    """Per-frame PSNR and SSIM of `upscale`'s HR frames (in order, one per LR frame) against the
    GT frames, averaged over the sequence; `on_frame(index, gt, lr, hr)` sees each frame (a report).
    Holds only the frames whose HR frames are still to come."""
    waiting: deque = deque()

    def lr_frames():
        for gt, lr in pairs:
            waiting.append((gt, lr))
            yield lr

    c = convention
    psnrs, ssims = [], []
    for index, hr in enumerate(upscale(lr_frames())):
        gt, lr = waiting.popleft()
        psnrs.append(psnr(hr, gt, c.channel, c.crop_border))
        ssims.append(ssim(hr, gt, c.channel, c.crop_border))
        if on_frame:
            on_frame(index, gt, lr, hr)
    return Score(sequence, model, len(psnrs), float(np.mean(psnrs)), float(np.mean(ssims)), c.channel, c.crop_border)


def evaluate(
    sequences: list[Sequence], sessions: list[tuple[str, object]], convention: Convention = Convention(), report=None
) -> list[Score]:
    """Bicubic and each (label, session) on every sequence, then the averages: `repvsr-eval`'s rows.
    With `report` (`eval_report.Report`), what it shows is kept as the frames pass and written at
    the end. Every sequence is read anew for each model: frames flow through, nothing is kept."""
    models = [BICUBIC, *(label for label, _ in sessions)]
    if report and len(models) < 2:
        raise ParameterError("a report sets a model beside bicubic: give one")
    if len(set(models)) < len(models):
        raise ParameterError(f"two models are named alike ({', '.join(models)}): their rows would mix")
    scores = []
    for sequence in sequences:
        record = report.sequence(sequence.name) if report else None
        runs = [(BICUBIC, bicubic), *((label, through(session)) for label, session in sessions)]
        for number, (label, upscale) in enumerate(runs):
            hook = record.hook(label, first_model=number == 1) if record else None
            scores.append(measure(sequence.name, label, upscale, sequence.pairs(), convention, hook))
        if record:
            record.finish(models)
    if report:
        report.write(models)
    return scores + averages(scores)


def through(session) -> Callable[[Iterator[np.ndarray]], Iterator[np.ndarray]]:
    """uint8 LR frames -> uint8 HR frames, through a session."""
    return lambda frames: upscale_frames(session, frames)


def bicubic(frames: Iterator[np.ndarray], scale: int = 4) -> Iterator[np.ndarray]:
    """uint8 LR frames -> their bicubic x4, uint8 (computed in float64)."""
    for lr in frames:
        up = bicubic_upscale(chw(lr).astype(np.float64) / 255, scale)
        yield hwc_levels(up, np.uint8)


def averages(scores: list[Score]) -> list[Score]:
    """Per model: the mean over sequences (each sequence counts once, as Vid4 tables do)."""
    rows = []
    for model in dict.fromkeys(s.model for s in scores):
        mine = [s for s in scores if s.model == model]
        rows.append(
            Score(
                "average",
                model,
                sum(s.frames for s in mine),
                float(np.mean([s.psnr for s in mine])),
                float(np.mean([s.ssim for s in mine])),
                mine[0].channel,
                mine[0].crop_border,
            )
        )
    return rows
