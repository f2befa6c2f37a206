"""Calibration data as the model really meets it: the fp32 graphs run their recurrence over the
calibration clips, and every run's inputs (the LR frame, the state the previous steps made, a
bidirectional model's feature) are kept per graph, as host arrays NNCF can feed."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..modelinfo import GraphKind
from ..runtime.runner import GraphRunner
from ..runtime.session import session_over
from ..video.upscale import upscale_frames


class Recorder(GraphRunner):
    """A backend that runs as the one it wraps and keeps what each run was fed, by input name."""

    def __init__(self, backend):
        self.backend = backend
        self.name, self.info, self.device = backend.name, backend.info, backend.device
        self.feeds: list[dict[str, np.ndarray]] = []

    def zero_state(self, height: int, width: int) -> list[Any]:
        return self.backend.zero_state(height, width)

    def upload(self, array: np.ndarray) -> Any:
        return self.backend.upload(array)

    def load_state(self, arrays: list[np.ndarray]) -> list[Any]:
        return self.backend.load_state(arrays)

    def to_host(self, value: Any) -> np.ndarray:
        return self.backend.to_host(value)

    def synchronize(self) -> None:
        self.backend.synchronize()

    def _release(self) -> None:
        self.backend.close()

    def _run(self, lr, state: list, feature, download: bool) -> tuple:
        values = [lr, *([feature] if feature is not None else []), *state]
        self.feeds.append({name: self._host(value) for name, value in zip(self.info.input_names, values)})
        return self.backend.run(lr, state, feature, download)

    def _host(self, value) -> np.ndarray:
        return np.array(value if isinstance(value, np.ndarray) else self.backend.to_host(value), np.float32)


def record_feeds(graphs: dict, clips) -> dict[GraphKind, list[dict[str, np.ndarray]]]:
    """{kind: the inputs of every run of that graph} over `clips` (each a fresh recurrence) through
    the fp32 `graphs` ({GraphKind: GraphRunner}, as `open_graphs` gives them)."""
    recorders = {kind: Recorder(backend) for kind, backend in graphs.items()}
    session = session_over(recorders)  # not closed: the graphs stay the caller's
    for clip in clips:
        for _ in upscale_frames(session, (lr for _, lr in clip.pairs())):
            pass
    return {kind: recorder.feeds for kind, recorder in recorders.items()}
