"""repvsr-eval: PSNR / SSIM (RGB or Y) of checkpoints and exported graphs over a Vid4-style folder."""

import contextlib
import csv
import io
import json
import shlex
import sys
from dataclasses import asdict
from pathlib import Path

import click

from ..atomic import atomic_path, exclusive, require_space
from ..runtime.backends import DEVICES, GRAPH_BACKENDS
from .errors import debug_option, run_command

FORMATS = ("table", "csv", "json")


def _sessions(models: tuple[Path, ...], unfused: bool, device: str, graph_backend: str):
    """(label, session) per model; checkpoints fused (and also unfused, if asked); .onnx graphs on
    `graph_backend`."""
    from ..errors import ReportedError
    from ..models import load_checkpoint
    from ..runtime.backends import backend_for
    from ..runtime.choice import Backend
    from ..runtime.session import open_session

    names = [path.name for path in models]
    for path in models:
        if not path.is_file():
            raise ReportedError(f"{path}: no such checkpoint, graph or engine")
        named = path.name if names.count(path.name) == 1 else str(path)  # files of one name: by their paths
        name = backend_for(path).name
        backend = Backend.named(graph_backend if name == "onnxruntime" else name, device)
        if isinstance(backend, Backend.Torch):
            if unfused:
                yield f"{named} (torch, unfused)", open_session(load_checkpoint(path), backend)
            yield f"{named} (torch, fused)", open_session(path, backend)
        else:
            yield f"{named} ({backend.name})", open_session(path, backend)


@click.command("repvsr-eval")
@click.argument("data", type=click.Path(path_type=Path), required=False)
@click.argument("models", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--demo-data",
    is_flag=True,
    help="Evaluate on the demo's held-out clips (scikit-image photographs) instead of DATA.",
)
@click.option("--unfused", is_flag=True, help="Also evaluate checkpoints in their training form.")
@click.option(
    "--degradation",
    type=click.Choice(["bd", "bi"]),
    default="bd",
    show_default=True,
    help="How LR frames are made where DATA has no LR folder.",
)
@click.option("--frames", type=click.IntRange(2), help="At most this many frames per sequence.")
@click.option(
    "--channel",
    type=click.Choice(["rgb", "y"]),
    default="rgb",
    show_default=True,
    help="Measure on RGB, or on the Y channel of BT.601 YCbCr (the BasicVSR line's Vid4 convention).",
)
@click.option(
    "--crop-border",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Leave out this many pixels on every side before measuring.",
)
@click.option(
    "--graph-backend",
    type=click.Choice(GRAPH_BACKENDS),
    default="onnxruntime",
    show_default=True,
    help="What runs the .onnx graphs among MODELS.",
)
@click.option("--device", type=click.Choice(DEVICES), default="auto", show_default=True)
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option(
    "--report",
    type=click.Path(file_okay=False, path_type=Path),
    help="Also write a report a person can look at into this folder: index.html (opens from disk), per-frame "
    "plots, crops of the most detailed places, a side-by-side video.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing --report folder that is not empty.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result here (.json, .csv by suffix; else --format).",
)
@debug_option
def eval_command(
    data, models, demo_data, unfused, degradation, frames, channel, crop_border, graph_backend, device, fmt, out,
    report, overwrite,
):  # fmt: skip
    """PSNR and SSIM (on RGB, or Y with --channel y) of MODELS (.pth checkpoints, .onnx graphs,
    OpenVINO .xml models, .plan engines) over the sequences of DATA (DATA/GT/<seq>, with
    DATA/LR/<seq> where given; or sequences directly under DATA), bicubic beside; with --report, a
    report to look at."""
    from tabulate import tabulate

    from ..evaluate import Convention, demo_sequences, evaluate, file_sequences
    from ..metrics import SSIM_WINDOW

    if demo_data:  # DATA is then the first model
        models = (data, *models) if data else models
    if not models or (data is None and not demo_data):
        raise click.UsageError("give DATA and MODELS, or --demo-data and MODELS")
    if overwrite and not report:
        raise click.UsageError("--overwrite replaces a --report folder: give --report")
    if report and out and (out.resolve() == report.resolve() or report.resolve() in out.resolve().parents):
        raise click.UsageError("--out would be written where --report's folder goes: give it a path outside")
    command = shlex.join(["repvsr-eval", *sys.argv[1:]])
    with contextlib.ExitStack() as stack:
        if out:  # before measuring, not after: a table is a few KiB
            require_space(out, 2**20)
            stack.enter_context(exclusive(out))
        sequences = demo_sequences(degradation) if demo_data else file_sequences(data, degradation, frames)
        convention = Convention(channel, crop_border)
        for sequence in sequences:
            if min(sequence.width, sequence.height) - 2 * crop_border < SSIM_WINDOW:
                raise click.BadParameter(
                    f"{crop_border} leaves less than the {SSIM_WINDOW}x{SSIM_WINDOW} SSIM "
                    f"window of {sequence.name}'s {sequence.width}x{sequence.height} frames",
                    param_hint="--crop-border",
                )
        written = None
        if report:  # refused now, before any work, where it exists and is not empty
            from ..eval_report import open_report

            written = stack.enter_context(open_report(report, overwrite, crop_border, command))
        sessions = [(label, stack.enter_context(s)) for label, s in _sessions(models, unfused, device, graph_backend)]
        rows = evaluate(sequences, sessions, convention, written)
        click.echo(_render(rows, fmt, command, convention, tabulate), nl=False)
        if out:
            with atomic_path(out) as tmp:
                tmp.write_text(
                    _render(
                        rows,
                        {".json": "json", ".csv": "csv"}.get(out.suffix.lower(), fmt),
                        command,
                        convention,
                        tabulate,
                    )
                )


def _render(rows, fmt: str, command: str, convention, tabulate) -> str:
    if fmt == "json":
        return json.dumps({"command": command, "rows": [asdict(r) for r in rows]}, indent=2) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=[*asdict(rows[0]), "command"], lineterminator="\n")
        writer.writeheader()
        writer.writerows({**asdict(r), "command": command} for r in rows)
        return buffer.getvalue()
    body = tabulate(
        [[r.sequence, r.model, r.frames, f"{r.psnr:.3f}", f"{r.ssim:.4f}"] for r in rows],
        headers=["Sequence", "Model", "Frames", "PSNR (dB)", "SSIM"],
        disable_numparse=True,
    )
    return body + f"\n\n{convention.describe()}; average = mean over sequences.\n"


def main():
    run_command(eval_command)
