"""repvsr-upscale: the command over `repvsr_deploy.upscaling.upscale`, its flags parsed into the
API's options; one line said per input, the others going on when one of many fails."""

import sys
from pathlib import Path

import click

from ..errors import ReportedError
from ..runtime.backends import DEVICES, GRAPH_BACKENDS
from ..upscaling import WARMUP
from ..video.endpoints import DEFAULT_TIMEOUT, PIPE, STREAM_FORMATS, is_url, label, location
from ..video.live import FALLBACKS
from .errors import command_flags, debug_option, run_command
from .options import FiniteRange, encoding_from, encoding_options


@click.command("repvsr-upscale")
@click.argument("paths", metavar="IN... [OUT]", nargs=-1)
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
@click.option(
    "--format",
    "container_format",
    type=click.Choice(list(STREAM_FORMATS)),
    help="Container of OUT when it is - (standard output) or a URL [default: y4m on a pipe; by the URL's scheme: "
    "flv for rtmp, rtsp for rtsp, mpegts for udp, tcp, srt, http].",
)
@click.option(
    "--input-format",
    help="FFmpeg's demuxer for IN when it is - (standard input) or a URL [default: y4m on a pipe; a URL's own].",
)
@click.option(
    "--timeout",
    default=DEFAULT_TIMEOUT,
    show_default=True,
    type=FiniteRange(0.1, 3600),
    help="Seconds an input URL may take to open, or go without data before it has ended (or is reconnected).",
)
@click.option(
    "--live",
    is_flag=True,
    help="IN (- or a URL) arrives in real time: latency stays bounded, frames the model cannot take in time "
    "follow --live-fallback (counted), a lost URL is reconnected --reconnect times.",
)
@click.option(
    "--live-fallback",
    type=click.Choice(FALLBACKS),
    default="bicubic",
    show_default=True,
    help="With --live: a frame the model cannot take in time is passed through as bicubic x4, or dropped.",
)
@click.option(
    "--reconnect",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="With --live and a URL: open it again this many times in a run when it ends, stalls or fails "
    "(the state reset, the gap said on stderr).",
)
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
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT (a file, or a folder that is not empty).")
@click.option(
    "--stats", is_flag=True, help="Print what decoding, the model and encoding each took per frame, at the end."
)
@debug_option
def upscale_command(
    paths, out_dir, inputs_from, ckpt, onnx, engine, bicubic, graph_backend, device, codec, crf, preset, bit_depth,
    audio_codec, drop_streams, container_format, input_format, timeout, live, live_fallback, reconnect, start, frames,
    deinterlace, allow_partial, chunks, segment, warmup, reset_at_cuts, cut_threshold, window, trust_host_code,
    overwrite, stats, ray, workers,
):  # fmt: skip
    """Upscale IN (a video file or a folder of images) x4 into OUT (a .mp4/.mkv/.mov/.webm/.avi file,
    or a folder, which gets PNG images); or each IN into --out-dir. Each frame keeps its time; colour,
    bit depth, rotation and pixel shape are carried; audio and subtitles are copied with their tags,
    cut to the frames upscaled. An output appears whole when done, or not at all; an existing one is
    replaced only with --overwrite. Without --ckpt/--onnx/--engine/--bicubic, the demo RepVSR shipped
    with the package runs, on the fastest backend present.

    IN may be - (standard input: y4m, or --input-format) or a URL (rtmp, rtsp, udp, tcp, http); OUT may
    be - (standard output: y4m, or --format) or a URL, written as the frames come. Messages then go
    to stderr only. --live: the input arrives in real time (see --live-fallback, --reconnect)."""
    from ..upscaling import Chunks, Live, RayCluster, Selection, upscale

    inputs, output = _inputs_and_output(paths, out_dir, inputs_from)
    if ray is None and workers:
        raise click.UsageError("--workers is the number of Ray workers: it goes with --ray")
    for given, flag in ((reconnect, "--reconnect"), (live_fallback != "bicubic", "--live-fallback")):
        if given and not live:
            raise click.UsageError(f"{flag} goes with --live")
    if _given("timeout") and not any(is_url(location(where)) for where in (inputs[0], output) if where is not None):
        raise click.UsageError("--timeout is for a URL input or output")
    to_stdout = str(output) == PIPE  # the stream is all that goes there
    say = (lambda text: click.echo(text, err=True)) if to_stdout else click.echo
    if ray is not None and stats:
        raise click.UsageError("--stats times the stages of one machine; with --ray they run on many")
    flags = command_flags(upscale_command)
    results = upscale(
        inputs,
        output,
        out_dir=out_dir,
        model=_model(ckpt, onnx, engine, bicubic, graph_backend, device, window, trust_host_code),
        encoding=encoding_from(codec, crf, preset, bit_depth, audio_codec, container_format),
        select=Selection(
            start, frames, deinterlace, allow_partial, cut_threshold if reset_at_cuts else None, input_format, timeout
        ),
        chunks=Chunks(chunks, segment, warmup) if chunks else None,
        ray=RayCluster(ray or None, workers) if ray is not None else None,
        live=Live(live_fallback, reconnect) if live else None,
        drop_streams=drop_streams,
        overwrite=overwrite,
        progress=True,
        on_result=lambda result: _say(result, stats, flags, say),
        on_model=lambda description: say(f"model: {description}"),
        on_event=_said_beside_the_progress_bar,
    )
    failed = sum(result.error is not None for result in results)
    if failed:
        raise ReportedError(f"{failed} of {len(results)} inputs failed (each said above); the others are written")


