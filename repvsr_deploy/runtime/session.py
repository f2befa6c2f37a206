"""Stateful sessions over exported step graphs, whatever runs them (torch, onnxruntime, TensorRT).

A session owns what every backend needs alike: frame layout and dtype, padding to the model's size
multiple and cropping the result, the size checks, and carrying the state from one step to the
next. A backend only runs one graph once; its state values stay wherever it keeps them (a GPU).

`Session` streams (one frame in, one HR frame out); `CentredSession` runs a sliding-window model
that reconstructs the centre of its window (its HR frames come `delay` frames late); `ClipSession`
runs a bidirectional model over windows of a clip. All give `run(frames) -> HR frames` and `reset()`,
and own their backends: `close()`, or the end of a `with` block, frees what those hold.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ..centred import centred_window
from ..errors import ReportedError
from ..modelinfo import FRAME_LEVELS, GraphKind, ModelInfo
from ..resolutions import round_up
from .backends import close_all, open_graphs
from .choice import AnyBackend, Backend
from .frame_layout import hwc_levels
from .runner import ClosesOnce, GraphRunner

DEFAULT_WINDOW = 10


class FrameFormat:
    """Frames in, as the graph wants them: checked, batched, padded; HR frames out, cropped."""

    def __init__(self, info: ModelInfo):
        self.info = info
        self.frame_hw: tuple[int, int] | None = None

    def prepare(self, frame: np.ndarray) -> np.ndarray:
        """RGB [3,H,W] or [1,3,H,W] (float in [0, 1], uint8, uint16: `_as_batch`) -> [1,3,H',W'] as
        the graph takes it (`ModelInfo.io`: float32 in [0, 1], or uint8 / uint16 levels), padded to
        the size multiple."""
        lr = _as_graph_frame(frame, self.info.io)
        height, width = lr.shape[-2:]
        if self.frame_hw is None:
            self.info.check_frame(height, width)
            self.frame_hw = (height, width)
        elif self.frame_hw != (height, width):
            raise ReportedError(
                f"frame size changed from {self.frame_hw[1]}x{self.frame_hw[0]} to {width}x{height} "
                "within a clip; reset() the session first"
            )
        padded_h, padded_w = self.padded_hw
        if (padded_h, padded_w) == (height, width):
            return lr
        return np.pad(lr, ((0, 0), (0, 0), (0, padded_h - height), (0, padded_w - width)), mode="edge")

    @property
    def padded_hw(self) -> tuple[int, int]:
        assert self.frame_hw is not None, "no frame prepared yet"
        height, width = self.frame_hw
        return round_up(height, self.info.size_multiple), round_up(width, self.info.size_multiple)

    def crop(self, hr: np.ndarray) -> np.ndarray:
        assert self.frame_hw is not None, "no frame prepared yet"
        height, width = self.frame_hw
        return hr[..., : height * self.info.scale, : width * self.info.scale]

    def take(self, frame) -> Any:
        """A host frame prepared; a frame `upload`ed before (already prepared) as it is."""
        return frame.value if isinstance(frame, Uploaded) else self.prepare(frame)

    def crop_levels(self, hr: np.ndarray) -> np.ndarray:
        """An HR frame of levels [1, sH, sW, 3] -> [H·s, W·s, 3], the padding cut off."""
        assert self.frame_hw is not None, "no frame prepared yet"
        height, width = self.frame_hw
        return np.ascontiguousarray(hr[0, : height * self.info.scale, : width * self.info.scale])

    def deliver(self, hr, backend: GraphRunner, download: bool):
        """The HR frame cropped on the host; with `download=False`, as the backend left it on the
        device, once the backend has finished computing it."""
        if download:
            return self.crop(hr)
        backend.synchronize()
        return hr


# how far a float frame may stray outside [0, 1] (a previous stage's rounding) and still be taken
FLOAT_SLACK = 1 / 255
INTEGER_LEVELS = {np.dtype(name): top for name, top in FRAME_LEVELS.items()}


def _as_graph_frame(frame, io: str) -> np.ndarray:
    """The frame contract (`_as_batch`), as the graph takes frames: float32 in [0, 1], or integer
    levels; a frame already in the graph's levels is taken as it is (no float round trip)."""
    if io in FRAME_LEVELS and isinstance(frame, np.ndarray) and frame.dtype == np.dtype(io):
        batch = frame[None] if frame.ndim == 3 else frame
        if batch.ndim != 4 or batch.shape[:2] != (1, 3) or batch.size == 0:
            return _as_batch(frame)  # refused there, in its words
        return np.ascontiguousarray(batch)
    batch = _as_batch(frame)
    if io not in FRAME_LEVELS:
        return batch
    return np.floor(np.clip(batch, 0, 1) * FRAME_LEVELS[io] + 0.5).astype(io)


