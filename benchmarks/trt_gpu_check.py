"""The GPU check: export -> build (fp32, fp16) -> TensorRT session vs onnxruntime over 8 frames ->
FPS at 720p / 1080p / 4K, and a short report (markdown) with the machine and versions.

    python benchmarks/trt_gpu_check.py [--models repvsr,ksnet-uni] [--frames 50] [--out report.md]

On a GPU without TensorRT it runs what runs there (the Triton plugin kernel against the torch
reference on the GPU, torch CUDA vs onnxruntime) and says which steps it skipped and why.
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
from repvsr_deploy.bench.paper_tables import RESOLUTIONS
from repvsr_deploy.bench.timing import time_session
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.export import export_onnx
from repvsr_deploy.models import build_model
from repvsr_deploy.runtime import open_session
from repvsr_deploy.trt import probe

VARIANTS = {"repvsr": ["standard"], "ksnet-uni": ["standard", "plugin"]}


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
    lines = [f"# GPU check: {machine['gpu']}", "", f"command: `{' '.join(sys.argv)}`", "",
             f"versions: {machine['versions']}", ""]
    lines += triton_kernel_check()
    found = probe()
    with tempfile.TemporaryDirectory() as workdir:
        for name in args.models.split(","):
            lines += check_model(name, Path(workdir), args.frames, found.usable, found.tensorrt_problem)
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
    lines = ["## Triton FlowGuidedDeformConv kernel vs torch reference (GPU)", "",
             "| LR | dtype | max rel error | kernel ms | reference ms |", "| --- | --- | --- | --- | --- |"]
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


def check_model(name: str, workdir: Path, frames: int, tensorrt: bool, why_not: str | None) -> list[str]:
    torch.manual_seed(0)
    model = build_model(name).eval()
    clip = moving_clip(8, *RESOLUTIONS["720p"])
    torch_hr = np.concatenate(list(open_session(model, "torch", "cuda").run(clip)))
    lines = [f"## {name}", "", "| graph | engine | max abs diff vs torch (8 frames, 720p) | FPS 720p | FPS 1080p | FPS 4K |",
             "| --- | --- | --- | --- | --- | --- |"]
    for dcn in VARIANTS.get(name, ["standard"]):
        for precision in ("fp32", "fp16"):
            graph = workdir / f"{name}.{dcn}.{precision}.onnx"
            export_onnx(model, graph, precision, dcn)
            if dcn == "standard":
                lines.append(row(f"{dcn} {precision}", "onnxruntime", graph, clip, torch_hr, frames))
            if not tensorrt:
                lines.append(f"| {dcn} {precision} | TensorRT | skipped: {why_not} | | | |")
                continue
            lines.append(row(f"{dcn} {precision}", "TensorRT", build_engine(graph), clip, torch_hr, frames))
    return lines + [""]


def build_engine(graph: Path) -> Path:
    from repvsr_deploy.trt.builder import BuildSettings, build
    from repvsr_deploy.trt.profiles import parse_profiles

    settings = BuildSettings(parse_profiles("720p,1080p,4k"), None, 8.0, 3, None, False, False)
    start = time.perf_counter()
    engine = build(graph, graph.with_suffix(".plan"), settings)[-1]
    print(f"{engine.name}: built in {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return engine


def row(label: str, backend: str, source: Path, clip, torch_hr, frames: int) -> str:
    try:
        got = np.concatenate(list(open_session(source, device="cuda").run(clip)))
        cells = [f"{np.abs(got - torch_hr).max():.2e}"]
        for height, width in RESOLUTIONS.values():
            session = open_session(source, device="cuda")
            cells.append(f"{time_session(session, moving_clip(4, height, width), frames, 5, source.name).fps:.1f}")
    except ReportedError as exc:
        cells = [f"failed: {exc}", "", "", ""]
    return f"| {label} | {backend} | " + " | ".join(cells) + " |"


if __name__ == "__main__":
    sys.exit(main())
