"""Timing a session over a clip: warm-up frames, then the time from one HR frame to the next."""

import sys
import time
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm


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


def time_session(session, clip: np.ndarray, frames: int, warmup: int, label: str) -> Timing:
    """`warmup` untimed frames, then `frames` timed ones from a fresh state, `clip` cycled. A frame's
    latency is the time since the previous HR frame; for a bidirectional session the first frame
    of each window carries the window's backward sweep."""

    def cycle(n: int):
        return (clip[i % len(clip)] for i in range(n))

    latencies = []
    with tqdm(total=warmup + frames, desc=label, unit="frame", file=sys.stderr, leave=False) as bar:
        if warmup:
            for _ in session.run(cycle(warmup)):
                bar.update()
            session.reset()
        last = time.perf_counter()
        for _ in session.run(cycle(frames)):
            now = time.perf_counter()
            latencies.append(now - last)
            last = now
            bar.update()
    return Timing(np.array(latencies))