def _as_batch(frame) -> np.ndarray:
    """The frame contract: a numpy array, RGB [3,H,W] or [1,3,H,W]; uint8 and uint16 scaled by their
    top level; float (16/32/64 bit) finite and within [0, 1] (give or take FLOAT_SLACK). Anything
    else is refused, so that no bad frame reaches the recurrent state, where it would spoil every
    later frame."""
    if not isinstance(frame, np.ndarray):
        raise ReportedError(
            f"a frame must be a numpy array (RGB [3,H,W]), got {type(frame).__module__}.{type(frame).__qualname__}"
        )
    batch = frame[None] if frame.ndim == 3 else frame
    if batch.ndim != 4 or batch.shape[:2] != (1, 3):
        raise ReportedError(f"a frame must be RGB [3,H,W] or [1,3,H,W], got shape {list(frame.shape)}")
    if batch.size == 0:
        raise ReportedError(f"a frame of {batch.shape[3]}x{batch.shape[2]} pixels: it has none")
    if frame.dtype in INTEGER_LEVELS:
        return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(INTEGER_LEVELS[frame.dtype])
    if frame.dtype.kind != "f":
        raise ReportedError(f"a frame of {frame.dtype} values: give float in [0, 1], uint8 or uint16")
    low, high = float(batch.min()), float(batch.max())
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ReportedError(f"a frame with {int((~np.isfinite(batch)).sum())} non-finite values (NaN or Inf)")
    if low < -FLOAT_SLACK or high > 1 + FLOAT_SLACK:
        raise ReportedError(
            f"a float frame with values in [{low:g}, {high:g}]: float frames are in [0, 1] "
            "(give uint8 or uint16 arrays for integer levels)"
        )
    return np.ascontiguousarray(batch, dtype=np.float32)


class Uploaded:
    """A frame `upload`ed to a backend: checked and padded, where the backend computes."""

    def __init__(self, value: Any):
        self.value = value


class OwnsBackends(ClosesOnce):
    """A session owns its backends: `close()` (or leaving a `with` block) closes them, once."""

    backends: tuple = ()
    info: ModelInfo

    def reset(self) -> None:
        """Start from a fresh state."""
        raise NotImplementedError

    def _release(self) -> None:
        """Drop the state (its values may hold the runtime's session), then close the backends."""
        self.reset()
        close_all(self.backends)

    def _check_open(self) -> None:
        if self.closed:
            raise ReportedError(f"the session over model '{self.info.model}' is closed")


class ClipFrames(OwnsBackends):
    """A session over one clip's frames at a time, in order: `run` gives their HR frames."""

    def run(self, frames: Iterable, download: bool = True) -> Iterator:
        """The HR frames of `frames`, in order (each session's own way)."""
        raise NotImplementedError

    def run_levels(self, frames: Iterable, dtype) -> Iterator[np.ndarray]:
        """The HR frames of `frames` as RGB [sH, sW, 3] levels of `dtype` (uint8, uint16), as video
        is encoded."""
        for hr in self.run(frames):
            yield hwc_levels(hr, dtype)


