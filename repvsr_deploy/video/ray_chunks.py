"""The segments of long videos upscaled on a Ray cluster.

Each worker is a Ray actor that holds a batch of streams of the model (`num_gpus=1` where the cluster
has GPUs, one CPU otherwise) and upscales a group of up to `streams` segments at a time into the
inputs' staging folders, as one machine's chunked run does (`chunked.upscale_segments`): those
folders, the inputs and the model file must be at the same paths on every node (shared storage).
Before any work every worker opens the model on its node; a node where it does not open (its
backend missing, the file not there or not a model) is refused in one line. A worker that dies (its process killed, its node lost) has the segments of its
group that are not written yet run by the others (by a new one if none is left), at most `RETRIES`
times.
"""

from __future__ import annotations

import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ParameterError, ReportedError, parameter
from ..runtime.choice import AnyBackend
from .chunked import Staging, upscale_segments
from .encoders import Encoding
from .segments import FrameIndex, Segment

RETRIES = 3  # times a group of segments is given to another worker after its worker died
CLOSE_SECONDS = 60  # how long the workers may take to free what they hold at the end
ANSWER_SECONDS = 10  # how long a cluster's address may take to accept a connection


@dataclass(frozen=True)
class ModelChoice:
    """The model file and the backend that runs it (its options and device), as every worker opens it."""

    path: Path
    backend: AnyBackend


@dataclass(frozen=True)
class SegmentGroup:
    """Segments of one input, run at once as the streams of a worker's batch."""

    key: int  # which input
    source: Path
    index: FrameIndex
    segments: tuple[Segment, ...]
    staging: Staging

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.segments)


class SegmentWorker:
    """A Ray actor's body: the model's batch of streams, opened by `problem` and kept open from one
    group to the next."""

    def __init__(self, model: ModelChoice, streams: int):
        self.model, self.streams, self.batch = model, streams, None

    def problem(self) -> tuple[str, str | None]:
        """(this node, why it cannot run the model, or None): the model opened here, its batch kept."""
        from ..runtime.backends import BACKENDS
        from ..runtime.streams import open_streams

        node = socket.gethostname()
        if not Path(self.model.path).is_file():
            return node, f"{self.model.path}: no such model file there (keep it on storage every node sees)"
        problem = BACKENDS[self.model.backend.name].problem(self.model.backend.device)
        if problem is None:
            try:
                self.batch = open_streams(self.model.path, self.model.backend)
            except ReportedError as exc:
                problem = exc.args[0]  # as raised: its parameters still marked, for the command to spell
        return node, problem

    def run(self, group: SegmentGroup, encoding: Encoding) -> int:
        """The group's segments not written yet, each into its staging file; the frames it holds."""
        from .source import VideoFile, open_source

        todo = [s for s in group.segments if not group.staging.done(s)]
        self.batch.reset()  # this group's frames may be of another size than the last one's
        with open_source(group.source) as clip:
            if not isinstance(clip, VideoFile):
                raise ReportedError(f"{group.source}: not a video file on this node")
            upscale_segments(clip, group.index, todo, self.batch, self.streams, group.staging, encoding, lambda: None)
        return group.frames

    def close(self) -> None:
        """The batch freed (device buffers, streams; a TensorRT for RTX runtime cache saved)."""
        if self.batch is not None:
            self.batch.close()
            self.batch = None


def import_ray():
    try:
        import ray
    except ImportError:
        raise ReportedError(f"{parameter('ray')} needs Ray: pip install 'repvsr-deploy[ray]'") from None
    return ray


