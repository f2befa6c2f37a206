"""Live sequences (a server's correlation IDs) on the state slots of batches of streams.

A sequence joins at its START frame and leaves after its END frame or when it has been idle longer
than the server keeps a sequence. Frames of one size run as the streams of one `StreamBatch`;
sequences of another size run in a batch of their own, opened on demand. A request that cannot run
(no START, a frame of another size than its sequence's, a frame the model refuses) gets its error
and the others run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ReportedError
from ..runtime.frame_layout import chw, hwc_levels


@dataclass
class SequenceFrame:
    """One request of a sequence: its correlation ID, its START/END flags and an RGB frame [H, W, 3]."""

    sequence: int
    start: bool
    end: bool
    frame: np.ndarray


@dataclass
class _Slot:
    batch: object  # the StreamBatch that holds its state
    stream: int
    size: tuple[int, int]
    last_seen: float


class Sequences:
    """The state slots of every live sequence; `run` steps one server batch of requests."""

    def __init__(self, open_batch: Callable[[], object], idle_seconds: float, clock=time.monotonic):
        self._open_batch = open_batch  # a new StreamBatch of the served model
        self._idle_seconds = idle_seconds
        self._clock = clock
        self._slots: dict[int, _Slot] = {}
        self._batches: list = []  # each holds streams of one frame size, or none

    @property
    def live(self) -> list[int]:
        return sorted(self._slots)

    def run(self, requests: list[SequenceFrame]) -> list[np.ndarray | str]:
        """Each request's HR frame ([sH, sW, 3] uint8) or its error, in the requests' order."""
        now = self._clock()
        self._drop_idle(now)
        results: list[np.ndarray | str | None] = [None] * len(requests)
        pending = list(range(len(requests)))
        while pending:  # rounds in which each sequence has one frame (a server sends one a batch)
            round_, seen, later = [], set(), []
            for k in pending:
                (later if requests[k].sequence in seen else round_).append(k)
                seen.add(requests[k].sequence)
            self._run_round(requests, round_, results, now)
            pending = later
        return results

    def _run_round(self, requests, indices: list[int], results: list, now: float) -> None:
        by_batch: dict = {}  # StreamBatch -> {stream: request index}
        for k in indices:
            try:
                slot = self._slot_for(requests[k], now)
            except ReportedError as exc:
                results[k] = str(exc)
                continue
            by_batch.setdefault(slot.batch, {})[slot.stream] = k
        for batch, streams in by_batch.items():
            try:
                hr = batch.step({stream: chw(requests[k].frame) for stream, k in streams.items()})
            except ReportedError as exc:
                for k in streams.values():
                    results[k] = str(exc)
                continue
            for stream, k in streams.items():
                results[k] = hwc_levels(hr[stream], np.uint8)
        for k in indices:
            if requests[k].end:
                self._leave(requests[k].sequence)

    def _slot_for(self, request: SequenceFrame, now: float) -> _Slot:
        frame = request.frame
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ReportedError(f"a frame must be RGB uint8 [H, W, 3], got {frame.dtype} {list(frame.shape)}")
        size = frame.shape[:2]
        if request.start:
            self._leave(request.sequence)  # a sequence started again starts from a zero state
            batch = self._batch_for(size)
            slot = _Slot(batch, batch.join(), size, now)
            self._slots[request.sequence] = slot
        slot = self._slots.get(request.sequence)
        if slot is None:
            raise ReportedError(f"sequence {request.sequence} has no state here: its first frame must carry START")
        if slot.size != size:
            raise ReportedError(
                f"sequence {request.sequence} runs {slot.size[1]}x{slot.size[0]} frames; this one is {size[1]}x{size[0]}"
            )
        slot.last_seen = now
        return slot

    def _batch_for(self, size: tuple[int, int]):
        """A batch running frames of `size`, or an idle one (reset for any size), or a new one."""
        sizes = {id(slot.batch): slot.size for slot in self._slots.values()}
        for batch in self._batches:
            if sizes.get(id(batch)) == size:
                return batch
        for batch in self._batches:
            if id(batch) not in sizes:
                batch.reset()
                return batch
        batch = self._open_batch()
        self._batches.append(batch)
        return batch

    def _leave(self, sequence: int) -> None:
        slot = self._slots.pop(sequence, None)
        if slot is not None:
            slot.batch.leave(slot.stream)

    def _drop_idle(self, now: float) -> None:
        for sequence, slot in list(self._slots.items()):
            if now - slot.last_seen > self._idle_seconds:
                self._leave(sequence)

    def close(self) -> None:
        """Every batch closed, every sequence gone."""
        self._slots.clear()
        for batch in self._batches:
            batch.close()
        self._batches = []

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
