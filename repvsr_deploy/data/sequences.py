"""Sequences on disk: a folder of frames (PNG/JPG), a video file, or a folder holding one video;
their frames as RGB uint8."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import ReportedError
from ..video.encoders import CONTAINERS
from ..video.source import IMAGE_SUFFIXES, open_source

VIDEO_SUFFIXES = tuple(CONTAINERS)


def frames_8bit(path: Path, max_frames: int | None = None, start: int = 0) -> Iterator[np.ndarray]:
    """uint8 frames from frame `start`, one at a time: training and the metrics work in 8-bit levels
    (as the papers do); 16-bit images and 10-bit video are rounded to them."""
    with open_source(sequence_file(Path(path)), start, max_frames) as source:
        for frame, _ in source.frames():
            yield to_8bit(frame)


def to_8bit(frame: np.ndarray) -> np.ndarray:
    """uint8 as it is; uint16 levels rounded to the nearest of 256 (65535 / 255 = 257)."""
    if frame.dtype == np.uint8:
        return frame
    return ((frame.astype(np.uint32) + 128) // 257).astype(np.uint8)


def list_sequences(root: Path) -> list[Path]:
    """The sequences under `root` by name: its subfolders holding images or one video, and its
    video files; hidden ones (a writer's staging, `.name.staging-*`) left out."""
    root = Path(root)
    if root.is_file():
        raise ReportedError(
            f"{root}: a file; give the folder that holds it (its sequences: videos or folders of frames)"
        )
    if not root.is_dir():
        raise ReportedError(f"{root}: no such folder")
    found = sorted(
        p
        for p in root.iterdir()
        if not p.name.startswith(".")
        and ((p.is_dir() and (_has_images(p) or _videos(p))) or p.suffix.lower() in VIDEO_SUFFIXES)
    )
    if not found:
        raise ReportedError(f"{root}: no sequences (folders of images or of one video, or video files) in it")
    return found


def sequence_file(path: Path) -> Path:
    """What holds a sequence's frames: a folder of images or a video file as it is; for a folder
    holding no images but one video, that video."""
    if path.is_dir() and not _has_images(path):
        videos = _videos(path)
        if len(videos) > 1:
            raise ReportedError(
                f"{path}: holds {len(videos)} videos ({', '.join(v.name for v in videos[:3])}); "
                "a sequence's folder holds frames or one video"
            )
        if videos:
            return videos[0]
    return path


def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".") for p in folder.iterdir())


def _videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and not p.name.startswith("."))


def crop_to_multiple(frame: np.ndarray, multiple: int = 4) -> np.ndarray:
    """A GT frame [H, W, 3] cropped (bottom, right) so that its LR frame has whole pixels."""
    height, width = (size - size % multiple for size in frame.shape[:2])
    return frame[:height, :width]
