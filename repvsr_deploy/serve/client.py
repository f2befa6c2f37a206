"""Streams of frames through a Triton server: one sequence per stream, over gRPC.

`RemoteStream` has the part of a session's interface that `video.upscale` uses (`info.scale`,
`reset`, `run`), so a video goes through a server as it goes through a local session: decoded,
sent, received and encoded in threads of their own, every frame at its time, audio and tags carried.
Frames travel as RGB uint8; up to `DEPTH` of a stream's frames are in flight at once.
"""

from __future__ import annotations

import queue
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import ReportedError
from ..runtime.frame_layout import chw, hwc_levels
from .repository import FRAME, HR

DEPTH = 4  # frames of one stream sent before its first answer is awaited
ANSWER_SECONDS = 120  # how long a frame's answer may take before the server is taken for gone


@dataclass(frozen=True)
class ServedModel:
    scale: int
    model: str


def import_tritonclient():
    try:
        import tritonclient.grpc as grpcclient
    except ImportError:
        raise ReportedError("repvsr-serve needs tritonclient: pip install 'repvsr-deploy[serve]'") from None
    return grpcclient


class RemoteStream:
    """Frames of one stream at a time upscaled by the served model `name` at `url` (host:port, gRPC)."""

    def __init__(self, url: str, name: str):
        grpcclient = import_tritonclient()
        from tritonclient.utils import InferenceServerException

        self._grpc = grpcclient
        self.url, self.name = url, name
        self._client = grpcclient.InferenceServerClient(url)
        try:
            if not self._client.is_model_ready(name):
                raise ReportedError(f"{url}: no model '{name}' is ready there")
            parameters = self._client.get_model_config(name, as_json=True)["config"].get("parameters", {})
            self.info = ServedModel(int(parameters["scale"]["string_value"]), parameters["model"]["string_value"])
        except InferenceServerException as exc:
            self._client.close()
            raise ReportedError(f"{url}: {exc.message()}") from None
        except KeyError:
            self._client.close()
            raise ReportedError(f"{url}: model '{name}' is not one repvsr-serve exported") from None
        except BaseException:
            self._client.close()
            raise
        self._answers: queue.SimpleQueue = queue.SimpleQueue()
        self._sent_at: dict[str, float] = {}
        self.latencies: list[float] = []  # seconds from each frame sent to its answer received
        self._client.start_stream(callback=lambda result, error: self._answers.put((result, error)))

    def reset(self) -> None:
        """Nothing to do: every `run` is a sequence of its own, from a zero state."""

    def run(self, frames: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """RGB frames [3, H, W] (uint8, or float in [0, 1]) -> HR frames [1, 3, sH, sW] uint8, in order,
        as one new sequence."""
        sequence = secrets.randbits(63) or 1
        sent = received = 0
        for frame, last in _with_last(frames):
            self._send(frame, sequence, start=sent == 0, end=last, number=sent)
            sent += 1
            if sent - received >= DEPTH:
                yield self._receive(sequence, received)
                received += 1
        while received < sent:
            yield self._receive(sequence, received)
            received += 1

    def run_levels(self, frames: Iterable[np.ndarray], dtype) -> Iterator[np.ndarray]:
        """`run`'s HR frames as RGB [sH, sW, 3] levels of `dtype` (as a session's `run_levels`)."""
        for hr in self.run(frames):
            yield hwc_levels(hr, dtype)

    def _send(self, frame: np.ndarray, sequence: int, start: bool, end: bool, number: int) -> None:
        rgb = np.ascontiguousarray(hwc_levels(frame, np.uint8)[None])
        tensor = self._grpc.InferInput(FRAME, list(rgb.shape), "UINT8")
        tensor.set_data_from_numpy(rgb)
        self._sent_at[f"{sequence}:{number}"] = time.perf_counter()
        self._client.async_stream_infer(
            self.name,
            [tensor],
            outputs=[self._grpc.InferRequestedOutput(HR)],
            request_id=f"{sequence}:{number}",
            sequence_id=sequence,
            sequence_start=start,
            sequence_end=end,
        )

    def _receive(self, sequence: int, number: int) -> np.ndarray:
        try:
            result, error = self._answers.get(timeout=ANSWER_SECONDS)
        except queue.Empty:
            raise ReportedError(f"{self.url}: no answer for {ANSWER_SECONDS} s") from None
        if error is not None:
            raise ReportedError(f"{self.url}: {error.message() if hasattr(error, 'message') else error}")
        answered = result.get_response().id
        if answered != f"{sequence}:{number}":
            raise ReportedError(f"{self.url}: answered request {answered} where {sequence}:{number} was due")
        self.latencies.append(time.perf_counter() - self._sent_at.pop(answered))
        return chw(result.as_numpy(HR)[0])[None]

    def close(self) -> None:
        self._client.stop_stream()
        self._client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _with_last(items: Iterable) -> Iterator[tuple]:
    """(item, is it the last)."""
    iterator = iter(items)
    try:
        item = next(iterator)
    except StopIteration:
        return
    for following in iterator:
        yield item, False
        item = following
    yield item, True
