"""Upscaling videos and folders of images, as `repvsr-upscale` does, from Python: `upscale` writes
each input's output and says what became of it; `upscaled_frames` gives a program that does its own
I/O the HR frames of one input with their times. The command only parses its flags into these."""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .atomic import writable_directory
from .errors import Note, ParameterError, ReportedError, parameter
from .runtime.choice import AnyBackend, Backend, check_choice
from .video.encoders import Encoding
from .video.endpoints import DEFAULT_TIMEOUT, Location, is_stream, is_url, label, location
from .video.live import FALLBACKS, LiveCounts
from .video.pipeline import StageTimes

if TYPE_CHECKING:
    from .video.chunked import Staging
    from .video.segments import FrameIndex, Segment
    from .video.source import VideoFile

WARMUP = 8  # frames before a segment that prime the state at its seam (benchmarks/chunk_seams.py)
SEGMENT_SECONDS = (0.1, 3600.0)  # the least length of a segment a run may ask for


def _whole(name: str, value, least: int, optional: bool = False) -> None:
    """`value` an integer of at least `least` (or None where `optional`), else a ParameterError."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ParameterError(f"{parameter(name)} {value!r}: an integer of at least {least}")


def _number(name: str, value, low: float, high: float) -> None:
    """`value` a finite number in [low, high], else a ParameterError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ParameterError(f"{parameter(name)} {value!r}: a number from {low:g} to {high:g}")


@dataclass(frozen=True)
class Model:
    """What upscales. `path`: a checkpoint, an exported graph (.onnx), an OpenVINO model (.xml) or a
    TensorRT engine, run by `backend` with its options (`Backend.Auto()`: by the file, as
    `open_session` picks; `Backend.OpenVINO(threads=2)`, ...); None: the demo model shipped with the
    package, on the fastest backend present. `bicubic`: bicubic x4, no model. `window`: the clip
    windows of a bidirectional model."""

    path: Path | str | None = None
    backend: AnyBackend = Backend.Auto()
    bicubic: bool = False
    window: int = 10

    def __post_init__(self):
        _whole("window", self.window, 2)
        check_choice(self.backend)


@dataclass(frozen=True)
class Selection:
    """Which frames of each input, and how they are read: from `start`, `frames` of them (None: to
    the end); `deinterlace` (bwdif) first; `allow_partial`: upscale what decodes of a truncated or
    corrupt input (said in the result's warnings) instead of refusing it; `scene_cuts`: a fresh
    state at each scene cut, where the mean absolute grey difference of two frames exceeds it;
    `input_format`: the FFmpeg demuxer of standard input (`-`: y4m unless given) or a URL;
    `timeout`: seconds an input URL may take to open, or go without data (then it has ended, or
    with `Live.reconnect` is opened again)."""

    start: int = 0
    frames: int | None = None
    deinterlace: bool = False
    allow_partial: bool = False
    scene_cuts: float | None = None
    input_format: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self):
        _whole("start", self.start, 0)
        _number("timeout", self.timeout, 0.1, 3600)
        _whole("frames", self.frames, 1, optional=True)
        if self.scene_cuts is not None:
            _number("scene_cuts", self.scene_cuts, 0, 1)


@dataclass(frozen=True)
class Live:
    """The input (standard input or a URL) arrives in real time: decoding never waits for the
    model, and a frame the model cannot take in time is passed through by `fallback` ("bicubic":
    bicubic x4 in its place; "drop": left out), so latency stays bounded (`video.live`); a URL
    that ends, stalls or fails is opened again up to `reconnect` times, the state reset."""

    fallback: str = "bicubic"
    reconnect: int = 0

    def __post_init__(self):
        if self.fallback not in FALLBACKS:
            raise ParameterError(f"{parameter('live_fallback')} {self.fallback!r}: one of {', '.join(FALLBACKS)}")
        _whole("reconnect", self.reconnect, 0)


@dataclass(frozen=True)
class Chunks:
    """A video cut at keyframes into segments of at least `segment` seconds, run `streams` at a time
    as the streams of one batch, each primed by the `warmup` frames before it; a run stopped part-way
    resumes where it stopped when run again."""

    streams: int
    segment: float = 30.0
    warmup: int = WARMUP

    def __post_init__(self):
        _whole("chunks", self.streams, 1)
        _number("segment", self.segment, *SEGMENT_SECONDS)
        _whole("warmup", self.warmup, 0)


