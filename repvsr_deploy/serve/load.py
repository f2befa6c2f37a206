"""Load on a served model: S streams at once, each a sequence of its own synthetic frames; the rate,
each frame's latency, and each stream's output against the same frames run locally (a server that
mixed two streams' states or frames would answer otherwise)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np

from ..clips import moving_clip
from ..errors import ReportedError
from ..runtime.frame_layout import to_levels
from .client import RemoteStream


@dataclass(frozen=True)
class LoadReport:
    streams: int
    frames: int  # each stream's
    seconds: float
    latencies: np.ndarray  # seconds, every frame of every stream
    max_difference: int  # levels, over every frame of every stream, from the local runs

    @property
    def fps(self) -> float:
        return self.streams * self.frames / self.seconds

    def lines(self) -> list[str]:
        p50, p99 = (np.percentile(self.latencies, q) * 1000 for q in (50, 99))
        return [
            f"{self.streams} streams x {self.frames} frames in {self.seconds:.2f} s: {self.fps:.1f} frames/s "
            f"({self.fps / self.streams:.1f} per stream)",
            f"latency per frame: p50 {p50:.1f} ms, p99 {p99:.1f} ms",
            f"each stream against its local run: at most {self.max_difference} level(s) apart",
        ]


def stream_frames(stream: int, frames: int, size: tuple[int, int]) -> np.ndarray:
    """Stream `stream`'s frames: a clip of its own ([frames, 3, H, W] uint8)."""
    clip = moving_clip(frames, *size, seed=1000 + stream, velocity=(0.4 + 0.1 * stream, -0.3))
    return to_levels(clip, np.uint8)


def load(url: str, name: str, streams: int, frames: int, size: tuple[int, int]) -> tuple[LoadReport, list]:
    """Every stream sent at once, each by a thread of its own; (the report less the comparison,
    each stream's HR frames)."""
    clips = [stream_frames(k, frames, size) for k in range(streams)]
    outputs: list = [None] * streams
    latencies: list = [None] * streams
    errors: list[BaseException] = []
    remotes = [RemoteStream(url, name) for _ in range(streams)]
    try:

        def send(k: int) -> None:
            try:
                outputs[k] = np.concatenate(list(remotes[k].run(iter(clips[k]))))
                latencies[k] = remotes[k].latencies
            except BaseException as exc:  # reported by the caller's thread
                errors.append(exc)

        threads = [threading.Thread(target=send, args=(k,)) for k in range(streams)]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
    finally:
        for remote in remotes:
            remote.close()
    if errors:
        raise errors[0]
    report = LoadReport(streams, frames, seconds, np.concatenate(latencies), -1)
    return report, outputs


def compare_with_local(report: LoadReport, outputs: list, session_factory, size) -> LoadReport:
    """The report with the largest difference of any served frame from the local run of its stream."""
    worst = 0
    for k, served in enumerate(outputs):
        with session_factory() as session:
            local = np.concatenate(
                [to_levels(hr, np.uint8) for hr in session.run(iter(stream_frames(k, report.frames, size)))]
            )
        if local.shape != served.shape:
            raise ReportedError(f"stream {k}: the server answered {served.shape}, the local run {local.shape}")
        worst = max(worst, int(np.abs(local.astype(np.int16) - served.astype(np.int16)).max()))
    return LoadReport(report.streams, report.frames, report.seconds, report.latencies, worst)
