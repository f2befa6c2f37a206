"""repvsr-upscale: a video (or a folder of images) upscaled x4 through any backend's session."""

from pathlib import Path

import click

from ..errors import ReportedError
from .errors import debug_option, run_command


def _model_source(ckpt, onnx, engine, graph_backend: str) -> tuple[Path, str]:
    """(model file, backend that runs it): the flag names the backend, whatever the file's suffix."""
    given = [(path, backend) for path, backend in ((ckpt, "torch"), (onnx, graph_backend), (engine, "tensorrt"))
             if path]
    if len(given) > 1:
        raise click.UsageError("give one of --ckpt, --onnx, --engine")
    if given:
        return given[0]
    from ..demo import demo_checkpoint

    return demo_checkpoint(), "torch"


@click.command("repvsr-upscale")
@click.argument("source", metavar="IN", type=click.Path(path_type=Path))
@click.argument("target", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--ckpt", type=click.Path(dir_okay=False, path_type=Path), help="A checkpoint (torch backend).")
@click.option("--onnx", type=click.Path(dir_okay=False, path_type=Path), help="An exported graph (onnxruntime).")
@click.option("--engine", type=click.Path(dir_okay=False, path_type=Path), help="A TensorRT engine.")
@click.option("--graph-backend", type=click.Choice(["onnxruntime", "openvino"]), default="onnxruntime",
              show_default=True, help="What runs the --onnx graph.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--codec", default="libx264", show_default=True, help="Video encoder (FFmpeg's name).")
@click.option("--crf", default=18, show_default=True, type=click.IntRange(0, 63), help="Encoder quality.")
@click.option("--start", default=0, show_default=True, type=click.IntRange(0), help="First frame.")
@click.option("--frames", type=click.IntRange(1), help="How many frames [default: to the end].")
@click.option("--reset-at-cuts", is_flag=True, help="Start from a fresh state at each scene cut.")
@click.option("--cut-threshold", default=0.25, show_default=True, type=click.FloatRange(0, 1),
              help="Mean absolute grey difference that makes a cut.")
@click.option("--window", default=10, show_default=True, type=click.IntRange(2),
              help="Clip window of bidirectional models.")
@click.option("--trust-host-code", is_flag=True, help="Run version-compatible TensorRT engines.")
@click.option("--overwrite", is_flag=True, help="Replace OUT when it is a folder that is not empty.")
@debug_option
def upscale_command(source, target, ckpt, onnx, engine, graph_backend, device, codec, crf, start, frames, reset_at_cuts,
                    cut_threshold, window, trust_host_code, overwrite):
    """Upscale IN (a video file or a folder of images) x4 into OUT (a .mp4/.mkv/.mov/.webm/.avi file,
    or a folder, which gets PNG images). Audio and subtitles are copied, colour metadata carried over.
    OUT appears whole when done, or not at all; a folder is replaced whole (one that is not empty
    only with --overwrite).
    Without --ckpt/--onnx/--engine, the demo RepVSR checkpoint shipped with the package is used."""
    from tqdm import tqdm

    from ..runtime.session import open_session
    from ..video import upscale
    from ..video.scenes import SceneCuts
    from ..video.sink import open_sink
    from ..video.source import open_source

    if target.resolve() == source.resolve():
        raise ReportedError(f"{target}: the output would overwrite the input")
    model, backend = _model_source(ckpt, onnx, engine, graph_backend)
    clip = open_source(source, start, frames)
    session = open_session(model, backend, device, window, trust_host_code)
    scale = session.info.scale
    cuts = SceneCuts(cut_threshold) if reset_at_cuts else None
    with open_sink(target, clip.width * scale, clip.height * scale, clip.rate, clip.colour, codec, crf,
                   clip.other_streams, overwrite) as sink, \
            tqdm(total=clip.frame_count, unit="frame", desc=source.name, dynamic_ncols=True) as bar:
        count = upscale.run(clip, sink, session, cuts, bar.update)
        copied = len(getattr(sink, "copies", ()))
    click.echo(f"{target}: {count} frames, {clip.width * scale}x{clip.height * scale}"
               f"{f', {copied} stream(s) copied' if copied else ''}")


def main():
    run_command(upscale_command)
