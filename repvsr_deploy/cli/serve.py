"""repvsr-serve: a step graph or engine served by Triton Inference Server (its model repository), a
video streamed through such a server, and the load many streams put on it."""

from pathlib import Path

import click

from ..errors import ReportedError
from ..modelinfo import MAX_STREAMS
from ..runtime.choice import DEVICES
from .errors import debug_option, run_command
from .options import FrameSize, encoding_from, encoding_options

MODEL_NAME = "repvsr"


@click.group("repvsr-serve")
def serve_command():
    """Serve a model's streams with Triton Inference Server, and stream videos through it."""


@serve_command.command("export")
@click.argument("source", metavar="GRAPH_OR_ENGINE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "repository", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="The model repository (created, or added to).")  # fmt: skip
@click.option("--name", default=MODEL_NAME, show_default=True, help="The model's name on the server.")
@click.option("--max-streams", default=8, show_default=True, type=click.IntRange(1, MAX_STREAMS),
              help="Sequences batched into one run (each its own state slot).")  # fmt: skip
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where the Python-backend model runs the graph.")  # fmt: skip
@click.option("--native-size", type=FrameSize(),
              help="Also write NAME_native: the graph run by Triton's own onnxruntime or TensorRT backend, "
              "the state kept by Triton, for frames of this size (WxH).")  # fmt: skip
@click.option("--site-packages", multiple=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A folder where the server's Python finds repvsr-deploy and its runtime (a virtual environment's "
              "site-packages); repeatable [default: the server's Python has them installed].")  # fmt: skip
@debug_option
def export_command(source, repository, name, max_streams, device, native_size, site_packages):
    """Write a Triton model repository serving GRAPH_OR_ENGINE (a streaming step graph: .onnx, OpenVINO's
    .xml, or a TensorRT engine built with --streams): frames RGB uint8 [H, W, 3] in (FRAME) and out (HR),
    one sequence per stream (correlation ID, START, END), up to --max-streams of them in one batch."""
    from ..serve.repository import write_repository

    if not name.isidentifier():
        raise click.BadParameter(f"'{name}': a model name of letters, digits and _", param_hint="--name")
    for folder in write_repository(source, repository, name, max_streams, device, native_size, site_packages):
        click.echo(f"{folder}: {(folder / 'config.pbtxt').name} and version 1")


@serve_command.command("client")
@click.argument("url")
@click.argument("source", metavar="IN", type=click.Path(exists=True, path_type=Path))
@click.argument("target", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--name", default=MODEL_NAME, show_default=True, help="The served model.")
@encoding_options
@click.option("--overwrite", is_flag=True, help="Replace an existing OUT (a file, or a folder that is not empty).")
@debug_option
def client_command(url, source, target, name, codec, crf, preset, bit_depth, audio_codec, drop_streams, overwrite):
    """Upscale IN into OUT through the model served at URL (host:port of Triton's gRPC endpoint), as
    repvsr-upscale writes it: each frame at its time, colour, rotation, audio and subtitles carried.
    The video is one sequence; frames cross as RGB uint8."""
    from ..serve.client import RemoteStream
    from ..upscaling import carried_streams
    from ..video import upscale
    from ..video.progress import progress_bar
    from ..video.sink import open_sink
    from ..video.source import open_source

    encoding = encoding_from(codec, crf, preset, bit_depth, audio_codec)
    if target.resolve() == source.resolve():
        raise ReportedError(f"{target}: the output would overwrite the input")
    with open_source(source) as clip, RemoteStream(url, name) as remote:  # the input checked first
        carried = carried_streams(clip.other_streams, drop_streams)
        with (
            open_sink(target, clip, remote.info.scale, encoding, carried, overwrite) as sink,
            progress_bar(source.name, clip.frame_count) as tick,
        ):
            times = upscale.run(clip, sink, remote, None, tick, carried)
    click.echo(f"{target}: {times.items} frames, {clip.width * remote.info.scale}x{clip.height * remote.info.scale}")


@serve_command.command("bench")
@click.argument("url")
@click.argument("graph", metavar="GRAPH_OR_ENGINE", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--name", default=MODEL_NAME, show_default=True, help="The served model.")
@click.option("--streams", default=4, show_default=True, type=click.IntRange(1, MAX_STREAMS), help="Streams at once.")
@click.option("--frames", default=50, show_default=True, type=click.IntRange(1), help="Frames of each stream.")
@click.option("--size", default="320x180", show_default=True, type=FrameSize(), help="LR frame size.")
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True,
              help="Where GRAPH_OR_ENGINE runs each stream locally, to check the server's answers.")  # fmt: skip
@debug_option
def bench_command(url, graph, name, streams, frames, size, device):
    """Send --streams streams of synthetic frames at once to the model served at URL: frames per
    second, latency per frame (p50, p99), and each stream's frames against GRAPH_OR_ENGINE (what the
    server serves) run locally; exit 1 if any frame is more than one level off."""
    from ..runtime.choice import Backend
    from ..runtime.session import open_session
    from ..serve.load import compare_with_local, load

    open_session(graph, Backend.Auto(device)).close()  # a graph that does not run here is said before the load
    report, outputs = load(url, name, streams, frames, size)
    report = compare_with_local(report, outputs, lambda: open_session(graph, Backend.Auto(device)), size)
    for line in report.lines():
        click.echo(line)
    if report.max_difference > 1:
        raise ReportedError(
            f"a stream's frames are {report.max_difference} levels from its local run: the server mixed streams, "
            "or serves another model than GRAPH_OR_ENGINE"
        )


def main():
    run_command(serve_command)
