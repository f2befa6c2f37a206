"""Sequences on disk: a folder of frames (PNG/JPG), or a video file, as RGB uint8 [T, H, W, 3]."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ReportedError
from ..video.source import IMAGE_SUFFIXES, open_source

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".webm", ".avi")


def read_sequence(path: Path, max_frames: int | None = None) -> np.ndarray:
    """uint8 frames: training and the metrics work in 8-bit levels (as the papers do); 16-bit
    images are rounded to them."""
    source = open_source(Path(path), 0, max_frames)
    return np.stack([to_8bit(frame) for frame in source.frames()])


def to_8bit(frame: np.ndarray) -> np.ndarray:
    """uint8 as it is; uint16 levels rounded to the nearest of 256 (65535 / 255 = 257)."""
    if frame.dtype == np.uint8:
        return frame
    return ((frame.astype(np.uint32) + 128) // 257).astype(np.uint8)


def list_sequences(root: Path) -> list[Path]:
    """The sequences under `root`: its subfolders holding images, and its video files, by name;
    hidden ones (a writer's staging, `.name.staging-*`) left out."""
    root = Path(root)
    if not root.is_dir():
        raise ReportedError(f"{root}: no such folder")
    found = sorted(p for p in root.iterdir() if not p.name.startswith(".")
                   and ((p.is_dir() and _has_images(p)) or p.suffix.lower() in VIDEO_SUFFIXES))
    if not found:
        raise ReportedError(f"{root}: no sequences (folders of images, or video files) in it")
    return found


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in folder.iterdir())


def crop_to_multiple(frames: np.ndarray, multiple: int = 4) -> np.ndarray:
    """GT frames cropped (bottom, right) so that the LR frames have whole pixels."""
    height, width = (size - size % multiple for size in frames.shape[1:3])
    return frames[:, :height, :width]