@dataclass(frozen=True)
class RayCluster:
    """Chunks run by the workers of a Ray cluster at `address` (None: the one Ray finds, or a new
    local one), `workers` of them (None: one per GPU of the cluster, or per CPU where it has none).
    Inputs, outputs and the model lie on storage every node sees."""

    address: str | None = None
    workers: int | None = None

    def __post_init__(self):
        _whole("workers", self.workers, 1, optional=True)


@dataclass
class Upscaled:
    """What became of one input: its output, the frames written and their size (width, height; not
    known where Ray ran it), the streams carried, with chunks the segments and how many of them an
    earlier run had done, what each stage took on this machine, warnings, what became of a live
    input's frames; or the error that stopped it."""

    source: Location
    target: Location
    frames: int = 0
    size: tuple[int, int] | None = None
    carried: int = 0
    segments: int | None = None
    resumed: int = 0
    stages: StageTimes | None = None
    warnings: list[Note] = field(default_factory=list)
    error: ReportedError | None = None
    live: LiveCounts | None = None


class TimedFrame(NamedTuple):
    """An HR frame (RGB [H, W, 3] levels) and when it shows, in seconds from the selection's start."""

    rgb: np.ndarray
    start: Fraction
    duration: Fraction


def upscale(
    inputs: Path | str | Sequence[Path | str],
    output: Path | str | None = None,
    *,
    out_dir: Path | str | None = None,
    model: Model = Model(),
    encoding: Encoding = Encoding(),
    select: Selection = Selection(),
    chunks: Chunks | None = None,
    ray: RayCluster | None = None,
    live: Live | None = None,
    drop_streams: Sequence[str] = (),
    overwrite: bool = False,
    progress: bool = False,
    on_result: Callable[[Upscaled], None] | None = None,
    on_model: Callable[[str], None] | None = None,
    on_event: Callable[[str], None] | None = None,
) -> list[Upscaled]:
    """Upscale videos or folders of images x4, as `repvsr-upscale` does.

    Each frame keeps its time; colour, bit depth, rotation and pixel shape are carried; audio and
    subtitles are copied with their tags, cut to the frames upscaled. An output appears whole when
    done, or not at all. One input: its failure raises. Several: all must exist before any work;
    then one failing is kept in its result (`Upscaled.error`) and the others go on.

    A pipe or URL input is read once, in order; a pipe or URL output is written as the frames come
    (a failure part-way leaves what was sent).

    Args:
        inputs: A video file or a folder of images, or several; or one stream: "-" (standard input,
            y4m unless `select.input_format`) or a URL (rtmp, rtsp, srt where FFmpeg has it, udp,
            tcp, http).
        output: Where one input goes: a video file (.mp4, .mkv, .mov, .webm, .avi) or a folder, which
            gets PNG images; or "-" (standard output, y4m unless `encoding.format`) or a URL.
        out_dir: Where each of several inputs goes, under its own name (a suffix of no video
            container written becomes .mkv).
        model: What upscales (`Model`; the default: the demo on the fastest backend present).
        encoding: The output video's encoder, quality, bit depth and audio encoder (`Encoding`).
        select: Which frames of each input, and how they are read (`Selection`).
        chunks: Run each video in segments cut at keyframes, as streams of one batch (`Chunks`).
        ray: Run the chunks on a Ray cluster (`RayCluster`; needs `chunks`).
        live: The input (a pipe or URL) arrives in real time (`Live`): bounded latency, frames the
            model cannot take in time passed through or dropped, a lost URL reconnected.
        drop_streams: Input streams left out: their indexes, or "audio", "subtitle".
        overwrite: Replace an output that exists (a file, or a folder that is not empty).
        progress: A frame counter on standard error.
        on_result: Called with each input's result as the input ends.
        on_model: Called once, as the first input's frames start (its input and output open), with
            what runs: the model file, its precision and backend, and for the demo why that
            precision (`describe_model`).
        on_event: Called with what a live run meets as it happens (a stream lost, reconnected).

    Returns:
        An `Upscaled` per input, in the order they ended.

    Raises:
        ParameterError: Options that do not go together, or out of range.
        ReportedError: The one input, or an output, that cannot be read or written."""
    jobs = output_paths(inputs, output, out_dir)
    _check_options(model, select, chunks, ray)
    _check_streams(jobs, select, encoding, chunks, live)
    if isinstance(drop_streams, str):  # one name, not its letters
        drop_streams = (drop_streams,)
    digest = None
    if chunks:  # what the model is decides what an interrupted run's segments are
        path, backend = resolved_model(model)
        digest = _model_digest(path)
        if isinstance(backend, Backend.TensorRT):
            _check_engine_streams(path, chunks.streams)
    made_out_dir = out_dir is not None and not Path(out_dir).exists()
    if out_dir is not None:
        writable_directory(out_dir)
    report = _Report(len(jobs), on_result, on_model)
    try:
        if ray is not None:
            _upscale_on_ray(jobs, model, encoding, drop_streams, chunks, digest, ray, overwrite, progress, report)
        else:
            _upscale_here(
                jobs, model, encoding, select, chunks, digest, drop_streams, overwrite, progress, report, live, on_event
            )
    finally:
        if made_out_dir and out_dir is not None and not any(Path(out_dir).iterdir()):  # none written: none left
            Path(out_dir).rmdir()
    return report.results


