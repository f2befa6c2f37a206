"""Random training clips: a window of frames, a random HR crop, flips, temporal reversal, then the
degradation to LR on the fly (so BD and BI train from the same HR footage)."""

from __future__ import annotations

import numpy as np
import torch

from ..data.degrade import degrade
from ..errors import ReportedError


class ClipSampler:
    def __init__(
        self, sequences: list[np.ndarray], clip_frames: int, patch: int, degradation: str, scale: int = 4, seed: int = 0
    ):
        """`sequences`: uint8 HR clips [T, H, W, 3]; `patch`: the LR patch side (HR: scale x patch)."""
        hr_patch = patch * scale
        usable = [s for s in sequences if len(s) >= clip_frames and min(s.shape[1:3]) >= hr_patch]
        if not usable:
            raise ReportedError(
                f"no training sequence has {clip_frames} frames of at least {hr_patch}x{hr_patch} "
                f"pixels (--clip-frames, --patch)"
            )
        self.sequences, self.clip_frames, self.hr_patch = usable, clip_frames, hr_patch
        self.degradation, self.scale = degradation, scale
        self.rng = np.random.default_rng(seed)

    def clip(self) -> np.ndarray:
        sequence = self.sequences[self.rng.integers(len(self.sequences))]
        t = self.rng.integers(len(sequence) - self.clip_frames + 1)
        y = self.rng.integers(sequence.shape[1] - self.hr_patch + 1)
        x = self.rng.integers(sequence.shape[2] - self.hr_patch + 1)
        clip = sequence[t : t + self.clip_frames, y : y + self.hr_patch, x : x + self.hr_patch]
        if self.rng.random() < 0.5:
            clip = clip[:, :, ::-1]  # horizontal flip
        if self.rng.random() < 0.5:
            clip = clip[:, ::-1]  # vertical flip
        if self.rng.random() < 0.5:
            clip = clip[::-1]  # temporal reversal
        return np.ascontiguousarray(clip)

    def batch(self, size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(LR [B,T,3,p,p], HR [B,T,3,sp,sp]) float in [0, 1]; LR quantized to 8 bits as stored video is."""
        hr = torch.from_numpy(np.stack([self.clip() for _ in range(size)])).permute(0, 1, 4, 2, 3).float() / 255
        lr = torch.round(degrade(hr, self.degradation, self.scale) * 255) / 255
        return lr.to(device), hr.to(device)