class Session(ClipFrames):
    """A streaming model: `step` one LR frame, get its HR frame; the state carries over."""

    def __init__(self, backend: GraphRunner):
        self.backend = backend
        self.backends = (backend,)
        self.info = backend.info
        self.device = backend.device
        self.reset()

    def reset(self) -> None:
        """Before an unrelated clip or another frame size."""
        self._frames = FrameFormat(self.info)
        self._state: list[Any] = []

    def upload(self, frame: np.ndarray) -> Uploaded:
        """The frame checked, padded and put on the backend's device, for `step` to take."""
        return Uploaded(self.backend.upload(self._frames.prepare(frame)))

    def step(self, frame, download: bool = True):
        """One RGB frame [3,H,W] or [1,3,H,W] (see `_as_batch`; or `upload`ed) -> the HR frame [1,3,sH,sW]
        float32 (levels from a graph with integer frames); with `download=False` the padded HR frame
        stays on the device, computed."""
        hr = self._advance(frame, download, None)
        return self._frames.deliver(hr, self.backend, download)

    def _advance(self, frame, download: bool, levels):
        """The backend's output for one more frame (`GraphRunner.run`); the state moves on."""
        self._check_open()
        lr = self._frames.take(frame)
        if not self._state:
            self._state = self.backend.zero_state(*self._frames.padded_hw)
        hr, self._state = self.backend.run(lr, self._state, download=download, levels=levels)
        return hr

    def run(self, frames: Iterable, download: bool = True) -> Iterator:
        for frame in frames:
            yield self.step(frame, download)

    def run_levels(self, frames: Iterable, dtype) -> Iterator[np.ndarray]:
        """As `ClipFrames.run_levels`, the levels made by the backend (inside the graph, where its
        runtime can: OpenVINO)."""
        for frame in frames:
            yield self._frames.crop_levels(self._advance(frame, True, dtype))


class CentredSession(ClipFrames):
    """A sliding-window model with `delay` = r: the HR frame of frame c comes once frame c + r is in
    (the first ones once frame 2r is), the last r at the clip's end; a clip's ends are padded as
    `centred_window` says. Between the ends the state carries the window; at the ends the session
    loads each window from the frames it keeps. Takes host frames (it keeps the last 2r + 1)."""

    def __init__(self, backend: GraphRunner):
        self.backend = backend
        self.backends = (backend,)
        self.info = backend.info
        self.device = backend.device
        self.reset()

    def reset(self) -> None:
        self._frames = FrameFormat(self.info)

    def upload(self, frame: Any) -> Any:
        raise ReportedError(
            f"model '{self.info.model}' reconstructs the centre of its window: "
            "give it frames on the host, not uploaded ones"
        )

    def run(self, frames: Iterable, download: bool = True) -> Iterator:
        """HR frames of a clip (host arrays), in order; `download` as in `Session.step`."""
        self._check_open()
        radius = self.info.delay
        size = 2 * radius + 1
        recent: deque = deque(maxlen=size)  # the last `size` frames, prepared
        count, state = 0, []
        for frame in frames:
            if isinstance(frame, Uploaded):
                self.upload(frame)  # refuses it: the ends need every frame of a window on the host
            recent.append(self._frames.prepare(frame))
            count += 1
            if count == size:  # frames 0 .. 2r: the first r + 1 windows, the last of them plain
                for centre in range(radius + 1):
                    hr, state = self._run_window(recent, count, centred_window(centre, size, radius), download)
                    yield hr
            elif count > size:
                hr, state = self.backend.run(recent[-1], state, download=download)
                yield self._frames.deliver(hr, self.backend, download)
        first = count - radius if count >= size else 0
        for centre in range(first, count):
            yield self._run_window(recent, count, centred_window(centre, count, radius), download)[0]

    def _run_window(self, recent: deque, count: int, indices: list[int], download: bool):
        """(HR frame, next state) of the window of these frame indices, loaded from `recent`."""
        offset = count - len(recent)
        window = [recent[i - offset] for i in indices]
        hr, state = self.backend.run(window[-1], self.backend.load_state(window[:-1]), download=download)
        return self._frames.deliver(hr, self.backend, download), state


