"""repvsr-trt: TensorRT engines for the exported step graphs: build, info, run, check. No torch."""

from pathlib import Path

import click

from ..errors import ReportedError, first_sentence
from ..modelinfo import ENGINE_PRECISIONS, MAX_STREAMS
from .errors import command_flags, debug_option, run_command
from .options import FiniteRange, FrameSize

trust_option = click.option(
    "--trust-host-code", is_flag=True, help="Run a version-compatible engine, which carries executable host code."
)


@click.group("repvsr-trt")
def trt_command():
    """TensorRT engines for the step graphs that repvsr-export writes."""


@trt_command.command("build")
@click.argument("onnx_path", metavar="MODEL.onnx", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Engine file [default: MODEL.plan]; a JSON sidecar goes beside it.",
)
@click.option(
    "--profiles",
    default="720p,1080p,4k",
    show_default=True,
    help="Frame sizes: 720p, 1080p, 4k or LR WxH; one nested profile each, tuned at its size.",
)
@click.option("--precision", type=click.Choice(ENGINE_PRECISIONS), help="[default: the graph's]")
@click.option(
    "--workspace",
    type=FiniteRange(min=0.25),
    help="Scratch memory limit in GiB [default: the library's, the GPU's memory].",
)
@click.option(
    "--opt-level",
    default=3,
    show_default=True,
    type=click.IntRange(0, 5),
    help="TensorRT's builder optimization level.",
)
@click.option(
    "--timing-cache",
    type=click.Path(dir_okay=False, path_type=Path),
    help="[default: one per GPU and TensorRT version under ~/.cache/repvsr-deploy]",
)
@click.option(
    "--streams",
    default=1,
    show_default=True,
    type=click.IntRange(1, MAX_STREAMS),
    help="Most streams a run takes (a streaming model's batch: repvsr-upscale --chunks, StreamBatch); "
    "each profile is tuned for this many.",
)
@click.option("--version-compatible", is_flag=True, help="Engine that newer TensorRT versions can run (TensorRT only).")
@click.option("--force", is_flag=True, help="Rebuild even if the engine is up to date.")
@click.option(
    "--flavor",
    type=click.Choice(["tensorrt", "rtx"]),
    default="tensorrt",
    show_default=True,
    help="TensorRT 10/11 (builds on the GPU it targets) or TensorRT for RTX (builds anywhere, GPU or "
    "not, for a set of compute capabilities; the engine is specialised on the GPU at load).",
)
@click.option(
    "--compute-capability",
    "compute_capabilities",
    default="",
    help="--flavor rtx: the GPUs to build for, e.g. 8.6,8.9 [default: TensorRT for RTX's portable set].",
)
@debug_option
def build_command(
    onnx_path,
    output,
    profiles,
    precision,
    workspace,
    opt_level,
    timing_cache,
    streams,
    version_compatible,
    force,
    flavor,
    compute_capabilities,
):
    """Build the engine of MODEL.onnx (both engines of a bidirectional model), or reuse it if it is
    up to date; a stale one is rebuilt, saying what changed."""
    from ..graph_file import read_graph
    from ..trt.builder import BuildSettings, build
    from ..trt.profiles import parse_profiles

    _, info = read_graph(onnx_path)
    settings = BuildSettings(
        parse_profiles(profiles, info.size_multiple),
        precision,
        workspace,
        opt_level,
        timing_cache,
        version_compatible,
        force,
        flavor,
        compute_capabilities,
        streams,
    )
    build(onnx_path, output or onnx_path.with_suffix(".plan"), settings, say=click.echo)


@trt_command.command("info")
@click.argument("engine_path", metavar="ENGINE", type=click.Path(dir_okay=False, path_type=Path))
@trust_option
@debug_option
def info_command(engine_path, trust_host_code):
    """What ENGINE was built from and for (its sidecar; no GPU needed), and its I/O tensors as
    TensorRT loads them where this machine can."""
    from ..trt.engine import describe_engine, describe_sidecar, load_engine, read_engine_sidecar

    sidecar = read_engine_sidecar(engine_path)
    click.echo("\n".join(describe_sidecar(engine_path, sidecar)))
    try:
        loaded = load_engine(engine_path, trust_host_code)
    except ReportedError as exc:
        click.echo(f"  not loaded here: {exc.spelled(command_flags(trt_command))}")
        return
    click.echo("\n".join(describe_engine(loaded)))


@trt_command.command("run")
@click.argument("engine_path", metavar="ENGINE", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--input",
    "input_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Frames as .npy: float32 [T, 3, H, W], values from 0 to 1 [default: a synthetic moving clip].",
)
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
    from ..runtime.choice import Backend
    from ..runtime.session import open_session

    clip = _read_clip(input_path) if input_path else moving_clip(8, *size)
    with open_session(engine_path, Backend.TensorRT(trust_host_code), window) as session:
        timing = time_session(session, clip, frames, warmup, include_io=True)
        mode = _execution_mode(session)
    height, width = clip.shape[-2:]
    scale = session.info.scale
    click.echo(
        f"{engine_path}: {frames} frames of {width}x{height} -> {width * scale}x{height * scale}: {timing.fps:.1f} FPS, "
        f"latency median {timing.median_ms:.2f} ms, p90 {timing.p90_ms:.2f} ms (host I/O included; {mode})"
    )


def _execution_mode(session) -> str:
    backend = getattr(session, "backend", None)  # a ClipSession runs its two engines directly
    return backend.execution_mode if backend is not None else "direct execution"


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
    """Report what this machine can do with each TensorRT flavour: its library, cuda-python, NVIDIA GPUs."""
    from ..trt import probe
    from ..trt.flavors import FLAVORS

    found = probe()
    for name, flavor in FLAVORS.items():
        version, problem = found.libraries[name]
        click.echo(f"{flavor.title + ':':18} {version or f'not usable ({problem})'}")
    click.echo(f"{'cuda-python:':18} {found.cuda_python or 'not installed'}")
    gpus = ", ".join(f"{g.name} (compute capability {g.compute_capability})" for g in found.gpus)
    click.echo(f"{'NVIDIA GPU:':18} {gpus or f'none ({found.gpu_problem})'}")
    for name, flavor in FLAVORS.items():
        can = [what for what, ok in (("build", found.can_build(name)), ("run", found.can_run(name))) if ok]
        click.echo(f"{flavor.title} engines: {' and '.join(can) + ' here' if can else 'neither built nor run here'}")
    if not found.usable:
        builds = " (TensorRT for RTX still builds them here)" if found.can_build("rtx") else ""
        raise ReportedError(
            f"no TensorRT flavour can run engines on this machine{builds}: that needs an NVIDIA GPU, "
            "cuda-python and TensorRT or TensorRT for RTX"
        )


def main():
    run_command(trt_command)
