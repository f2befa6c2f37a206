"""FPS against GFLOPs, one point per model: ours (measured here) and the paper's (its GPU)."""

from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_path
from ..headless_plot import pyplot
from .runner import BenchRow


def plot(rows: list[BenchRow], path: Path, title: str) -> None:
    plt = pyplot("plotting the results")
    several = len({r.resolution for r in rows}) > 1
    figure, axes = plt.subplots(figsize=(8, 5.5), layout="constrained")
    seen = set()
    for row in rows:
        key = (row.model, row.resolution, row.backend, row.device, row.form)
        if key in seen:  # a model of both tables is one point
            continue
        seen.add(key)
        label = f"{row.model} {row.resolution}" if several else row.model
        if row.form == "unfused":
            label += " (unfused)"
        axes.scatter(row.gflops_paper, row.fps, color="tab:blue", marker="o")
        axes.annotate(label, (row.gflops_paper, row.fps), textcoords="offset points", xytext=(4, 4), fontsize=8)
        if row.paper_gflops and row.paper_fps_gpu and row.form == "fused":
            axes.scatter(row.paper_gflops, row.paper_fps_gpu, color="tab:orange", marker="s")
            axes.annotate(
                label,
                (row.paper_gflops, row.paper_fps_gpu),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=8,
                color="tab:orange",
            )
            axes.plot([row.gflops_paper, row.paper_gflops], [row.fps, row.paper_fps_gpu], color="0.85", lw=0.8)
    axes.scatter([], [], color="tab:blue", marker="o", label=f"ours: {rows[0].backend} on {title}")
    axes.scatter([], [], color="tab:orange", marker="s", label="paper (its GPU)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("GFLOPs per frame (2 x MACs)")
    axes.set_ylabel("frames per second")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    with atomic_path(path) as tmp:
        figure.savefig(tmp, dpi=120, format=path.suffix.lstrip(".") or "png")
    plt.close(figure)