upscale_command.spellings = {
    "scene_cuts": "--reset-at-cuts",
    "inputs": "IN",
    "output": "OUT",
    "format": "--format",
    "live_fallback": "--live-fallback",
}


def _given(name: str) -> bool:
    """The flag was on the command line (not its default)."""
    return click.get_current_context().get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE


def _inputs_and_output(paths: tuple[str, ...], out_dir, inputs_from) -> tuple[list, str | None]:
    """IN OUT, or IN... (and those --inputs-from lists) into --out-dir."""
    if inputs_from:
        if out_dir is None:
            raise click.UsageError("--inputs-from takes --out-dir: where every input is written")
        paths = (*paths, *_listed_inputs(inputs_from))
    if out_dir is None:
        if len(paths) != 2:
            raise click.UsageError("give IN OUT, or IN... --out-dir DIR")
        return [paths[0]], paths[1]
    if not paths:
        raise click.UsageError("no inputs: give IN... or --inputs-from FILE")
    return list(paths), None


def _listed_inputs(list_file: Path) -> list[str]:
    """The paths a list file names, one a line, relative to its folder."""
    try:
        lines = list_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportedError(f"{list_file}: not a readable list of inputs ({exc})") from None
    return [
        str(list_file.parent / line.strip()) for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]


def _model(ckpt, onnx, engine, bicubic: bool, graph_backend: str, device: str, window: int, trust_host_code: bool):
    """The model the flags name: the flag names the backend, whatever the file's suffix (an OpenVINO
    model given to --onnx runs on OpenVINO); none: the demo."""
    from ..runtime.backends import backend_for
    from ..runtime.choice import Backend
    from ..upscaling import Model

    given = [
        (path, backend) for path, backend in ((ckpt, "torch"), (onnx, graph_backend), (engine, "tensorrt")) if path
    ]
    if len(given) + bicubic > 1:
        raise click.UsageError("give one of --ckpt, --onnx, --engine, --bicubic")
    path, backend = given[0] if given else (None, "auto")
    if onnx and backend_for(onnx).name == "openvino":
        backend = "openvino"
    return Model(path, Backend.named(backend, device, trust_host_code=trust_host_code), bicubic, window)


def _say(result, stats: bool, flags: dict[str, str], say) -> None:
    """An input's lines by `say` (stdout, or stderr where stdout carries the video); its error and
    warnings on stderr."""
    if result.error is not None:
        message = result.error.spelled(flags)
        named = message if message.startswith(str(result.source)) else f"{result.source}: {message}"
        click.echo(f"repvsr-upscale: {named}", err=True)
        return
    for warning in result.warnings:
        click.echo(f"repvsr-upscale: warning: {warning.spelled(flags)}", err=True)
    if result.resumed:
        say(f"{result.target}: resuming: {result.resumed} of {result.segments} segments were done")
    parts = [f"{result.frames} frames"]
    parts += [f"{result.size[0]}x{result.size[1]}"] if result.size else []
    parts += [f"{result.segments} segment{'s' * (result.segments != 1)}"] if result.segments is not None else []
    parts += [f"{result.carried} stream(s) carried"] if result.carried else []
    say(f"{label(result.target, output=True)}: {', '.join(parts)}")
    if result.live is not None:
        say(result.live.describe())
    if stats and result.stages is not None:
        say(f"stages: {result.stages.describe()}")


def _said_beside_the_progress_bar(event: str) -> None:
    """A live run's event on stderr, on a line of its own above the progress bar."""
    from tqdm import tqdm

    tqdm.write(f"repvsr-upscale: {event}", file=sys.stderr)


def main():
    run_command(upscale_command)
