"""repvsr-upscale: videos (or folders of images) upscaled x4 through any backend's session: one
IN OUT, or many inputs into --out-dir, one line each, the others going on when one fails."""

import contextlib
from dataclasses import dataclass
from pathlib import Path

import click

from ..errors import ReportedError
from ..runtime.backends import DEVICES, GRAPH_BACKENDS
from .errors import debug_option, run_command
from .options import FiniteRange, encoding_options

WARMUP = 8  # frames before a segment that prime the state at its seam (benchmarks/chunk_seams.py)


def _model_file(ckpt, onnx, engine) -> Path:
    """The model file the run reads (the demo's when none is given)."""
    from ..demo import demo_model

    return next((path for path in (ckpt, onnx, engine) if path), None) or demo_model()[0]


def _chosen_model(ckpt, onnx, engine, graph_backend: str, device: str) -> tuple[Path, str, str]:
    """(model file, backend, device) the flags name: the flag names the backend, whatever the file's
    suffix; no model: the demo on the fastest backend present."""
    from ..runtime.backends import backend_for

    if onnx and backend_for(onnx).name == "openvino":  # an OpenVINO IR model (repvsr-quantize)
        graph_backend = "openvino"
    given = [
        (path, backend) for path, backend in ((ckpt, "torch"), (onnx, graph_backend), (engine, "tensorrt")) if path
    ]
    if len(given) > 1:
        raise click.UsageError("give one of --ckpt, --onnx, --engine, --bicubic")
    if given:
        return *given[0], device
    from ..demo import demo_model

    model, backend, fastest_device = demo_model()
    return model, backend, fastest_device if device == "auto" else device


def _open_model(
    ckpt,
    onnx,
    engine,
    bicubic: bool,
    graph_backend: str,
    device: str,
    window: int,
    trust_host_code: bool,
    streams: bool,
):
    """The session (with `streams`, a batch of streams) over the model the flags name."""
    from ..runtime.session import Session, open_session
    from ..runtime.streams import open_streams

    if bicubic:
        if ckpt or onnx or engine:
            raise click.UsageError("give one of --ckpt, --onnx, --engine, --bicubic")
        if streams:
            raise click.UsageError("--chunks runs a model as streams of a batch; --bicubic is no model")
        from ..runtime.bicubic_backend import BicubicBackend

        return Session(BicubicBackend())
    model, backend, device = _chosen_model(ckpt, onnx, engine, graph_backend, device)
    if streams:
        return open_streams(model, backend, device)
    return open_session(model, backend, device, window, trust_host_code)


def carried_streams(streams: list, dropped: tuple[str, ...]) -> list:
    """The input's audio and subtitle streams less those --drop-stream names (index or kind)."""
    known = {str(s.index) for s in streams} | {s.type for s in streams}
    for name in dropped:
        if name not in known:
            raise click.BadParameter(
                f"'{name}' is none of the input's audio or subtitle streams "
                f"(indexes {', '.join(sorted(known - {'audio', 'subtitle'})) or 'none'}, "
                "or audio, subtitle)",
                param_hint="--drop-stream",
            )
    return [s for s in streams if str(s.index) not in dropped and s.type not in dropped]


