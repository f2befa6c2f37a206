"""Synthetic moving clips for verification and benchmarks: no data set, no downloads, no torch.

A texture of random sinusoids translated by a sub-pixel velocity each frame: smooth, detailed, and
moving exactly (sampled analytically, so the motion needs no interpolation).
"""

import numpy as np


def moving_clip(
    frames: int, height: int, width: int, seed: int = 0, velocity: tuple[float, float] = (0.7, 0.3)
) -> np.ndarray:
    """[frames, 3, height, width] float32 RGB in [0, 1]; `velocity` = (dx, dy) in pixels per frame."""
    rng = np.random.default_rng(seed)
    waves = 12
    freq = rng.uniform(0.02, 0.9, size=(3, waves, 2)) * rng.choice([-1, 1], size=(3, waves, 2))
    phase = rng.uniform(0, 2 * np.pi, size=(3, waves))
    amp = rng.uniform(0.2, 1.0, size=(3, waves)) / waves
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    clip = np.empty((frames, 3, height, width), dtype=np.float32)
    for t in range(frames):
        x, y = xs + velocity[0] * t, ys + velocity[1] * t
        for c in range(3):
            arg = freq[c, :, 0, None, None] * x + freq[c, :, 1, None, None] * y + phase[c, :, None, None]
            clip[t, c] = 0.5 + (amp[c, :, None, None] * np.sin(arg)).sum(axis=0)
    return np.clip(clip, 0.0, 1.0)
