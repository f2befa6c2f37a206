"""Timing one session over a clip: warm-up steps, then per-frame wall-clock latencies."""

import sys
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from ..runtime.session import Session


@dataclass(frozen=True)
class Timing:
    latencies_s: np.ndarray

    @property
    def fps(self) -> float:
        return len(self.latencies_s) / float(self.latencies_s.sum())

    @property
    def median_ms(self) -> float:
        return float(np.median(self.latencies_s)) * 1e3

    @property
    def p90_ms(self) -> float:
        return float(np.percentile(self.latencies_s, 90)) * 1e3


def time_session(session: Session, clip: np.ndarray, frames: int, warmup: int, label: str) -> Timing:
    """Step through `clip` (cycled) for `warmup` untimed then `frames` timed frames, with a progress bar."""
    latencies = []
    with tqdm(total=warmup + frames, desc=label, unit="frame", file=sys.stderr, leave=False) as bar:
        for i in range(warmup + frames):
            start = time.perf_counter()
            session.step(clip[i % len(clip)])
            elapsed = time.perf_counter() - start
            if i >= warmup:
                latencies.append(elapsed)
            bar.update()
    return Timing(np.array(latencies))
