"""Benchmark rows: per (model, LR size, backend) the counted cost, the measured speed and memory,
the attained share of the machine's peak, and the paper's numbers beside them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..clips import moving_clip
from ..modelinfo import QUANTIZED, GraphKind
from ..models import build_model, count_params, fuse
from ..models.base import VSRModel
from ..runtime.backends import BACKENDS, TENSORRT_BACKENDS
from ..runtime.choice import AnyBackend, Backend
from ..runtime.session import open_session
from ..runtime.streams import open_streams
from .flops import count_flops
from .memory import PeakMemory
from .paper_tables import paper_row, resolution_of
from .roofline import peak
from .timing import time_session, time_streams


@dataclass
class BenchRow:
    model: str
    table: str | None  # repvsr | ksnet | None (a row asked for by --model); set by `in_table`
    resolution: str  # 720p, 1080p, 4k, or the LR size WxH
    lr_size: str  # WxH
    backend: str
    device: str
    form: str  # fused | unfused
    precision: str
    dcn: str | None  # how deformable convs ran in an exported graph (standard, plugin, portable); else None
    include_io: bool
    params: int
    gflops_paper: float  # 2 x MACs, transposed convs at output resolution (the papers')
    gflops_exact: float  # 2 x MACs as executed (transposed convs at input resolution)
    fps: float
    latency_median_ms: float
    latency_p90_ms: float
    peak_memory_mb: float | None
    memory_kind: str | None
    attained_gflops_per_s: float  # gflops_exact x fps
    peak_gflops_per_s: float
    peak_fraction: float
    speedup_vs_unfused: float | None = None
    psnr_db: float | None = None  # on the quality clip, against its frames (fp32 rows: where a quantized row is)
    psnr_vs_fp32_db: float | None = None  # a quantized row's frames against the fp32 graph's, same clip
    paper_params_m: float | None = None
    paper_gflops: float | None = None
    paper_fps_gpu: float | None = None
    paper_source: str | None = None
    streams: int | None = None  # None: one stream, in a session; N: N streams in one batch (fps: all together)


@dataclass(frozen=True)
class Target:
    """Where rows run: backend, device and precision, and whether frames cross the host boundary."""

    backend: str
    device: str
    precision: str
    include_io: bool
    dcn: str = "standard"  # the lowering of deformable convs in exported graphs (TensorRT for RTX: portable)
    streams: int | None = None  # None: a session; N: a StreamBatch of N streams

    @property
    def choice(self) -> AnyBackend:
        """The backend that runs the rows, with the target's device (and precision, for torch)."""
        return Backend.named(self.backend, self.device, precision=self.precision if self.backend == "torch" else None)


def _session(model: VSRModel, target: Target, lr_hw: tuple[int, int], workdir: Path, footage, checks: dict):
    """(session, quantization check or None) on what `target` measures: the model itself (torch),
    its verified graph (onnxruntime, OpenVINO; int8: quantized on `footage` for that backend, its
    check kept in `checks` by file) or an engine built from that graph; opened by what it is, as
    `open_session` does."""
    if target.backend == "torch":
        return _open(model, target), None
    from ..export import export_verified, precision_path

    output = workdir / f"{model.name}.{target.dcn}.onnx"
    exported = "fp32" if target.precision in QUANTIZED else target.precision
    graph = precision_path(output, exported)
    if not graph.exists():  # a row measures only a graph that reproduces the torch model
        export_verified(model, output, (exported,), target.dcn)
    check = None
    if target.precision in QUANTIZED:
        graph, check = _quantized(graph, target, footage, checks)
    if target.backend not in TENSORRT_BACKENDS:
        return _open(graph, target), check
    from ..trt.builder import BuildSettings, build
    from ..trt.profiles import parse_profiles

    settings = BuildSettings(
        parse_profiles(f"{lr_hw[1]}x{lr_hw[0]}", model.size_multiple),
        flavor=BACKENDS[target.backend].flavor,
        streams=target.streams or 1,
    )
    engine = build(
        graph,
        graph.with_name(f"{graph.stem}.{target.backend}.{lr_hw[1]}x{lr_hw[0]}.plan"),
        settings,
        say=lambda line: None,
    )[-1]
    return _open(engine, target), check


def _open(source, target: Target):
    """A session on `source`, or a batch of streams where the target asks for one."""
    if target.streams is None:
        return open_session(source, target.choice)
    return open_streams(source, target.choice)


def _quantized(graph: Path, target: Target, footage, checks: dict):
    """(path, check) of the graph quantized for the target's backend family, reported, never refused:
    the row shows what it costs."""
    from ..quantize.targets import TARGETS, artifact_path
    from ..quantize.verified import quantize_verified

    family = TARGETS["tensorrt" if target.backend in TENSORRT_BACKENDS else target.backend]
    output = artifact_path(graph, family, target.precision)
    if output not in checks:
        checks[output] = quantize_verified(graph, output, family, target.precision, footage, max_loss=None).check
    return output, checks[output]