def upscaled_frames(
    source: Location, model: Model = Model(), select: Selection = Selection(), dtype=np.uint8
) -> Iterator[TimedFrame]:
    """The HR frames of one input, in order, with their times, for a program that does its own I/O.

    The model and the input are released when the frames end or the generator is closed
    (`contextlib.closing` it where it may not be read to its end).

    Args:
        source: A video file or a folder of images, "-" (standard input) or a URL.
        model: What upscales (`Model`).
        select: Which frames, and how they are read (`Selection`).
        dtype: The frames' levels: `numpy.uint8` or `numpy.uint16`.

    Yields:
        `TimedFrame`: RGB [H, W, 3] levels, and when the frame shows and for how long, in seconds
        from the first frame selected (at 0, as an output file has it)."""
    from .video.scenes import SceneCuts
    from .video.upscale import upscale_frames

    _check_options(model, select, None, None)
    if np.dtype(dtype) not in (np.uint8, np.uint16):
        raise ParameterError(f"{parameter('dtype')} {np.dtype(dtype)}: uint8 or uint16 levels")
    times: deque = deque()
    with (
        open_model(model) as session,
        _open_input(source, select) as clip,
    ):

        def frames():
            for rgb, time in clip.frames():
                times.append(time)
                yield rgb

        cuts = SceneCuts(select.scene_cuts) if select.scene_cuts is not None else None
        for hr in upscale_frames(session, frames(), cuts, dtype):
            time = times.popleft()
            yield TimedFrame(hr, time.pts * clip.time_base, time.duration * clip.time_base)


def output_paths(
    inputs: Location | Sequence[Location], output: Location | None, out_dir: Path | str | None
) -> list[tuple[Location, Location]]:
    """(input, output) pairs: one input into `output`, or each into `out_dir` under its own name;
    two inputs may not make one output. Pipes ("-") and URLs stay text (`endpoints.location`)."""
    from .video.encoders import CONTAINERS

    paths = [location(inputs)] if isinstance(inputs, (str, Path)) else [location(p) for p in inputs]
    if output is not None and out_dir is not None:
        raise ParameterError(f"give {parameter('output')} (one input) or {parameter('out_dir')}, not both")
    if output is None and out_dir is None:
        raise ParameterError(f"give {parameter('output')} (one input) or {parameter('out_dir')}: where to write")
    if not paths:
        raise ParameterError(f"no {parameter('inputs')}")
    if output is not None:
        if len(paths) != 1:
            raise ParameterError(f"{len(paths)} inputs and one {parameter('output')}: give {parameter('out_dir')}")
        return [(paths[0], location(output))]
    files = [p for p in paths if isinstance(p, Path)]
    if len(files) < len(paths):
        stream = next(p for p in paths if is_stream(p))
        raise ParameterError(
            f"{stream}: a pipe or URL input is written to {parameter('output')}, not into {parameter('out_dir')}"
        )
    folder = Path(out_dir)  # type: ignore[arg-type]  # given: output is None
    jobs: list[tuple[Location, Location]] = [
        (path, folder / (path.name if path.suffix.lower() in CONTAINERS or path.is_dir() else path.stem + ".mkv"))
        for path in files
    ]
    outputs: dict[Location, Location] = {}
    for source, target in jobs:
        if target in outputs:
            raise ParameterError(f"{outputs[target]} and {source} would both be written to {target}")
        outputs[target] = source
    if len(jobs) > 1:
        missing = [str(source) for source, _ in jobs if not source.exists()]  # type: ignore[union-attr]  # paths
        if missing:
            raise ReportedError(f"no such input: {', '.join(missing)} (nothing was upscaled)")
    return jobs


