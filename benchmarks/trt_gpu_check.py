"""The GPU check: export -> build (fp32, fp16) with each TensorRT flavour present and each
deformable-conv lowering it takes -> engines judged step by step against the torch model on the CPU
(the same state each step, as the export verification does) -> FPS at 720p / 1080p / 4K, and a short
report (markdown) with the machine and versions.

    python benchmarks/trt_gpu_check.py [--models repvsr,ksnet-uni] [--frames 50] [--out report.md]

On a GPU without TensorRT it runs what runs there (the Triton plugin kernel against the torch
reference on the GPU, onnxruntime) and says which steps it skipped and why.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.bench.timing import time_session
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.export import export_onnx, write_lowered
from repvsr_deploy.export.verify import step_errors
from repvsr_deploy.models import build_model
from repvsr_deploy.resolutions import RESOLUTIONS
from repvsr_deploy.runtime import open_graphs, open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.trt import probe

# the lowerings each flavour takes, for models with deformable convs (the plugin: KSNet only)
LOWERINGS = {"tensorrt": ["standard", "plugin", "portable"], "rtx": ["portable"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="repvsr,ksnet-uni")
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        print("no CUDA GPU visible to torch: nothing of this check runs here", file=sys.stderr)
        return 1

    machine = describe_machine()
    lines = [
        f"# GPU check: {machine['gpu']}",
        "",
        f"command: `{' '.join(sys.argv)}`",
        "",
        f"versions: {machine['versions']}",
        "",
    ]
    lines += triton_kernel_check()
    found = probe()
    flavors = {
        name: None if found.can_run(name) else (found.libraries[name][1] or "no GPU or cuda-python")
        for name in LOWERINGS
    }
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            lines += check_model(name, Path(workdir), args.frames, flavors)
    report = "\n".join(lines) + "\n"
    print(report)
    if args.out:
        args.out.write_text(report)
    return 0


def triton_kernel_check() -> list[str]:
    try:
        from repvsr_deploy.models.deform_conv import flow_guided_deform_conv2d_reference as reference
        from repvsr_deploy.trt.dcn_kernel import flow_guided_deform_conv
    except ImportError as exc:
        return [f"Triton plugin kernel: skipped ({exc})", ""]
    lines = [
        "## Triton FlowGuidedDeformConv kernel vs torch reference (GPU)",
        "",
        "| LR | dtype | max rel error | kernel ms | reference ms |",
        "| --- | --- | --- | --- | --- |",
    ]
    for resolution, (height, width) in RESOLUTIONS.items():
        gen = torch.Generator(device="cuda").manual_seed(0)

        def random(*shape):
            return torch.randn(*shape, device="cuda", generator=gen)

        x, residual, mask = random(1, 64, height, width), random(1, 144, height, width), random(1, 72, height, width)
        flow, weight, bias = 5 * random(1, 2, height, width), 0.05 * random(64, 64, 3, 3), random(64)
        expected, reference_ms = timed(lambda: reference(x, residual, mask, flow, weight, bias, 8, 10.0))
        for dtype in (torch.float32, torch.float16):
            args = [t.to(dtype) for t in (x, residual, mask)] + [flow] + [t.to(dtype) for t in (weight, bias)]
            got, kernel_ms = timed(lambda: flow_guided_deform_conv(*args, 8, 10.0))
            error = float((got.float() - expected).abs().max() / expected.abs().max())
            lines.append(f"| {resolution} | {str(dtype)[6:]} | {error:.1e} | {kernel_ms:.2f} | {reference_ms:.2f} |")
    return lines + [""]


def timed(fn, repeats: int = 20):
    result = fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return result, float(np.median(times))


def check_model(name: str, workdir: Path, frames: int, flavors: dict[str, str | None]) -> list[str]:
    """Rows for `name`: onnxruntime on the standard graph, then each flavour x lowering x precision;
    `flavors` maps a flavour to None where it runs here, else why not."""
    torch.manual_seed(0)
    model = build_model(name).eval()
    has_dcn = name in ("ksnet-uni", "ksnet-bi", "edvr-m")
    lines = [
        f"## {name}",
        "",
        "| graph | runtime | max abs step error vs torch (8 frames, 96x64) | FPS 720p | FPS 1080p | FPS 4K |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for precision in ("fp32", "fp16"):
        traced = workdir / "standard" / f"{name}.{precision}.onnx"
        traced.parent.mkdir(exist_ok=True)
        export_onnx(model, traced, precision, "standard")
        lines.append(
            row(
                f"standard {precision}",
                "onnxruntime",
                traced,
                open_graphs(traced, Backend.OnnxRuntime("cpu")),
                model,
                frames,
            )
        )
        for flavor, why_not in flavors.items():
            for dcn in LOWERINGS[flavor] if has_dcn else ["standard"]:
                if dcn == "plugin" and not name.startswith("ksnet"):
                    continue
                if why_not is not None:
                    lines.append(f"| {dcn} {precision} | {flavor} | skipped: {why_not} | | | |")
                    continue
                graph = lowered(model, traced, workdir, dcn, precision)
                engines = build_engines(graph, flavor)
                lines.append(
                    row(
                        f"{dcn} {precision}",
                        flavor,
                        engines[-1],
                        open_graphs(engines[-1], Backend.TensorRT()),
                        model,
                        frames,
                    )
                )
    return lines + [""]


def lowered(model, traced: Path, workdir: Path, dcn: str, precision: str) -> Path:
    """The traced graph(s) with their deformable convs lowered as `dcn`, in a folder of their own."""
    if dcn == "standard":
        return traced
    if dcn == "plugin":  # the plugin node is what the exporter writes, not a rewrite of DeformConv
        path = workdir / "plugin" / traced.name
        path.parent.mkdir(exist_ok=True)
        export_onnx(model, path, precision, "plugin")
        return path
    (workdir / dcn).mkdir(exist_ok=True)
    return write_lowered(model, traced, dcn, workdir / dcn)


def build_engines(graph: Path, flavor: str) -> list[Path]:
    from repvsr_deploy.trt.builder import BuildSettings, build
    from repvsr_deploy.trt.profiles import parse_profiles

    settings = BuildSettings(parse_profiles("96x64,720p,1080p,4k"), flavor=flavor)
    start = time.perf_counter()
    engines = build(graph, graph.with_suffix(f".{flavor}.plan"), settings)
    print(f"{engines[-1].name}: built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return engines


def row(label: str, runtime: str, source: Path, backends: dict, model, frames: int) -> str:
    try:
        cells = [f"{max(e.error for e in step_errors(backends, model, 8, (64, 96))):.2e}"]
        for height, width in RESOLUTIONS.values():
            session = open_session(source, Backend.Auto("cuda"), window=10)  # the window: for bidirectional models
            cells.append(f"{time_session(session, moving_clip(4, height, width), frames, 5, include_io=False).fps:.1f}")
    except ReportedError as exc:
        cells = [f"failed: {exc}", "", "", ""]
    return f"| {label} | {runtime} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
