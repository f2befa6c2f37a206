"""Frames between the layout pictures are kept in (RGB [H, W, 3], integer levels: decoded video,
images, what a Triton client sends) and the one sessions take and give (RGB [3, H, W] in, levels
kept for the session to scale; [1, 3, sH, sW] out, float in [0, 1] or a graph's levels): written
once, for every path (files, chunks, serving, evaluation)."""

from __future__ import annotations

import numpy as np


def chw(rgb: np.ndarray) -> np.ndarray:
    """[H, W, 3] -> [3, H, W], as it is (a view): integer levels stay levels."""
    return rgb.transpose(2, 0, 1)


def hwc_levels(frame: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """A session's frame ([3, H, W] or [1, 3, H, W]) -> [H, W, 3] levels of `dtype` (`to_levels`)."""
    return to_levels((frame[0] if frame.ndim == 4 else frame).transpose(1, 2, 0), dtype)


def to_levels(frames: np.ndarray, dtype=np.uint8) -> np.ndarray:
    """Float frames in [0, 1], or the levels a graph with integer frames gives -> integer levels of
    `dtype` (uint8, uint16), rounded half up."""
    top = np.iinfo(dtype).max
    if frames.dtype.kind in "ui":
        if frames.dtype == np.dtype(dtype):
            return np.ascontiguousarray(frames)
        frames = frames / np.float32(np.iinfo(frames.dtype).max)
    return np.ascontiguousarray((np.clip(frames, 0, 1) * top + 0.5).astype(dtype))