def _listed_inputs(list_file: Path) -> list[Path]:
    """The paths a list file names, one a line, relative to its folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportedError(f"{list_file}: not a readable list of inputs ({exc})") from None
    return [list_file.parent / line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _jobs(paths: tuple[Path, ...], out_dir: Path | None) -> list[tuple[Path, Path]]:
    """(IN, OUT) pairs: IN OUT, or each IN into `out_dir` under its own name (a suffix of no video
    container we write becomes .mkv); two inputs may not make one output."""
    from ..video.encoders import CONTAINERS

    if out_dir is None:
        if len(paths) != 2:
            raise click.UsageError("give IN OUT, or IN... --out-dir DIR")
        return [(paths[0], paths[1])]
    if not paths:
        raise click.UsageError("no inputs: give IN... or --inputs-from FILE")
    jobs = [
        (path, out_dir / (path.name if path.suffix.lower() in CONTAINERS or path.is_dir() else path.stem + ".mkv"))
        for path in paths
    ]
    outputs: dict[Path, Path] = {}
    for source, target in jobs:
        if target in outputs:
            raise click.UsageError(f"{outputs[target]} and {source} would both be written to {target}")
        outputs[target] = source
    return jobs


@click.command("repvsr-upscale")
@click.argument("paths", metavar="IN... [OUT]", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Upscale every IN into this folder, under its own name; one failing does not stop the others.",
)
@click.option(
    "--inputs-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="More inputs (with --out-dir): a text file of paths, one a line, relative to its folder; "
    "blank lines and lines starting with # left out.",
)
@click.option("--ckpt", type=click.Path(dir_okay=False, path_type=Path), help="A checkpoint (torch backend).")
@click.option(
    "--onnx",
    type=click.Path(dir_okay=False, path_type=Path),
    help="An exported or quantized graph: .onnx (run by --graph-backend) or OpenVINO's .xml (repvsr-quantize).",
)
@click.option("--engine", type=click.Path(dir_okay=False, path_type=Path), help="A TensorRT engine.")
@click.option("--bicubic", is_flag=True, help="Bicubic x4 instead of a model (the baseline).")
@click.option(
    "--graph-backend",
    type=click.Choice(GRAPH_BACKENDS),
    default="onnxruntime",
    show_default=True,
    help="What runs the --onnx graph.",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@encoding_options
@click.option("--start", default=0, show_default=True, type=click.IntRange(0), help="First frame.")
@click.option("--frames", type=click.IntRange(1), help="How many frames, at most [default: to the end].")
@click.option("--deinterlace", is_flag=True, help="Make interlaced video progressive first (bwdif).")
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Upscale what decodes of a truncated or corrupt input (said on stderr) instead of refusing it.",
)
@click.option(
    "--chunks",
    type=click.IntRange(1),
    help="Run the video in segments cut at keyframes, this many at a time as the streams of one batch; "
    "an interrupted run resumes where it stopped when run again.",
)
@click.option(
    "--segment",
    default=30.0,
    show_default=True,
    type=FiniteRange(0.1, 3600),
    help="With --chunks: the least length of a segment, in seconds.",
)
@click.option(
    "--warmup",
    default=WARMUP,
    show_default=True,
    type=click.IntRange(0),
    help="With --chunks: frames run before each segment to prime the state at the seam (their output dropped).",
)
@click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="",
    metavar="[ADDRESS]",
    help="With --chunks: run the segments on a Ray cluster (at ADDRESS; alone: the one Ray finds, or a new local "
    "one); inputs, outputs and the model on storage every node sees.",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    help="With --ray: Ray workers, each a batch of --chunks streams [default: one per GPU of the cluster, "
    "or per CPU where it has none].",
)
@click.option("--reset-at-cuts", is_flag=True, help="Start from a fresh state at each scene cut.")
@click.option(
    "--cut-threshold",
    default=0.25,
    show_default=True,
    type=FiniteRange(0, 1),
    help="Mean absolute grey difference that makes a cut.",
)
@click.option(
    "--window", default=10, show_default=True, type=click.IntRange(2), help="Clip window of bidirectional models."
)
@click.option("--trust-host-code", is_flag=True, help="Run version-compatible TensorRT engines.")
@click.option("--overwrite", is_flag=True, help="Replace OUT when it is a folder that is not empty.")
@click.option(
    "--stats", is_flag=True, help="Print what decoding, the model and encoding each took per frame, at the end."
)
@debug_option
def upscale_command(
    paths,
    out_dir,
    inputs_from,
    ckpt,
    onnx,
    engine,
    bicubic,
    graph_backend,
    device,
    codec,
    crf,
    preset,
    bit_depth,
    audio_codec,
    drop_stream,
    start,
    frames,
    deinterlace,
    allow_partial,
    chunks,
    segment,
    warmup,
    reset_at_cuts,
    cut_threshold,
    window,
    trust_host_code,
    overwrite,
    stats,
    ray_address,
    workers,
):
    """Upscale IN (a video file or a folder of images) x4 into OUT (a .mp4/.mkv/.mov/.webm/.avi file,
    or a folder, which gets PNG images); or each IN into --out-dir. Each frame keeps its time; colour,
    bit depth, rotation and pixel shape are carried; audio and subtitles are copied with their tags,
    cut to the frames upscaled. An output appears whole when done, or not at all; a folder is replaced
    whole (one that is not empty only with --overwrite). Without --ckpt/--onnx/--engine/--bicubic, the
    demo RepVSR shipped with the package runs, on the fastest backend present."""
    from ..video.encoders import Encoding

    if inputs_from:
        if out_dir is None:
            raise click.UsageError("--inputs-from takes --out-dir: where every input is written")
        paths = (*paths, *_listed_inputs(inputs_from))
    jobs = _jobs(paths, out_dir)
    encoding = Encoding(codec, crf, preset, bit_depth and int(bit_depth), audio_codec)
    chunking = None
    if chunks:
        _check_chunking(start, frames, deinterlace, allow_partial, reset_at_cuts)
        if engine:
            _check_engine_streams(engine, chunks)
        chunking = Chunking(chunks, segment, warmup, _model_digest(_model_file(ckpt, onnx, engine)))
    if ray_address is not None:
        _check_ray(chunking, bicubic, stats)
    elif workers:
        raise click.UsageError("--workers is the number of Ray workers: it goes with --ray")
    made_out_dir = out_dir is not None and not out_dir.exists()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        if ray_address is not None:
            from ..video.ray_chunks import ModelChoice

            path, backend, model_device = _chosen_model(ckpt, onnx, engine, graph_backend, device)
            model = ModelChoice(Path(path).absolute(), backend, model_device)  # as every node finds it
            failed = _upscale_on_ray(jobs, model, encoding, drop_stream, chunking, ray_address or None, workers)
        else:
            failed = _upscale_here(
                jobs, ckpt, onnx, engine, bicubic, graph_backend, device, window, trust_host_code, chunking, encoding,
                drop_stream, start, frames, deinterlace, allow_partial, cut_threshold if reset_at_cuts else None,
                overwrite, stats,
            )  # fmt: skip
    finally:
        if made_out_dir and not any(out_dir.iterdir()):  # nothing written: no empty folder left behind
            out_dir.rmdir()
    if failed:
        raise ReportedError(f"{failed} of {len(jobs)} inputs failed (each said above); the others are written")


def _upscale_here(
    jobs, ckpt, onnx, engine, bicubic, graph_backend, device, window, trust_host_code, chunking, encoding,
    drop_stream, start, frames, deinterlace, allow_partial, cut_threshold, overwrite, stats,
) -> int:  # fmt: skip
    """Every input through one session (or batch of streams) on this machine, one line each;
    returns how many inputs failed."""
    failed = 0
    with _open_model(
        ckpt, onnx, engine, bicubic, graph_backend, device, window, trust_host_code, streams=chunking is not None
    ) as session:
        for source, target in jobs:
            try:
                if target.resolve() == source.resolve():
                    raise ReportedError(f"{target}: the output would overwrite the input")
                if chunking:
                    lines = _upscale_chunked(source, target, session, encoding, drop_stream, chunking, stats)
                else:
                    lines = _upscale_one(
                        source, target, session, encoding, drop_stream, start, frames, deinterlace,
                        allow_partial, cut_threshold, overwrite, stats,
                    )  # fmt: skip
            except (ReportedError, click.BadParameter) as exc:  # this input's (a --drop-stream it lacks too)
                if len(jobs) == 1:
                    raise
                failed += 1
                message = exc.format_message() if isinstance(exc, click.BadParameter) else str(exc)
                click.echo(f"repvsr-upscale: {source}: {message}", err=True)
                continue
            for line in lines:
                click.echo(line)
    return failed


def _check_ray(chunking, bicubic: bool, stats: bool) -> None:
    """--ray runs chunks of a model: refuse what it does not take, before any work."""
    if chunking is None:
        raise click.UsageError("--ray runs videos in segments: give --chunks K (the streams of each worker's batch)")
    if bicubic:
        raise click.UsageError("--ray runs a model's streams; --bicubic is no model")
    if stats:
        raise click.UsageError("--stats times the stages of one machine; with --ray they run on many")


def _upscale_one(
    source, target, session, encoding, drop_stream, start, frames, deinterlace, allow_partial, cut_threshold,
    overwrite, stats,
) -> list[str]:  # fmt: skip
    """Upscale one input into `target` through `session`; the lines that report it (warnings to stderr)."""

    from ..video import upscale
    from ..video.scenes import SceneCuts
    from ..video.sink import open_sink
    from ..video.source import open_source

    scale = session.info.scale
    cuts = SceneCuts(cut_threshold) if cut_threshold is not None else None
    with open_source(source, start, frames, deinterlace, allow_partial) as clip:
        carried = carried_streams(clip.other_streams, drop_stream)
        with (
            open_sink(target, clip, scale, encoding, carried, overwrite) as sink,
            progress_bar(source.name, clip.frame_count) as tick,
        ):
            times = upscale.run(clip, sink, session, cuts, tick, carried)
    if clip.shortfall:
        click.echo(
            f"repvsr-upscale: warning: {clip.shortfall}; {target} holds the {times.items} frames that decoded", err=True
        )
    copied = len(sink.carried)
    lines = [
        f"{target}: {times.items} frames, {clip.width * scale}x{clip.height * scale}"
        f"{f', {copied} stream(s) carried' if copied else ''}"
    ]
    return lines + ([f"stages: {times.describe()}"] if stats else [])


@contextlib.contextmanager
def progress_bar(label: str, total: int | None):
    """A frame counter on stderr (its `update`); cleared if the work fails, so the error is the one line left."""
    from tqdm import tqdm

    with tqdm(total=total, unit="frame", desc=label, dynamic_ncols=True) as bar:
        try:
            yield bar.update
        except BaseException:
            bar.leave = False
            raise


@dataclass(frozen=True)
class Chunking:
    streams: int
    seconds: float
    warmup: int
    model_digest: str


def _check_chunking(start, frames, deinterlace, allow_partial, reset_at_cuts) -> None:
    """--chunks runs whole, complete, progressive inputs: refuse what it does not take, before any work."""
    for given, flag in (
        (start, "--start"),
        (frames, "--frames"),
        (deinterlace, "--deinterlace"),
        (allow_partial, "--allow-partial"),
        (reset_at_cuts, "--reset-at-cuts"),
    ):
        if given:
            raise click.UsageError(f"--chunks runs a whole video: it does not take {flag}")


def _check_engine_streams(engine: Path, chunks: int) -> None:
    """An engine runs batches of at most the streams it was built for: more is refused before any work."""
    from ..trt.engine import read_engine_sidecar

    built = read_engine_sidecar(engine).key.streams
    if built < chunks:
        raise ReportedError(
            f"{engine}: built for at most {built} stream(s) a run, and --chunks {chunks} runs {chunks}; "
            f"rebuild it with repvsr-trt build --streams {chunks}"
        )


def _model_digest(path: Path) -> str:
    """SHA-256 of the model file (with an OpenVINO model's weights, its .bin beside its .xml)."""
    from ..trt.cache import file_sha256

    path = Path(path)
    files = [path, path.with_suffix(".bin")] if path.suffix.lower() == ".xml" else [path]
    for file in files:
        if not file.is_file():
            raise ReportedError(f"{file}: no such model file")
    return "+".join(file_sha256(file) for file in files)


@dataclass
class _ChunkedInput:
    """One input planned for a chunked run: its segments, those still to do, and where they go."""

    source: Path
    target: Path
    clip: object
    carried: list
    index: object
    segments: list
    staging: object
    todo: list


def _plan_chunked(source, target, stack: contextlib.ExitStack, encoding, drop_stream, chunking) -> _ChunkedInput:
    """Open `source` and lock `target` (both held by `stack`), cut the video into segments and
    take those an interrupted run of the same job finished."""
    from ..atomic import exclusive
    from ..video.chunked import Staging, describe_job
    from ..video.encoders import CONTAINERS
    from ..video.segments import index_frames, plan_segments
    from ..video.sink import is_image_folder
    from ..video.source import VideoFile, open_source

    if is_image_folder(target):
        raise ReportedError(f"{target}: --chunks writes a video file, not a folder of images")
    if target.suffix.lower() not in CONTAINERS:
        raise ReportedError(f"{target}: unknown video container (known: {', '.join(CONTAINERS)})")
    clip = stack.enter_context(open_source(source))
    stack.enter_context(exclusive(target))
    if not isinstance(clip, VideoFile):
        raise ReportedError(f"{source}: --chunks cuts a video file, not a folder of images")
    carried = carried_streams(clip.other_streams, drop_stream)
    index = index_frames(clip, carried)
    segments = plan_segments(index, chunking.streams, chunking.seconds, chunking.warmup)
    job = describe_job(clip, chunking.model_digest, encoding, chunking.streams, chunking.seconds, chunking.warmup)
    staging = Staging(target.absolute(), job, segments)  # absolute: Ray workers write there from elsewhere
    todo = [s for s in segments if not staging.done(s)]
    return _ChunkedInput(source, target, clip, carried, index, segments, staging, todo)


def _resumed_line(planned: _ChunkedInput) -> list[str]:
    done = len(planned.segments) - len(planned.todo)
    return [f"{planned.target}: resuming: {done} of {len(planned.segments)} segments were done"] if done else []


def _join_chunked(planned: _ChunkedInput, encoding, scale: int | None) -> str:
    """The finished segments joined into the output; the line that reports it."""
    from ..video.chunked import join_segments

    join_segments(
        planned.clip,
        planned.index,
        planned.segments,
        planned.staging.paths,
        planned.target,
        encoding,
        planned.carried,
    )
    planned.staging.remove()
    copied = len(planned.carried)
    size = f", {planned.clip.width * scale}x{planned.clip.height * scale}" if scale else ""
    return (
        f"{planned.target}: {len(planned.index.pts)} frames{size}, {len(planned.segments)} segments"
        f"{f', {copied} stream(s) carried' if copied else ''}"
    )


def _upscale_chunked(source, target, batch, encoding, drop_stream, chunking: Chunking, stats) -> list[str]:
    """Upscale one video into `target` in segments run as streams of `batch`, resuming a killed run."""
    from ..video.chunked import upscale_segments

    batch.reset()  # this input's frames may be of another size than the last one's
    with contextlib.ExitStack() as stack:
        planned = _plan_chunked(source, target, stack, encoding, drop_stream, chunking)
        lines = _resumed_line(planned)
        times = None
        if planned.todo:
            with progress_bar(source.name, sum(s.frames for s in planned.todo)) as tick:
                times = upscale_segments(
                    planned.clip, planned.index, planned.todo, batch, chunking.streams, planned.staging, encoding, tick
                )
        lines.append(_join_chunked(planned, encoding, batch.info.scale))
    return lines + ([f"stages: {times.describe()}"] if stats and times else [])


def _upscale_on_ray(jobs, model, encoding, drop_stream, chunking: Chunking, address, workers) -> int:
    """Every input's segments run by the workers of a Ray cluster (each checked to run the model
    before any work), then joined here; each input's lines said; returns how many inputs failed."""
    from ..video.ray_chunks import RayWorkers, SegmentGroup

    failed = 0

    def report(source, message: str) -> None:
        nonlocal failed
        if len(jobs) == 1:
            raise ReportedError(message)
        failed += 1
        click.echo(f"repvsr-upscale: {source}: {message}", err=True)

    with RayWorkers(model, chunking.streams, address, workers) as pool, contextlib.ExitStack() as stack:
        planned: dict[int, _ChunkedInput] = {}
        for key, (source, target) in enumerate(jobs):
            try:
                if target.resolve() == source.resolve():
                    raise ReportedError(f"{target}: the output would overwrite the input")
                planned[key] = _plan_chunked(source, target, stack, encoding, drop_stream, chunking)
            except (ReportedError, click.BadParameter) as exc:
                report(source, exc.format_message() if isinstance(exc, click.BadParameter) else str(exc))
        for item in planned.values():
            for line in _resumed_line(item):
                click.echo(line)
        groups = [
            SegmentGroup(
                key, item.source.resolve(), item.index, tuple(item.todo[k : k + chunking.streams]), item.staging
            )
            for key, item in planned.items()
            for k in range(0, len(item.todo), chunking.streams)
        ]
        errors = {}
        if groups:
            with progress_bar(f"{len(planned)} input(s) on Ray", sum(g.frames for g in groups)) as tick:
                errors = pool.run(groups, encoding, tick)
            if pool.deaths:
                click.echo(
                    f"repvsr-upscale: warning: {pool.deaths} Ray worker(s) died running segments; "
                    "what they had not written was run by others",
                    err=True,
                )
        for key, item in planned.items():
            if key in errors:
                report(item.source, errors[key])
                continue
            click.echo(_join_chunked(item, encoding, None))
    return failed


def main():
    run_command(upscale_command)