def carried_streams(streams: list, dropped: Sequence[str]) -> list:
    """The input's audio and subtitle streams less those `dropped` names (an index or a kind)."""
    known = {str(s.index) for s in streams} | {s.type for s in streams}
    for name in dropped:
        if name not in known:
            indexes = ", ".join(sorted(known - {"audio", "subtitle"})) or "none"
            raise ParameterError(
                f"{parameter('drop_streams')}: '{name}' is none of the input's audio or subtitle streams "
                f"(indexes {indexes}, or audio, subtitle)"
            )
    return [s for s in streams if str(s.index) not in dropped and s.type not in dropped]


def resolved_model(model: Model) -> tuple[Path, AnyBackend]:
    """(model file, the backend that runs it): the demo's on the fastest backend present where no
    file is given."""
    from .runtime.backends import chosen_for

    if model.path:
        return Path(model.path), chosen_for(model.path, model.backend)
    from .demo import demo_model, demo_model_for

    if not isinstance(model.backend, Backend.Auto):  # the demo on the backend asked for
        return demo_model_for(model.backend.name), model.backend
    path, backend, device = demo_model(model.backend.device)
    return path, Backend.named(backend, device)


def describe_model(model: Model, precision: str | None = None) -> str:
    """What runs, in words: the model file, its `precision` where known (a session's), the backend,
    and for the demo why it runs in that precision (int8 where the CPU has int8 dot products)."""
    if model.bicubic:
        return "bicubic x4, no model"
    path, backend = resolved_model(model)
    how = f"{precision} on {backend.name}" if precision else f"on {backend.name}"
    if model.path:
        return f"{path}, {how}"
    from .demo import why_this_precision

    why = why_this_precision(path, backend.name)
    return f"the demo RepVSR ({path.name}), {how}" + (f": {why}" if why else "")


def open_model(model: Model, streams: bool = False):
    """The session (with `streams`, a batch of streams) over `model`."""
    from .runtime.session import Session, open_session
    from .runtime.streams import open_streams

    if model.bicubic:
        from .runtime.bicubic_backend import BicubicBackend

        return Session(BicubicBackend())
    path, backend = resolved_model(model)
    if streams:
        return open_streams(path, backend)
    return open_session(path, backend, model.window)


def _check_options(model: Model, select: Selection, chunks: Chunks | None, ray: RayCluster | None) -> None:
    """Refuse what does not go together, before any work."""
    if model.bicubic and model.path:
        raise ParameterError(f"{parameter('bicubic')} is no model: it takes no model file")
    if chunks:
        if model.bicubic:
            raise ParameterError(
                f"{parameter('chunks')} runs a model as streams of a batch; {parameter('bicubic')} is no model"
            )
        for given, name in (
            (select.start, "start"),
            (select.frames, "frames"),
            (select.deinterlace, "deinterlace"),
            (select.allow_partial, "allow_partial"),
            (select.scene_cuts is not None, "scene_cuts"),
        ):
            if given:
                raise ParameterError(f"{parameter('chunks')} runs a whole video: it does not take {parameter(name)}")
    if ray is not None and chunks is None:
        raise ParameterError(
            f"{parameter('ray')} runs videos in segments: give {parameter('chunks')} (the streams of each worker's batch)"
        )


def _check_streams(jobs: list, select: Selection, encoding: Encoding, chunks: Chunks | None, live: Live | None) -> None:
    """Refuse what a pipe or URL cannot do (be cut into chunks, be read twice), live options
    without a stream that arrives in real time, and a selection of its frames or a gap in a
    constant-rate output where the input is taken as it comes (live)."""
    source, target = jobs[0]
    streamed = is_stream(source) or is_stream(target)
    if chunks and streamed:
        raise ParameterError(
            f"{parameter('chunks')} cuts a video file: {label(source if is_stream(source) else target)} is a stream"
        )
    given = [name for name, value in (("input_format", select.input_format), ("live", live)) if value]
    if given and not is_stream(source):
        raise ParameterError(f"{parameter(given[0])} is for a pipe or URL input; {source} is a file")
    if live is None:
        return
    if live.reconnect and not is_url(source):
        raise ParameterError(f"{parameter('reconnect')} opens a URL again; {label(source)} is a pipe")
    selected = [name for name in ("start", "frames", "scene_cuts") if getattr(select, name) not in (0, None)]
    if selected:
        raise ParameterError(
            f"{parameter('live')} takes the input as it comes: it does not take {parameter(selected[0])}"
        )


