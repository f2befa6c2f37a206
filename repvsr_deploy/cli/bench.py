"""repvsr-bench: the papers' efficiency tables measured on this machine, the papers' numbers beside."""

import contextlib
import shlex
import sys
from pathlib import Path

import click

from ..atomic import atomic_path, exclusive, require_space, scratch_folder
from ..bench.paper_tables import paper_tables
from ..errors import ReportedError
from ..modelinfo import PRECISIONS, QUANTIZED
from ..resolutions import RESOLUTIONS
from ..runtime.backends import BACKENDS, DEVICES
from .errors import debug_option, run_command
from .options import FrameSize

FORMATS = ("table", "markdown", "csv", "json")
PLOT_SUFFIXES = (".png", ".svg", ".pdf")
OUT_SUFFIXES = {".json": "json", ".csv": "csv", ".md": "markdown"}


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated values alike: --model a,b --model c -> [a, b, c]."""
    return [item.strip().lower() for value in values for item in value.split(",") if item.strip()]


def _check_choices(flag: str, values: list[str], known) -> list[str]:
    for value in values:
        if value not in known:
            raise click.BadParameter(f"'{value}' is not one of {', '.join(known)}", param_hint=f"'{flag}'")
    return values


def _stream_counts(values: tuple[str, ...]) -> list[int | None]:
    """The --streams counts ([None]: a session only), each a positive integer (every backend batches)."""
    if not values:
        return [None]
    try:
        counts = [int(item) for item in _split(values)]
    except ValueError:
        counts = [0]
    if not counts or min(counts) < 1:
        raise click.BadParameter("give stream counts as positive integers, like 1,2,4,8", param_hint="'--streams'")
    return list(dict.fromkeys(counts))


def _rows_to_measure(tables: list[str], models: list[str], known: list[str]) -> tuple[list, list[str]]:
    """[(table, model)] to measure, and a note on each paper row without a model here."""
    if models:
        return [(None, m) for m in models], []
    wanted, notes = [], []
    for table in tables:
        for model, rows in paper_tables()[table].items():
            if model in known:
                wanted.append((table, model))
            else:
                row = rows["720p"]
                notes.append(
                    f"Not measured ({row.source} row, no such model in the registry): {model}: "
                    f"{row.params_m or '-'} M params, {row.gflops or '-'} GFLOPs, {row.fps} FPS."
                )
    return wanted, notes


@click.command("repvsr-bench")
@click.option(
    "--table",
    "table",
    type=click.Choice(["repvsr", "ksnet", "all"]),
    help="Rows of RepVSR Table 2, KSNet Table 1, or both [default: all, unless --model].",
)
@click.option("--model", "models", multiple=True, help="Registry model(s) instead of a table, comma-separated.")
@click.option(
    "--res",
    "resolutions",
    multiple=True,
    help="Target resolution(s): 720p, 1080p, 4k (LR 320x180, 480x270, 960x540) [default: 720p].",
)
@click.option("--lr-size", "lr_sizes", multiple=True, type=FrameSize(), help="Any LR size WxH instead of --res.")
@click.option(
    "--backend",
    "backends",
    multiple=True,
    help="tensorrt, tensorrt-rtx, onnxruntime, openvino and/or torch, comma-separated [default: the fastest "
    "present: tensorrt, tensorrt-rtx, onnxruntime-gpu, torch on CUDA, openvino, onnxruntime on the CPU].",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option(
    "--precision",
    "precisions",
    multiple=True,
    help=f"{', '.join(PRECISIONS)}, comma-separated [default: fp32]. bf16, int8 and fp8 rows quantize the fp32 graph "
    "for the row's backend (repvsr-quantize, never refused) and show its PSNR on a held-out clip beside the "
    "fp32 row's.",
)
@click.option(
    "--calib",
    "calib",
    multiple=True,
    type=click.Path(path_type=Path),
    help="Footage int8/fp8 rows calibrate on (videos or image folders; the last one's last 100 frames are the "
    "quality clip) [default: scikit-image's photographs through a moving camera].",
)
@click.option(
    "--dcn",
    type=click.Choice(["standard", "plugin", "portable"]),
    default="standard",
    show_default=True,
    help="How deformable convs are exported for onnxruntime and TensorRT (see repvsr-export --dcn); "
    "tensorrt-rtx and openvino always take portable.",
)
@click.option("--unfused", is_flag=True, help="Also time the training-form (unfused) model on torch.")
@click.option("--frames", default=20, show_default=True, type=click.IntRange(2), help="Timed frames per row.")
@click.option(
    "--warmup",
    default=3,
    show_default=True,
    type=click.IntRange(0),
    help="Untimed frames first (bidirectional models: at least 2, or none).",
)
@click.option("--include-io", is_flag=True, help="Time host-to-device frame copies too (default: compute only).")
@click.option(
    "--streams",
    "stream_counts",
    multiple=True,
    help="Also run N streams as one batch, comma-separated counts (1,2,4,8): FPS of all streams together, "
    "latency per batch step [default: one stream, in a session].",
)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--out",
    "outs",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result to this file, as its suffix says (.json, .csv, .md; else --format); repeatable.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write FPS against GFLOPs (ours and the paper's) to this .png/.svg/.pdf.",
)
@debug_option
def bench_command(
    table,
    models,
    resolutions,
    lr_sizes,
    backends,
    device,
    precisions,
    calib,
    dcn,
    unfused,
    frames,
    warmup,
    include_io,
    stream_counts,
    fmt,
    outs,
    plot_path,
):
    """Measure the models as deployed (fused) on this machine: Params, GFLOPs, FPS, latency
    (median, p90), peak memory and the share of the machine's peak FLOP rate, beside the paper's
    Params / GFLOPs / FPS."""
    from ..bench.machine import describe_machine
    from ..bench.report import Report, render
    from ..bench.roofline import peak
    from ..bench.runner import Target, bench_model, device_name, in_table
    from ..models import model_names
    from ..runtime.backends import TENSORRT_BACKENDS, fastest_backend

    known = model_names()
    models = _check_choices("--model", _split(models), known)
    if table and models:
        raise click.UsageError("give --table or --model, not both")
    tables = ["repvsr", "ksnet"] if table in (None, "all") else [table]
    if lr_sizes and resolutions:
        raise click.UsageError("give --res or --lr-size, not both")
    sizes = list(lr_sizes) or [
        RESOLUTIONS[r] for r in _check_choices("--res", _split(resolutions) or ["720p"], list(RESOLUTIONS))
    ]
    backends = _check_choices("--backend", _split(backends), list(BACKENDS))
    if not backends:
        backend, best_device = fastest_backend()
        backends, device = [backend], (best_device if device == "auto" else device)
    lowerings = {b: BACKENDS[b].lowering(dcn) for b in backends}
    precisions = _check_choices("--precision", _split(precisions) or ["fp32"], PRECISIONS)
    if "torch" in backends and set(precisions) & set(QUANTIZED):
        raise click.BadParameter(
            "bf16, int8 and fp8 run on the exported graphs, not --backend torch", param_hint="'--precision'"
        )
    if "fp8" in precisions and set(backends) - set(TENSORRT_BACKENDS):
        raise click.BadParameter("fp8 runs on --backend tensorrt and tensorrt-rtx only", param_hint="'--precision'")
    if "bf16" in precisions and set(backends) - {"openvino"}:
        raise click.BadParameter("bf16 runs on --backend openvino only", param_hint="'--precision'")
    streams = _stream_counts(stream_counts)
    targets = [
        Target(b, BACKENDS[b].resolve_device(device), p, include_io, lowerings[b], s)
        for b in backends
        for p in precisions
        for s in streams
    ]
    footage = _footage(list(calib)) if set(precisions) & set(QUANTIZED) else None
    if plot_path and plot_path.suffix.lower() not in PLOT_SUFFIXES:
        raise ReportedError(f"--plot {plot_path}: give a {', '.join(PLOT_SUFFIXES)} file")
    with contextlib.ExitStack() as stack:
        for path in (*outs, plot_path):  # before minutes of measuring, not after
            if path:
                require_space(path, 8 * 2**20)  # a report is KiBs, a plot under a few MiB
                stack.enter_context(exclusive(path))
        wanted, notes = _rows_to_measure(tables, models, known)
        rows, measured = [], {}
        unique_models = len({model for _, model in wanted})  # a model in both tables is measured once
        progress = _Progress(unique_models * len(sizes) * (frames + warmup) * (len(targets) + unfused))
        with scratch_folder("repvsr-bench-") as workdir, progress:
            for table_name, model in wanted:
                progress.label(model)
                if model not in measured:
                    measured[model] = bench_model(
                        model, sizes, targets, unfused, frames, warmup, workdir, progress.advance, footage
                    )
                rows += [in_table(row, table_name) for row in measured[model]]
        peaks = [vars(peak(d, p, device_name(d))) for d, p in dict.fromkeys((r.device, r.precision) for r in rows)]
        if footage:
            notes.append(_quality_note(footage))
        report = Report(rows, describe_machine(), shlex.join(["repvsr-bench", *sys.argv[1:]]), peaks, notes)
        click.echo(render(report, fmt), nl=False)
        for out in outs:
            with atomic_path(out) as tmp:
                tmp.write_text(render(report, OUT_SUFFIXES.get(out.suffix.lower(), fmt)))
        if plot_path:
            from ..bench.plot import plot

            plot(rows, plot_path, report.machine["gpu"] or report.machine["cpu"])


def _footage(calib: list[Path]):
    from ..quantize.footage import demo_footage, footage

    return footage(calib, None, 100, 100, "bd", 4) if calib else demo_footage()


def _quality_note(footage) -> str:
    return (
        f"PSNR: RGB, 8 bits, on {footage.validation.name} ({footage.validation.frames} frames, BD-degraded, "
        f"never calibrated on) against its frames; int8/fp8 calibrated on {footage.calibration_frames} frames "
        f"of {len(footage.calibration)} clip(s). 'vs fp32': the quantized frames against the fp32 graph's. "
        "Registry models run with random weights: their PSNR against the clip is meaningless, 'vs fp32' is what "
        "the precision costs (repvsr-quantize measures trained checkpoints)."
    )


class _Progress:
    """One bar over every frame of every row, labelled with the model being measured, and while
    its untimed warm-up frames run (the first of them carries the session's start-up), so."""

    def __init__(self, total: int):
        from tqdm import tqdm

        self.bar = tqdm(total=total, unit="frame", file=sys.stderr, leave=False, dynamic_ncols=True)

    def label(self, model: str) -> None:
        self.model = model
        self.bar.set_description(f"{model} (warm-up)")

    def advance(self, n: int, warmup: bool) -> None:
        self.bar.set_description(f"{self.model} (warm-up)" if warmup else self.model, refresh=False)
        self.bar.update(n)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.bar.close()


def main():
    run_command(bench_command)
