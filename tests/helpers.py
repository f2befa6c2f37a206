"""Helpers shared by the tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from repvsr_deploy.modelinfo import GraphKind
from repvsr_deploy.models.blocks import Conv1x1Edge

BIN = Path(sys.executable).parent  # the console scripts installed beside this interpreter


def run_process(*args, cwd=None) -> subprocess.CompletedProcess:
    """Run an installed entry point in a process of its own, as a user types it: for what must be
    signalled, limited or seen from outside (tracebacks of --debug, signals, memory limits)."""
    return subprocess.run([str(BIN / args[0]), *map(str, args[1:])], cwd=cwd, capture_output=True, text=True)


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """Run an entry point as a user types it, in this process: the same main(), argument parsing,
    one-line errors and exit codes as the installed script, without a new interpreter importing
    torch (2 s a call). `cwd`: the folder it runs in."""
    import contextlib
    import io
    import os
    import signal
    from importlib.metadata import entry_points

    (entry,) = entry_points(group="console_scripts", name=args[0])
    main = entry.load()
    argv = [args[0], *map(str, args[1:])]
    stdout, stderr = io.StringIO(), io.StringIO()
    handlers = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGHUP)}
    old_argv, old_cwd, sys.argv = sys.argv, os.getcwd(), argv
    code = 0
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            try:
                main()
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    finally:
        sys.argv = old_argv
        os.chdir(old_cwd)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    return subprocess.CompletedProcess(argv, code, stdout.getvalue(), stderr.getvalue())


@torch.no_grad()
def make_nontrivial(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Default init, but no parameter left at a value that hides a fusion bug: biases and the
    edge branches' scales (initialized near zero) drawn at realistic magnitudes."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, Conv1x1Edge):
            module.scale.copy_(torch.randn(module.scale.shape, generator=gen) * 0.5)
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        elif getattr(module, "bias", None) is not None and isinstance(module.bias, torch.Tensor):
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
    return model


@torch.no_grad()
def randomize_every_parameter(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """`make_nontrivial`, and every parameter still all zero drawn too (zero-initialised heads, as
    KSNet's offset convs, which otherwise hide f_prev and g1_prev from the output): weights at
    N(0, 0.25 / fan_in), vectors at N(0, 0.01), small enough that no recurrence grows."""
    make_nontrivial(model, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    for parameter in model.parameters():
        if not parameter.any():
            scale = 0.5 / parameter[0].numel() ** 0.5 if parameter.dim() >= 2 else 0.1
            parameter.copy_(torch.randn(parameter.shape, generator=gen) * scale)
    return model


def make_video(path, frames: int = 6, width: int = 48, height: int = 32, audio: bool = True, rate: int = 10):
    """A small H.264 clip of moving noise, with a 440 Hz AAC track if `audio`, tagged BT.709
    (4:2:0, or 4:4:4 where a side is odd, which 4:2:0 cannot hold)."""
    import av
    import numpy as np

    from repvsr_deploy.clips import moving_clip

    clip = (moving_clip(frames, height, width).transpose(0, 2, 3, 1) * 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264", rate=rate)
        pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        video.width, video.height, video.pix_fmt = width, height, pix_fmt
        video.codec_context.colorspace = 1  # BT.709
        video.codec_context.color_primaries = 1
        video.codec_context.color_trc = 1
        sound = container.add_stream("aac", rate=44100) if audio else None
        for index, rgb in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt, dst_colorspace=1)
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if sound:
            seconds = frames / rate
            t = np.arange(int(44100 * seconds)) / 44100
            samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
            for start in range(0, samples.shape[1], 1024):
                chunk = av.AudioFrame.from_ndarray(
                    np.ascontiguousarray(samples[:, start : start + 1024]), format="fltp", layout="mono"
                )
                chunk.sample_rate, chunk.pts = 44100, start
                container.mux(sound.encode(chunk))
            container.mux(sound.encode(None))
    return clip


# REPVSR_SWEEP=all: every sweep over exported graphs takes every model (their exports cost 5-90 s
# each in tracing); `make test` takes the papers' models and the baselines whose layers no paper model
# has (RRN, EDVR-M's pyramid of standard deformable convs and its centred window). Not FRVSR: fused,
# RepVSR's graph has every kind of operator FRVSR's has (RepVSR re-parameterises FRVSR's FNet and SRNet;
# test_zoo holds it in the full sweep).
FULL_SWEEP = os.environ.get("REPVSR_SWEEP") == "all"
SWEPT_BY_DEFAULT = ("repvsr", "ksnet-uni", "ksnet-bi", "rrn", "edvr-m")
# what needs KSNet-uni's fp16 graph (74 s of tracing here): its numbers and its plugin's float32 flow
needs_ksnet_fp16 = pytest.mark.skipif(not FULL_SWEEP, reason="traces KSNet-uni in fp16: REPVSR_SWEEP=all")


def distinct_graph_models() -> list[str]:
    """The registry's models less those whose graphs another's are, layer for layer (TecoGAN's
    generator is FRVSR's; `test_zoo` holds them identical): what sweeps over exported graphs cover
    (without REPVSR_SWEEP=all, those of them SWEPT_BY_DEFAULT)."""
    from repvsr_deploy.models import model_names

    names = [name for name in model_names() if name != "tecogan"]
    return names if FULL_SWEEP else [name for name in names if name in SWEPT_BY_DEFAULT]


def shape_of(name: str):
    """The registry's model `name` built on the meta device (no weights made): its kind and graphs,
    for parametrizing tests at collection, where building every model whole cost each test process seconds."""
    from repvsr_deploy.models import build_model

    with torch.device("meta"):
        return build_model(name)


def streaming_models() -> list[str]:
    """The distinct graph models that stream frame by frame (a step graph): what batches of streams cover."""
    return [name for name in distinct_graph_models() if shape_of(name).graphs.kinds == (GraphKind.STEP,)]