def _check_engine_streams(engine: Path, streams: int) -> None:
    """An engine runs batches of at most the streams it was built for: more is refused before any work."""
    from .trt.engine import read_engine_sidecar

    built = read_engine_sidecar(engine).key.streams
    if built < streams:
        raise ReportedError(
            f"{engine}: built for at most {built} stream(s) a run, and {parameter('chunks')} {streams} runs "
            f"{streams}; rebuild it with repvsr-trt build --streams {streams}"
        )


def _model_digest(path: Path) -> str:
    """SHA-256 of the model file (with an OpenVINO model's weights, its .bin beside its .xml)."""
    from .trt.cache import file_sha256

    path = Path(path)
    files = [path, path.with_suffix(".bin")] if path.suffix.lower() == ".xml" else [path]
    for file in files:
        if not file.is_file():
            raise ReportedError(f"{file}: no such model file")
    return "+".join(file_sha256(file) for file in files)


class _Report:
    """The results as inputs end: one input's failure raises; of several, it is kept and said."""

    def __init__(
        self, inputs: int, on_result: Callable[[Upscaled], None] | None, on_model: Callable[[str], None] | None
    ):
        self.inputs, self.on_result, self.on_model = inputs, on_result, on_model
        self.results: list[Upscaled] = []
        self.model: str | None = None  # what runs (`describe_model`), said as the first frames start

    def starting(self) -> None:
        """An input's frames start (its input and output are open): what runs is said, once."""
        if self.model is not None and self.on_model:
            self.on_model(self.model)
        self.model = None

    def done(self, result: Upscaled) -> None:
        self.results.append(result)
        if self.on_result:
            self.on_result(result)

    def failed(self, source: Path, target: Path, error: ReportedError) -> None:
        if self.inputs == 1:
            raise error
        self.done(Upscaled(source, target, error=error))


def _upscale_here(
    jobs, model, encoding, select, chunks, digest, drop_streams, overwrite, progress, report, live, on_event
) -> None:
    """Every input through one session (or batch of streams) on this machine."""
    with open_model(model, streams=chunks is not None) as session:
        if live is not None:
            _check_live_session(session)
        report.model = describe_model(model, session.info.precision)
        for source, target in jobs:
            try:
                _check_distinct(source, target)
                if chunks:
                    result = _upscale_chunked(
                        source, target, session, encoding, drop_streams, chunks, digest, overwrite, progress,
                        report.starting,
                    )  # fmt: skip
                elif live is not None:
                    result = _upscale_live(
                        source, target, session, encoding, select, live, overwrite, progress, report.starting, on_event
                    )
                else:
                    result = _upscale_one(
                        source, target, session, encoding, drop_streams, select, overwrite, progress, report.starting
                    )
            except ReportedError as exc:
                report.failed(source, target, exc)
                continue
            report.done(result)


def _check_distinct(source: Location, target: Location) -> None:
    if is_stream(source) or is_stream(target):
        return
    if target.resolve() == source.resolve():  # type: ignore[union-attr]  # paths
        raise ReportedError(f"{target}: the output would overwrite the input")


def _upscale_one(
    source, target, session, encoding, drop_streams, select: Selection, overwrite, progress, starting
) -> Upscaled:
    """One input into `target` through `session`; `starting()` once its input and output are open."""
    from .video import upscale as frame_loop
    from .video.progress import progress_bar
    from .video.scenes import SceneCuts
    from .video.sink import open_sink

    scale = session.info.scale
    cuts = SceneCuts(select.scene_cuts) if select.scene_cuts is not None else None
    with _open_input(source, select) as clip:
        carried = carried_streams(clip.other_streams, drop_streams)
        with open_sink(target, clip, scale, encoding, carried, overwrite, timeout=select.timeout) as sink:
            starting()  # before the progress bar: a line of its own
            with progress_bar(_name(source), clip.frame_count, progress) as tick:
                times = frame_loop.run(clip, sink, session, cuts, tick, carried)
    warnings = (
        [Note(f"{clip.shortfall}; {target} holds the {times.items} frames that decoded")] if clip.shortfall else []
    )
    size = (clip.width * scale, clip.height * scale)
    return Upscaled(source, target, times.items, size, len(sink.carried), stages=times, warnings=warnings)