def device_name(device: str) -> str:
    from .machine import describe_machine

    machine = describe_machine()
    return machine["gpu"] if device == "cuda" else machine["cpu"]


def bench_model(
    name: str,
    lr_sizes: list[tuple[int, int]],
    targets: list[Target],
    unfused: bool,
    frames: int,
    warmup: int,
    workdir: Path,
    progress=None,
    footage=None,
) -> list[BenchRow]:
    """Rows for one model: the training form on torch first if `unfused`, then the fused form per
    target; quantized targets are calibrated and checked on `footage`. A model that does not stream
    frame by frame (bidirectional) runs batch-of-streams targets in a session instead."""
    torch.manual_seed(0)  # speed does not depend on the weights; random ones need no checkpoint
    trained = build_model(name).eval()
    deployed = fuse(trained)
    if deployed.graphs.kinds != (GraphKind.STEP,):
        targets = list(dict.fromkeys(replace(t, streams=None) for t in targets))
    first = targets[0]
    unfused_target = Target(
        "torch", "cuda" if first.backend in TENSORRT_BACKENDS else first.device, "fp32", first.include_io
    )
    variants = ([(unfused_target, trained)] if unfused else []) + [(t, deployed) for t in targets]
    rows, checks, fp32_psnr = [], {}, {}
    for lr_hw in lr_sizes:
        height, width = lr_hw
        resolution = resolution_of(lr_hw)
        clip = moving_clip(4, height, width)
        for variant, model in variants:
            gflops_paper, gflops_exact = (count_flops(model, lr_hw, c) / 1e9 for c in ("paper", "exact"))
            machine_peak = peak(variant.device, variant.precision, device_name(variant.device))
            memory = PeakMemory(variant.backend, variant.device)
            memory.start()
            session, check = _session(model, variant, lr_hw, workdir, footage, checks)
            with session:
                if variant.streams is None:
                    timing = time_session(
                        session, clip, frames, warmup, include_io=variant.include_io, progress=progress
                    )
                else:
                    timing = time_streams(session, clip, frames, warmup, variant.streams, progress)
            fps = timing.fps * (variant.streams or 1)
            attained = gflops_exact * fps
            rows.append(
                BenchRow(
                    model=name,
                    table=None,
                    resolution=resolution,
                    lr_size=f"{width}x{height}",
                    backend=variant.backend,
                    device=session.device,
                    form="fused" if model.fused else "unfused",
                    precision=variant.precision,
                    dcn=_dcn_of(model, variant),
                    include_io=variant.include_io or variant.streams is not None,
                    params=count_params(model),
                    gflops_paper=gflops_paper,
                    gflops_exact=gflops_exact,
                    fps=fps,
                    latency_median_ms=timing.median_ms,
                    latency_p90_ms=timing.p90_ms,
                    peak_memory_mb=memory.peak_mb(),
                    memory_kind=memory.kind,
                    attained_gflops_per_s=attained,
                    peak_gflops_per_s=machine_peak.gflops_per_s,
                    peak_fraction=machine_peak.fraction(attained),
                    psnr_db=check and check.psnr_quantized,
                    psnr_vs_fp32_db=check and check.psnr_vs_fp32,
                    streams=variant.streams,
                )
            )
            if check:
                fp32_psnr[(variant.backend, rows[-1].lr_size)] = check.psnr_fp32
    _add_speedups(rows)
    for row in rows:  # the fp32 rows of the graphs quantized: their PSNR on the same clip
        if row.precision == "fp32" and row.form == "fused":
            row.psnr_db = fp32_psnr.get((row.backend, row.lr_size))
    return rows


def _dcn_of(model: VSRModel, target: Target) -> str | None:
    from ..models.deform_conv import has_deform_conv

    return target.dcn if target.backend != "torch" and has_deform_conv(model) else None


def in_table(row: BenchRow, table: str | None) -> BenchRow:
    """The row as `table` lists it, with that table's numbers (None: the first table listing the model)."""
    paper = paper_row(row.model, row.resolution, table)
    return replace(
        row,
        table=table,
        paper_params_m=paper and paper.params_m,
        paper_gflops=paper and paper.gflops,
        paper_fps_gpu=paper and paper.fps,
        paper_source=paper and paper.source,
    )


def _add_speedups(rows: list[BenchRow]) -> None:
    baseline = {(r.model, r.resolution): r.fps for r in rows if r.form == "unfused"}
    for row in rows:
        if (row.model, row.resolution) in baseline:
            row.speedup_vs_unfused = row.fps / baseline[(row.model, row.resolution)]
