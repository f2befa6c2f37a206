"""repvsr-upscale: videos (or folders of images) upscaled x4 through any backend's session: one
IN OUT, or many inputs into --out-dir, one line each, the others going on when one fails."""

from pathlib import Path

import click

from ..errors import ReportedError
from ..runtime.backends import DEVICES, GRAPH_BACKENDS
from .errors import debug_option, run_command
from .options import FiniteRange


def _open_model(ckpt, onnx, engine, bicubic: bool, graph_backend: str, device: str, window: int, trust_host_code: bool):
    """The session: the flag names the backend, whatever the file's suffix; no model: the demo on
    the fastest backend present."""
    from ..runtime.backends import backend_for
    from ..runtime.session import Session, open_session

    if onnx and backend_for(onnx).name == "openvino":  # an OpenVINO IR model (repvsr-quantize)
        graph_backend = "openvino"
    given = [
        (path, backend) for path, backend in ((ckpt, "torch"), (onnx, graph_backend), (engine, "tensorrt")) if path
    ]
    if len(given) + bicubic > 1:
        raise click.UsageError("give one of --ckpt, --onnx, --engine, --bicubic")
    if bicubic:
        from ..runtime.bicubic_backend import BicubicBackend

        return Session(BicubicBackend())
    if given:
        return open_session(*given[0], device, window, trust_host_code)
    from ..demo import demo_model

    model, backend, fastest_device = demo_model()
    return open_session(model, backend, fastest_device if device == "auto" else device, window)


def _carried(streams: list, dropped: tuple[str, ...]) -> list:
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


def _jobs(paths: tuple[Path, ...], out_dir: Path | None) -> list[tuple[Path, Path]]:
    """(IN, OUT) pairs: IN OUT, or each IN into `out_dir` under its own name (a suffix of no video
    container we write becomes .mkv); two inputs may not make one output."""
    from ..video.encoders import CONTAINERS

    if out_dir is None:
        if len(paths) != 2:
            raise click.UsageError("give IN OUT, or IN... --out-dir DIR")
        return [(paths[0], paths[1])]
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
@click.argument("paths", metavar="IN... [OUT]", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Upscale every IN into this folder, under its own name; one failing does not stop the others.",
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
@click.option("--codec", help="Video encoder (FFmpeg's name) [default: the container's for the bit depth].")
@click.option("--crf", type=click.IntRange(0, 63), help="Encoder quality, for encoders with a crf [default: 18].")
@click.option("--preset", help="Encoder speed, for encoders with presets [default: theirs; libx265: faster].")
@click.option("--bit-depth", type=click.Choice(["8", "10"]), help="Of the output video [default: the input's].")
@click.option("--audio-codec", help="Re-encode the audio with this encoder (for a container that cannot hold it).")
@click.option(
    "--drop-stream",
    multiple=True,
    metavar="INDEX|audio|subtitle",
    help="Leave an input stream out (its index, or every audio or subtitle stream); repeatable.",
)
@click.option("--start", default=0, show_default=True, type=click.IntRange(0), help="First frame.")
@click.option("--frames", type=click.IntRange(1), help="How many frames, at most [default: to the end].")
@click.option("--deinterlace", is_flag=True, help="Make interlaced video progressive first (bwdif).")
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Upscale what decodes of a truncated or corrupt input (said on stderr) instead of refusing it.",
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
    reset_at_cuts,
    cut_threshold,
    window,
    trust_host_code,
    overwrite,
    stats,
):
    """Upscale IN (a video file or a folder of images) x4 into OUT (a .mp4/.mkv/.mov/.webm/.avi file,
    or a folder, which gets PNG images); or each IN into --out-dir. Each frame keeps its time; colour,
    bit depth, rotation and pixel shape are carried; audio and subtitles are copied with their tags,
    cut to the frames upscaled. An output appears whole when done, or not at all; a folder is replaced
    whole (one that is not empty only with --overwrite). Without --ckpt/--onnx/--engine/--bicubic, the
    demo RepVSR shipped with the package runs, on the fastest backend present."""
    from ..video.encoders import Encoding

    jobs = _jobs(paths, out_dir)
    encoding = Encoding(codec, crf, preset, bit_depth and int(bit_depth), audio_codec)
    failed = 0
    with _open_model(ckpt, onnx, engine, bicubic, graph_backend, device, window, trust_host_code) as session:
        made_out_dir = out_dir is not None and not out_dir.exists()
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
        try:
            for source, target in jobs:
                try:
                    lines = _upscale_one(
                        source, target, session, encoding, drop_stream, start, frames, deinterlace, allow_partial,
                        cut_threshold if reset_at_cuts else None, overwrite, stats,
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
        finally:
            if made_out_dir and not any(out_dir.iterdir()):  # nothing written: no empty folder left behind
                out_dir.rmdir()
    if failed:
        raise ReportedError(f"{failed} of {len(jobs)} inputs failed (each said above); the others are written")


def _upscale_one(
    source, target, session, encoding, drop_stream, start, frames, deinterlace, allow_partial, cut_threshold,
    overwrite, stats,
) -> list[str]:  # fmt: skip
    """Upscale one input into `target` through `session`; the lines that report it (warnings to stderr)."""
    from tqdm import tqdm

    from ..video import upscale
    from ..video.scenes import SceneCuts
    from ..video.sink import open_sink
    from ..video.source import open_source

    if target.resolve() == source.resolve():
        raise ReportedError(f"{target}: the output would overwrite the input")
    scale = session.info.scale
    cuts = SceneCuts(cut_threshold) if cut_threshold is not None else None
    with open_source(source, start, frames, deinterlace, allow_partial) as clip:
        carried = _carried(clip.other_streams, drop_stream)
        with (
            open_sink(target, clip, scale, encoding, carried, overwrite) as sink,
            tqdm(total=clip.frame_count, unit="frame", desc=source.name, dynamic_ncols=True) as bar,
        ):
            try:
                times = upscale.run(clip, sink, session, cuts, bar.update, carried)
            except BaseException:
                bar.leave = False  # the bar is cleared: the error is the one line left
                raise
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


def main():
    run_command(upscale_command)