def _open_input(source: Location, select: Selection):
    from .video.source import open_source

    return open_source(
        source,
        select.start,
        select.frames,
        select.deinterlace,
        select.allow_partial,
        select.input_format,
        select.timeout,
    )


def _name(source: Location) -> str:
    """An input's name in the progress bar."""
    return label(source) if is_stream(source) else source.name  # type: ignore[union-attr]  # a path


def _check_live_session(session) -> None:
    from .runtime.session import Session

    if not isinstance(session, Session):
        raise ReportedError(
            f"{parameter('live')} runs a streaming model one frame at a time; {session.info.model} looks at later frames"
        )


def _upscale_live(
    source, target, session, encoding, select: Selection, live: Live, overwrite, progress, starting, on_event
) -> Upscaled:
    """A pipe or URL arriving in real time into `target`, by the rules of `video.live`."""
    from .video.live import run_live
    from .video.progress import progress_bar
    from .video.sink import open_sink

    counts = LiveCounts()
    notes: list[Note] = []

    def said(text: str) -> None:
        counts.events.append(text)
        if on_event:
            on_event(text)

    scale = session.info.scale
    select = replace(select, allow_partial=True)  # data lost in transit (UDP) is skipped, not fatal
    clip = _open_input(source, select)
    with clip, open_sink(target, clip, scale, encoding, [], overwrite, live=True, timeout=select.timeout) as sink:
        if clip.other_streams:
            notes.append(
                Note(f"{label(source)}: its {len(clip.other_streams)} audio/subtitle stream(s) are not carried live")
            )
        starting()
        with progress_bar(_name(source), None, progress) as tick:
            times = run_live(
                clip,
                lambda: _open_input(source, select),
                live.reconnect,
                select.timeout,
                sink,
                session,
                live.fallback,
                tick,
                counts,
                said,
            )
    size = (clip.width * scale, clip.height * scale)
    return Upscaled(source, target, times.items, size, 0, stages=times, warnings=notes, live=counts)


@dataclass
class _ChunkedInput:
    """One input planned for a chunked run: its segments, those still to do, and where they go."""

    source: Path
    target: Path
    clip: VideoFile
    carried: list
    index: FrameIndex
    segments: list[Segment]
    staging: Staging
    todo: list[Segment]
    warnings: list[Note]


def _plan_chunked(source, target, stack, encoding, drop_streams, chunks: Chunks, digest, overwrite) -> _ChunkedInput:
    """Open `source` and lock `target` (both held by `stack`), cut the video into segments and
    take those an interrupted run of the same job finished."""
    from .atomic import exclusive
    from .video.chunked import Staging, describe_job
    from .video.encoders import CONTAINERS
    from .video.segments import index_frames, plan_segments
    from .video.sink import is_image_folder, refuse_existing
    from .video.source import VideoFile, open_source

    if is_image_folder(target):
        raise ReportedError(f"{target}: {parameter('chunks')} writes a video file, not a folder of images")
    if target.suffix.lower() not in CONTAINERS:
        raise ReportedError(f"{target}: unknown video container (known: {', '.join(CONTAINERS)})")
    refuse_existing(target, overwrite)
    clip = stack.enter_context(open_source(source))
    stack.enter_context(exclusive(target))
    if not isinstance(clip, VideoFile):
        raise ReportedError(f"{source}: {parameter('chunks')} cuts a video file, not a folder of images")
    carried = carried_streams(clip.other_streams, drop_streams)
    index = index_frames(clip, carried)
    segments = plan_segments(index, chunks.streams, chunks.segment, chunks.warmup)
    job = describe_job(clip, digest, encoding, chunks, segments)
    staging = Staging(target.absolute(), job, segments)  # absolute: Ray workers write there from elsewhere
    todo = [s for s in segments if not staging.done(s)]
    return _ChunkedInput(
        source, target, clip, carried, index, segments, staging, todo, _fewer_segments(index, segments, chunks)
    )


