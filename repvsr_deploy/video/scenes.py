"""Scene cuts: where a recurrent model's state carries the wrong scene forward and should be reset."""

import numpy as np


class SceneCuts:
    """A frame starts a new scene where it differs from the previous one by more than `threshold`:
    the mean absolute difference of both in grey, reduced to about 64 pixels wide, in [0, 1]."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def is_cut(self, rgb: np.ndarray) -> bool:
        step = max(1, rgb.shape[1] // 64)
        grey = rgb[::step, ::step].mean(axis=-1, dtype=np.float32) / np.iinfo(rgb.dtype).max  # uint8 or uint16
        cut = self._previous is not None and float(np.abs(grey - self._previous).mean()) > self.threshold
        self._previous = grey
        return cut