class ClipSession(ClipFrames):
    """A bidirectional model over a clip, in windows of at least `window` frames (the last one takes
    the remainder, up to 2 x window - 1): per window a backward sweep computes each frame's feature,
    then the forward sweep turns them into HR frames. The forward state carries from window to
    window; the backward sweep cannot see past its window."""

    def __init__(self, backward: GraphRunner, forward: GraphRunner, window: int = DEFAULT_WINDOW):
        if window < 2:
            raise ReportedError(f"window of {window} frames: a bidirectional model needs at least 2")
        self.backward, self.forward = backward, forward
        self.backends = (backward, forward)
        self.info = forward.info
        self.device = forward.device
        self.window = window
        self.reset()

    def reset(self) -> None:
        self._frames = FrameFormat(self.info)
        self._forward_state: list[Any] = []

    def upload(self, frame: np.ndarray) -> Uploaded:
        """The frame checked, padded and put on the device, for `run` to take."""
        return Uploaded(self.forward.upload(self._frames.prepare(frame)))

    def run(self, frames: Iterable, download: bool = True) -> Iterator:
        """HR frames of a clip (host arrays, or `upload`ed frames); `download` as in `Session.step`."""
        self._check_open()
        pending: list = []
        swept = False
        for frame in frames:
            pending.append(self._frames.take(frame))
            if len(pending) == 2 * self.window:
                yield from self._sweep(pending[: self.window], download)
                pending, swept = pending[self.window :], True
        if not swept and len(pending) < 2:
            raise ReportedError(
                f"a clip of {len(pending)} frame(s): bidirectional model '{self.info.model}' needs at least 2"
            )
        yield from self._sweep(pending, download)

    def _sweep(self, window: list, download: bool) -> Iterator:
        padded_hw = self._frames.padded_hw
        state = self.backward.zero_state(*padded_hw)
        features: list[Any] = [None] * len(window)
        for t in reversed(range(len(window))):
            features[t], state = self.backward.run(window[t], state)
        if not self._forward_state:
            self._forward_state = self.forward.zero_state(*padded_hw)
        for lr, feature in zip(window, features):
            hr, self._forward_state = self.forward.run(lr, self._forward_state, feature, download)
            yield self._frames.deliver(hr, self.forward, download)


def open_session(source, backend: AnyBackend = Backend.Auto(), window: int = DEFAULT_WINDOW):
    """A session over a model file: use it in a `with` block (or `close()` it), for it owns what
    its backends hold.

    Args:
        source: A TensorRT engine (`.plan`, `.engine`), an exported graph (`.onnx`: onnxruntime), an
            OpenVINO IR model (`.xml`), or a model or checkpoint (torch): the rule of `backends`.
        backend: What runs it, with its options: `Backend.Auto(device=...)` (by what `source` is),
            `Backend.OpenVINO(threads=2)`, `Backend.Torch(precision="fp16")`, ... (`choice.Backend`).
        window: The clip windows of a bidirectional model (a `ClipSession`).

    Returns:
        A `Session` (streaming models), `CentredSession` (centred windows) or `ClipSession`
        (bidirectional models)."""
    return session_over(open_graphs(source, backend), window)


def session_over(graphs: dict, window: int = DEFAULT_WINDOW):
    """The session over one model's graphs ({GraphKind: GraphRunner}), which it then owns: streaming or
    over clip windows. The graphs are closed if no session can be made of them."""
    try:
        if GraphKind.STEP in graphs:
            step = graphs[GraphKind.STEP]
            return CentredSession(step) if step.info.delay else Session(step)
        return ClipSession(graphs[GraphKind.BACKWARD], graphs[GraphKind.FORWARD], window)
    except BaseException:
        close_all(graphs.values())
        raise