def _fewer_segments(index, segments: list, chunks: Chunks) -> list[Note]:
    """Why fewer segments than streams run, where they do: a stream left idle is said."""
    if len(segments) >= chunks.streams:
        return []
    if len(index.cuts) >= chunks.streams:
        why = f"its keyframes are closer than {parameter('segment')} {chunks.segment:g} s"
    elif len(index.cuts) < index.keyframes:
        why = (
            f"of its {index.keyframes} keyframes, {len(index.cuts)} can start a segment: the others have no "
            "timestamp, or one no later than a frame before them (remuxed into .mkv or .mp4, it cuts finer)"
        )
    else:
        why = (
            f"it has {index.keyframes} keyframe(s), where segments start "
            "(re-encoded with a keyframe every second or two, it cuts finer)"
        )
    return [Note(f"{len(segments)} segment(s) for {parameter('chunks')} {chunks.streams}: {why}")]


def _join_chunked(planned: _ChunkedInput, encoding, scale: int | None, stages=None, warnings=()) -> Upscaled:
    """The finished segments joined into the output."""
    from .video.chunked import join_segments

    join_segments(
        planned.clip, planned.index, planned.segments, planned.staging.paths, planned.target, encoding, planned.carried
    )
    planned.staging.remove()
    size = (planned.clip.width * scale, planned.clip.height * scale) if scale else None
    return Upscaled(
        planned.source,
        planned.target,
        len(planned.index),
        size,
        len(planned.carried),
        segments=len(planned.segments),
        resumed=len(planned.segments) - len(planned.todo),
        stages=stages,
        warnings=[*planned.warnings, *warnings],
    )


def _upscale_chunked(
    source, target, batch, encoding, drop_streams, chunks, digest, overwrite, progress, starting
) -> Upscaled:
    """One video into `target` in segments run as streams of `batch`, resuming a killed run;
    `starting()` once it is planned."""
    from .video.chunked import upscale_segments
    from .video.progress import progress_bar

    batch.reset()  # this input's frames may be of another size than the last one's
    with contextlib.ExitStack() as stack:
        planned = _plan_chunked(source, target, stack, encoding, drop_streams, chunks, digest, overwrite)
        starting()
        times = None
        if planned.todo:
            with progress_bar(source.name, sum(s.frames for s in planned.todo), progress) as tick:
                times = upscale_segments(
                    planned.clip, planned.index, planned.todo, batch, chunks.streams, planned.staging, encoding, tick
                )
        return _join_chunked(planned, encoding, batch.info.scale, times)


def _upscale_on_ray(jobs, model, encoding, drop_streams, chunks, digest, ray: RayCluster, overwrite, progress, report):
    """Every input's segments run by the workers of a Ray cluster (each checked to run the model
    before any work), then joined here."""
    from .video.progress import progress_bar
    from .video.ray_chunks import ModelChoice, RayWorkers, SegmentGroup

    path, backend = resolved_model(model)
    choice = ModelChoice(path.absolute(), backend)  # as every node finds it
    report.model = describe_model(model)
    with RayWorkers(choice, chunks.streams, ray.address, ray.workers) as pool, contextlib.ExitStack() as stack:
        planned: dict[int, _ChunkedInput] = {}
        for key, (source, target) in enumerate(jobs):
            try:
                _check_distinct(source, target)
                planned[key] = _plan_chunked(source, target, stack, encoding, drop_streams, chunks, digest, overwrite)
            except ReportedError as exc:
                report.failed(source, target, exc)
        groups = [
            SegmentGroup(key, item.source.resolve(), item.index, tuple(item.todo[k : k + chunks.streams]), item.staging)
            for key, item in planned.items()
            for k in range(0, len(item.todo), chunks.streams)
        ]
        errors: dict[int, str] = {}
        warnings = []
        if groups:
            report.starting()
            with progress_bar(f"{len(planned)} input(s) on Ray", sum(g.frames for g in groups), progress) as tick:
                errors = pool.run(groups, encoding, tick)
            if pool.deaths:
                warnings.append(
                    Note(
                        f"{pool.deaths} Ray worker(s) died running segments; what they had not written was run by others"
                    )
                )
        for key, item in planned.items():
            try:
                if key in errors:
                    raise ReportedError(errors[key])
                result = _join_chunked(item, encoding, None, warnings=warnings)
            except ReportedError as exc:
                report.failed(item.source, item.target, exc)
                continue
            report.done(result)
