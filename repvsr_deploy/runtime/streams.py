"""Many independent streams of one streaming model, stepped as one batch of its step graph.

Streams join (their state zeroed) and leave at any time; one `step` runs every stream given a frame
as one batch, each on its own state slot, and gives each its HR frame. While the same streams step
together the batched state stays where the backend keeps it (a GPU); when the set changes, the state
is regrouped through the host. Frames of one batch are of one size. On the CPU a batch of N streams
gives what N sessions give (the test holds every streaming registry model to it).
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from ..errors import ReportedError
from ..modelinfo import GraphKind
from .backends import close_all, open_graphs, runs_streams
from .choice import AnyBackend, Backend
from .runner import GraphRunner
from .session import FrameFormat, OwnsBackends


class StreamBatch(OwnsBackends):
    """Streams of one streaming model (a step graph whose batch dimension is dynamic) in one batch."""

    def __init__(self, backend: GraphRunner):
        info = backend.info
        if info.graph is not GraphKind.STEP or info.delay:
            backend.close()
            raise ReportedError(f"model '{info.model}' does not stream frame by frame: it cannot batch streams")
        if not runs_streams(backend):
            backend.close()
            raise ReportedError(
                f"the {backend.name} backend runs one stream at a time"
                if info.streams
                else f"this {info.model} graph takes one stream (exported before step graphs took a batch): re-export it"
            )
        self.backend = backend
        self.backend.batch_varies = True  # streams join and leave
        self.backends = (backend,)
        self.info = info
        self.device = backend.device
        self._ids = itertools.count()
        self.reset()

    def reset(self) -> None:
        """Every stream gone; the next frames may be of another size."""
        self._frames = FrameFormat(self.info)
        self._host: dict[int, list[np.ndarray] | None] = {}  # each member's state on the host; None: zero
        self._group: tuple[int, ...] = ()  # the streams whose state is batched in `_state`, in order
        self._state: list[Any] = []

    @property
    def streams(self) -> list[int]:
        return sorted(self._host.keys() | set(self._group))

    def join(self) -> int:
        """A new stream, its state zeroed; returns its id."""
        self._check_open()
        stream = next(self._ids)
        self._host[stream] = None
        return stream

    def leave(self, stream: int) -> None:
        """The stream's slot freed; the others keep their state."""
        self._check_member(stream)
        if stream in self._group:
            self._ungroup()
        del self._host[stream]

    def step(self, frames: dict[int, Any]) -> dict[int, np.ndarray]:
        """{stream: RGB frame} (the frame contract of `Session.step`) -> {stream: HR frame [1,3,sH,sW]}."""
        self._check_open()
        if not frames:
            return {}
        group = tuple(sorted(frames))
        for stream in group:
            self._check_member(stream)
        lr = np.concatenate([self._frames.prepare(frames[stream]) for stream in group])
        if group != self._group:
            self._regroup(group)
        hr, self._state = self.backend.run(lr, self._state)
        return {stream: self._frames.crop(hr[k : k + 1]) for k, stream in enumerate(group)}

    def _check_member(self, stream: int) -> None:
        if stream not in self._host and stream not in self._group:
            raise ReportedError(f"no stream {stream} in this batch (its streams: {self.streams or 'none'})")

    def _ungroup(self) -> None:
        """The batched state split back to each stream's on the host."""
        host = [self.backend.to_host(value) for value in self._state]
        for k, stream in enumerate(self._group):
            self._host[stream] = [np.array(array[k : k + 1]) for array in host]
        self._group, self._state = (), []

    def _regroup(self, group: tuple[int, ...]) -> None:
        if self._group:
            self._ungroup()
        height, width = self._frames.padded_hw
        slots = [self._host.pop(stream) for stream in group]
        self._state = self.backend.load_state(
            [
                np.concatenate(
                    [slot[j] if slot is not None else np.zeros(spec.shape(height, width), np.float32) for slot in slots]
                )
                for j, spec in enumerate(self.info.states)
            ]
        )
        self._group = group


def open_streams(source, backend: AnyBackend = Backend.Auto()) -> StreamBatch:
    """Many independent streams of one streaming model, run as one batch of its step graph; use it
    in a `with` block. A model without a step graph (bidirectional) is refused in one line.

    Args:
        source: The step graph, engine or checkpoint (opened as `open_graphs` opens it).
        backend: What runs it, with its options (`Backend.Auto()`: by what `source` is).

    Returns:
        A `StreamBatch`."""
    *others, last = open_graphs(source, backend).values()
    close_all(others)  # a bidirectional model's backward graph: its forward graph is refused below
    return StreamBatch(last)
