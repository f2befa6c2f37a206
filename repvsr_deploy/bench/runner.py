"""One benchmark row per (model, resolution, backend): counted cost, measured speed, the paper's numbers."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..clips import moving_clip
from ..errors import ReportedError
from ..models import build_model, fuse
from ..models.base import VSRModel
from ..runtime.session import open_session
from .flops import count_flops, count_params
from .paper_tables import RESOLUTIONS, paper_row
from .timing import time_session

BACKENDS = ("onnxruntime", "torch")  # fastest first, where installed


def available_backends() -> list[str]:
    import importlib.util

    return [b for b in BACKENDS if importlib.util.find_spec(b) is not None]


@dataclass
class BenchRow:
    model: str
    resolution: str
    lr_size: str  # WxH
    backend: str
    device: str
    form: str  # fused | unfused
    precision: str
    params: int
    gflops_paper: float
    gflops_exact: float
    fps: float
    latency_median_ms: float
    latency_p90_ms: float
    speedup_vs_unfused: float | None = None
    paper_params_m: float | None = None
    paper_gflops: float | None = None
    paper_fps_gpu: float | None = None
    paper_source: str | None = None


def _session(model: VSRModel, backend: str, workdir: Path):
    if backend == "torch":
        return open_session(model, "torch")
    if backend == "onnxruntime":
        from ..export import export_onnx

        path = workdir / f"{model.name}.onnx"
        export_onnx(model, path)
        return open_session(path, "onnxruntime")
    raise ReportedError(f"unknown backend '{backend}' (known: {', '.join(BACKENDS)})")


def bench_model(name: str, resolutions: list[str], backends: list[str], unfused: bool,
                frames: int, warmup: int) -> list[BenchRow]:
    """Rows for one model: the training form on torch first if `unfused`, then the fused form per backend."""
    torch.manual_seed(0)  # speed does not depend on the weights; random ones need no checkpoint
    trained = build_model(name).eval()
    deployed = fuse(trained)
    variants = ([("torch", trained)] if unfused else []) + [(b, deployed) for b in backends]
    rows = []
    with tempfile.TemporaryDirectory(prefix="repvsr-bench-") as workdir:
        for resolution in resolutions:
            height, width = RESOLUTIONS[resolution]
            clip = moving_clip(4, height, width)
            paper = paper_row(name, resolution)
            for backend, model in variants:
                session = _session(model, backend, Path(workdir))
                form = "fused" if model.fused else "unfused"
                timing = time_session(session, clip, frames, warmup, f"{name} {resolution} {backend} {form}")
                rows.append(BenchRow(
                    model=name, resolution=resolution, lr_size=f"{width}x{height}", backend=backend,
                    device=session.device, form=form, precision="fp32",
                    params=count_params(model),
                    gflops_paper=count_flops(model, (height, width), "paper") / 1e9,
                    gflops_exact=count_flops(model, (height, width), "exact") / 1e9,
                    fps=timing.fps, latency_median_ms=timing.median_ms, latency_p90_ms=timing.p90_ms,
                    paper_params_m=paper and paper.params_m, paper_gflops=paper and paper.gflops,
                    paper_fps_gpu=paper and paper.fps, paper_source=paper and paper.source,
                ))
    _add_speedups(rows)
    return rows


def _add_speedups(rows: list[BenchRow]) -> None:
    baseline = {(r.model, r.resolution): r.fps for r in rows if r.form == "unfused"}
    for row in rows:
        if (row.model, row.resolution) in baseline:
            row.speedup_vs_unfused = row.fps / baseline[(row.model, row.resolution)]
