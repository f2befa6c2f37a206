"""The footage a quantization calibrates on and is checked on: clips of (GT, LR) uint8 frame pairs,
the LR frames made from the footage's frames as repvsr-eval makes them (BD by default), so that the
check can measure PSNR against the footage itself.

Calibration and validation never share a frame: without a validation clip of its own, the last
frames of the last calibration source are held out for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..data.sequences import crop_to_multiple, frames_8bit, sequence_file
from ..errors import ReportedError, parameter
from ..evaluate import Sequence, degraded
from ..video.source import open_source


@dataclass(frozen=True)
class Clip(Sequence):
    """A Sequence that knows how many frames it gives (its name says which of its source's)."""

    frames: int = 0


@dataclass(frozen=True)
class Footage:
    calibration: list[Clip]  # each a clip of its own: the recurrence starts afresh on each
    validation: Clip
    held_out: bool  # the validation clip is the calibration footage's last frames

    @property
    def calibration_frames(self) -> int:
        return sum(clip.frames for clip in self.calibration)


def footage(
    calib: list[Path], val: Path | None, calib_frames: int, val_frames: int, degradation: str, scale: int
) -> Footage:
    """Calibration clips from `calib` (in order, `calib_frames` frames in all) and a validation clip
    of `val_frames` frames: from `val`, else held out from the end of the last calibration source."""
    if val is not None and Path(val).resolve() in {Path(p).resolve() for p in calib}:
        raise ReportedError(
            f"{parameter('val')} {val} is also a {parameter('calib')} source: the check must be on frames never calibrated on"
        )
    counts = {path: _frame_count(path) for path in [*calib, *([val] if val else [])]}
    if val is not None:
        _require(val, counts[val], val_frames, f"the check runs over {parameter('val_frames')}")
        validation, held_out, budgets = _clip(val, 0, val_frames, degradation, scale), False, dict(counts)
    else:
        last = calib[-1]
        _require(
            last,
            counts[last],
            val_frames + 1,
            f"{parameter('val_frames')} held out for the check and one to calibrate on; or give {parameter('val')}",
        )
        start = counts[last] - val_frames
        validation, held_out = _clip(last, start, val_frames, degradation, scale), True
        budgets = {**counts, last: start}
    clips, left = [], calib_frames
    for path in calib:
        take = min(left, budgets[path])
        if take > 0:
            clips.append(_clip(path, 0, take, degradation, scale))
            left -= take
    return Footage(clips, validation, held_out)


def _frame_count(path: Path) -> int:
    """Frames in a video file or image folder, as its index declares them (checked when read)."""
    with open_source(sequence_file(Path(path))) as source:
        if source.frame_count is None:
            raise ReportedError(f"{path}: its frame count is not declared; re-mux it (e.g. to .mp4 or .mkv)")
        return source.frame_count


def _require(path: Path, count: int, needed: int, why: str) -> None:
    if count < needed:
        raise ReportedError(f"{path}: {count} frames; at least {needed} are needed ({why})")


def _clip(path: Path, start: int, frames: int, degradation: str, scale: int) -> Clip:
    with open_source(sequence_file(Path(path))) as source:
        height, width = (side - side % scale for side in (source.height, source.width))
    name = f"{Path(path).name}[{start}:{start + frames}]"

    def pairs():
        for gt in frames_8bit(path, frames, start):
            gt = crop_to_multiple(gt, scale)
            yield gt, degraded(gt, degradation, scale)

    return Clip(name, width, height, pairs, frames)


def demo_footage(calib_frames: int = 100, val_frames: int = 100, size: tuple[int, int] = (256, 256)) -> Footage:
    """Footage that needs no files: scikit-image's photographs seen through a moving camera (the
    demo's data); calibration on the demo's training photographs, the check on a held-out one."""
    from ..data.synthetic import HELD_OUT_PHOTOS, TRAIN_PHOTOS, photo_clips

    per_photo = -(-calib_frames // len(TRAIN_PHOTOS))
    calibration = [
        _photo_clip(f"{name} (moving camera)", gt)
        for name, gt in zip(TRAIN_PHOTOS, photo_clips(TRAIN_PHOTOS, 1, per_photo, size, seed=0))
    ]
    validation = _photo_clip(
        f"{HELD_OUT_PHOTOS[0]} (moving camera)", photo_clips(HELD_OUT_PHOTOS[:1], 1, val_frames, size, seed=1)[0]
    )
    return Footage(calibration, validation, held_out=False)


def _photo_clip(name: str, gt_frames) -> Clip:
    height, width = gt_frames.shape[1:3]
    return Clip(name, width, height, lambda: ((gt, degraded(gt, "bd")) for gt in gt_frames), frames=len(gt_frames))
