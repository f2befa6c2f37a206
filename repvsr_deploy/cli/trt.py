"""repvsr-trt: TensorRT engines for the exported step graphs: build, info, run, check. No torch."""

from pathlib import Path

import click

from ..errors import ReportedError, first_sentence
from .errors import debug_option, run_command
from .options import FrameSize

INSTALL_HINT = "pip install 'repvsr-deploy[gpu]' on a machine with an NVIDIA GPU"
trust_option = click.option("--trust-host-code", is_flag=True,
                            help="Run a version-compatible engine, which carries executable host code.")


@click.group("repvsr-trt")
def trt_command():
    """TensorRT engines for the step graphs that repvsr-export writes."""


@trt_command.command("build")
@click.argument("onnx_path", metavar="MODEL.onnx", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Engine file [default: MODEL.plan]; a JSON sidecar goes beside it.")
@click.option("--profiles", default="720p,1080p,4k", show_default=True,
              help="Frame sizes: 720p, 1080p, 4k or LR WxH; one nested profile each, tuned at its size.")
@click.option("--precision", type=click.Choice(["fp32", "fp16"]), help="[default: the graph's]")
@click.option("--workspace", default=4.0, show_default=True, type=click.FloatRange(min=0.25), help="GiB.")
@click.option("--opt-level", default=3, show_default=True, type=click.IntRange(0, 5),
              help="TensorRT's builder optimization level.")
@click.option("--timing-cache", type=click.Path(dir_okay=False, path_type=Path),
              help="[default: one per GPU and TensorRT version under ~/.cache/repvsr-deploy]")
@click.option("--version-compatible", is_flag=True, help="Engine that newer TensorRT versions can run.")
@click.option("--force", is_flag=True, help="Rebuild even if the engine is up to date.")
@debug_option
def build_command(onnx_path, output, profiles, precision, workspace, opt_level, timing_cache, version_compatible, force):
    """Build the engine of MODEL.onnx (both engines of a bidirectional model), or reuse it if it is
    up to date; a stale one is rebuilt, saying what changed."""
    from ..trt.builder import BuildSettings, build
    from ..trt.profiles import parse_profiles, read_graph

    _, info = read_graph(onnx_path)
    settings = BuildSettings(parse_profiles(profiles, info.size_multiple), precision, workspace, opt_level,
                             timing_cache, version_compatible, force)
    build(onnx_path, output or onnx_path.with_suffix(".plan"), settings, say=click.echo)


@trt_command.command("info")
@click.argument("engine_path", metavar="ENGINE", type=click.Path(dir_okay=False, path_type=Path))
@trust_option
@debug_option
def info_command(engine_path, trust_host_code):
    """What ENGINE was built from and for; its I/O tensors and profiles where TensorRT can load it."""
    from ..trt.cache import read_sidecar, sidecar_path
    from ..trt.engine import describe, load_engine

    if not engine_path.is_file():
        raise ReportedError(f"{engine_path}: no such engine file")
    sidecar = read_sidecar(engine_path)
    if sidecar is None:
        raise ReportedError(f"{engine_path}: no {sidecar_path(engine_path).name} beside it; build engines with repvsr-trt build")
    try:
        engine, sidecar = load_engine(engine_path, trust_host_code)
    except ReportedError as exc:
        key = sidecar.key
        click.echo(f"{engine_path}: {sidecar.info.model} ({sidecar.info.graph} graph), {key.precision}, built "
                   f"{sidecar.built} for {key.gpu} ({key.compute_capability}) with TensorRT {key.tensorrt}, "
                   f"profiles {', '.join(f'{n} {w}x{h}' for n, h, w in key.profiles)}")
        raise ReportedError(f"{engine_path}: cannot load it here, so no I/O details: {exc}") from None
    click.echo("\n".join(describe(engine_path, engine, sidecar)))


@trt_command.command("run")
@click.argument("engine_path", metavar="ENGINE", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--input", "input_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Frames as .npy, float32 [T, 3, H, W] in [0, 1] [default: a synthetic moving clip].")
@click.option("--size", default="320x180", show_default=True, type=FrameSize(), help="LR size of the synthetic clip.")
@click.option("--frames", default=100, show_default=True, type=click.IntRange(1), help="Timed frames.")
@click.option("--warmup", default=10, show_default=True, type=click.IntRange(0), help="Untimed frames first.")
@click.option("--window", default=10, show_default=True, type=click.IntRange(2), help="Clip window (bidirectional).")
@trust_option
@debug_option
def run_engine_command(engine_path, input_path, size, frames, warmup, window, trust_host_code):
    """Run frames through ENGINE in a session and print FPS and latency per frame (median, p90)."""
    from ..bench.timing import time_session
    from ..clips import moving_clip
    from ..runtime.session import open_session

    clip = _read_clip(input_path) if input_path else moving_clip(8, *size)
    session = open_session(engine_path, "tensorrt", window=window, trust_host_code=trust_host_code)
    timing = time_session(session, clip, frames, warmup, engine_path.name)
    height, width = clip.shape[-2:]
    click.echo(
        f"{engine_path}: {frames} frames of {width}x{height} -> {width * 4}x{height * 4}: {timing.fps:.1f} FPS, "
        f"latency median {timing.median_ms:.2f} ms, p90 {timing.p90_ms:.2f} ms (host I/O included; "
        f"{_execution_mode(session)})"
    )


def _execution_mode(session) -> str:
    backend = getattr(session, "backend", None)  # a ClipSession runs its two engines directly
    if backend is not None and backend.cuda_graphs:
        return "CUDA graphs"
    fallback = getattr(backend, "graph_fallback", None)
    return f"direct execution, CUDA graph capture failed: {fallback}" if fallback else "direct execution"


def _read_clip(path: Path):
    import numpy as np

    if not path.is_file():
        raise ReportedError(f"{path}: no such file")
    try:
        clip = np.load(path, mmap_mode="r")
    except Exception as exc:  # numpy fails in its own ways: pickled data, truncation, a bad header
        raise ReportedError(f"{path}: not a .npy array of frames ({first_sentence(exc)})") from None
    if clip.ndim != 4 or clip.shape[1] != 3:
        raise ReportedError(f"{path}: frames must be [T, 3, H, W], got {list(clip.shape)}")
    return clip


@trt_command.command("check")
@debug_option
def check_command():
    """Report whether TensorRT can run here: the library, cuda-python, NVIDIA GPUs."""
    from ..trt import probe

    found = probe()
    click.echo(f"TensorRT:    {found.tensorrt or f'not usable ({found.tensorrt_problem})'}")
    click.echo(f"cuda-python: {found.cuda_python or 'not installed'}")
    gpus = ", ".join(f"{g.name} (compute capability {g.compute_capability})" for g in found.gpus)
    click.echo(f"NVIDIA GPU:  {gpus or f'none ({found.gpu_problem})'}")
    if not found.usable:
        raise ReportedError(f"TensorRT cannot run on this machine ({INSTALL_HINT})")


def main():
    run_command(trt_command)