def require_answer(address: str) -> None:
    """A cluster's `host:port` (or `ray://host:port`) that nothing answers at is said in one line:
    Ray itself goes on trying it, minutes on end, printing a warning every few seconds. Other forms
    (`auto`) are left to Ray."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not (host and port.isdigit()):
        return
    try:
        with socket.create_connection((host, int(port)), timeout=ANSWER_SECONDS):
            pass
    except OSError as exc:
        raise ReportedError(
            f"{parameter('ray')} {address}: nothing answers there ({exc.strerror or exc}); give a Ray cluster's address"
        ) from None


class RayWorkers:
    """Workers on a Ray cluster (at `address`; None: the one Ray finds, or a new local one), each
    checked to run the model on its node; use it in a `with` block, which disconnects (and stops a
    cluster it started)."""

    def __init__(self, model: ModelChoice, streams: int, address: str | None, workers: int | None):
        self.ray = import_ray()
        self.model, self.streams = model, streams
        self.deaths = 0  # workers that died while running a group
        self.idle: list = []  # the workers waiting for a group
        self._started = not self.ray.is_initialized()
        if self._started:
            if address:
                require_answer(address)
            options = {} if address else {"include_dashboard": False}
            self.ray.init(address=address, log_to_driver=False, logging_level="ERROR", **options)
        try:
            resources = self.ray.cluster_resources()
            device = model.backend.device
            if device == "cuda" and resources.get("GPU", 0) < 1:
                raise ParameterError(f"{parameter('device')} cuda: the Ray cluster has no GPU")
            gpus = 1 if device == "cuda" or (device == "auto" and resources.get("GPU", 0) >= 1) else 0
            self._remote = self.ray.remote(num_cpus=0 if gpus else 1, num_gpus=gpus, max_restarts=0)(SegmentWorker)
            self.idle = self._new_workers(workers or int(resources.get("GPU" if gpus else "CPU", 1)) or 1)
        except BaseException:
            self.close()
            raise

    def _new_workers(self, number: int) -> list:
        """Workers whose nodes each run the model, or one line on the first that does not."""
        workers = [self._remote.remote(self.model, self.streams) for _ in range(number)]
        for node, problem in self.ray.get([worker.problem.remote() for worker in workers]):
            if problem:
                raise ReportedError(f"Ray node {node} cannot run the model: {problem}")
        return workers

    def run(self, groups: list[SegmentGroup], encoding: Encoding, tick: Callable[[int], None]) -> dict[int, str]:
        """Every group run by the workers; `tick(frames)` as each is written. Returns the error of
        each input that failed."""
        from ray.exceptions import RayActorError, RayTaskError

        pending = deque((group, 0) for group in groups)
        running: dict = {}
        failed: dict[int, str] = {}
        while pending or running:
            while self.idle and pending:
                group, attempts = pending.popleft()
                if group.key in failed:
                    continue
                worker = self.idle.pop()
                running[worker.run.remote(group, encoding)] = (worker, group, attempts)
            if not running:
                break
            (done,), _ = self.ray.wait(list(running), num_returns=1)
            worker, group, attempts = running.pop(done)
            try:
                tick(self.ray.get(done))
                self.idle.append(worker)
            except RayActorError:  # the worker's process or node died: the others take what it had not written
                self.deaths += 1
                if attempts >= RETRIES:
                    failed[group.key] = f"{group.source}: {RETRIES + 1} workers died running its segments"
                else:
                    pending.appendleft((group, attempts + 1))
                if not self.idle and not running:  # no worker left: one more (a lost node's share waits for room)
                    self.idle = self._new_workers(1)
            except RayTaskError as exc:  # the input's own error (e.g. a corrupt packet): the others go on
                cause = exc.cause
                text = cause.args[0] if isinstance(cause, ReportedError) else str(exc).strip().splitlines()[-1]
                failed[group.key] = text  # a ReportedError's as raised: its parameters still marked
                self.idle.append(worker)
        return failed

    def close(self) -> None:
        """Each worker's batch closed, then the cluster left (stopped if this started it)."""
        workers, self.idle = self.idle, []
        try:
            self.ray.get([worker.close.remote() for worker in workers], timeout=CLOSE_SECONDS)
        except self.ray.exceptions.RayError:  # a worker gone or stuck: its process ends with the job
            pass
        if self._started:
            self.ray.shutdown()
            self._started = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
