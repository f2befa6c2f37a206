"""repvsr-bench: parameters, FLOPs and measured FPS of the registry's models, the paper's numbers beside."""

import shlex
import sys
from pathlib import Path

import click

from ..atomic import atomic_path, writable_directory
from ..bench.paper_tables import RESOLUTIONS
from ..errors import ReportedError
from .errors import debug_option, run_command

FORMATS = ("table", "csv", "json")


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeated and comma-separated values alike: --model a,b --model c -> [a, b, c]."""
    return [item.strip().lower() for value in values for item in value.split(",") if item.strip()]


def _check_choices(flag: str, values: list[str], known) -> list[str]:
    for value in values:
        if value not in known:
            raise click.BadParameter(f"'{value}' is not one of {', '.join(known)}", param_hint=f"'{flag}'")
    return values


@click.command("repvsr-bench")
@click.option("--model", "models", multiple=True, default=["repvsr"], show_default=True,
              help="Registry model(s), comma-separated or repeated.")
@click.option("--res", "resolutions", multiple=True, default=["720p"], show_default=True,
              help="Target resolution(s): 720p, 1080p, 4k (LR 320x180, 480x270, 960x540).")
@click.option("--backend", "backends", multiple=True,
              help="torch and/or onnxruntime [default: the fastest installed].")
@click.option("--unfused", is_flag=True, help="Also time the training-form (unfused) model on torch.")
@click.option("--frames", default=20, show_default=True, type=click.IntRange(1), help="Timed frames per row.")
@click.option("--warmup", default=3, show_default=True, type=click.IntRange(0), help="Untimed frames first.")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the result to this file.")
@debug_option
def bench_command(models, resolutions, backends, unfused, frames, warmup, fmt, out):
    """Measure the models as deployed (fused) on this machine: Params, GFLOPs (paper convention),
    FPS and latency per frame (median, p90), beside the paper's Params / GFLOPs / FPS."""
    from ..bench.machine import describe_machine
    from ..bench.report import render
    from ..bench.runner import BACKENDS, available_backends, bench_model
    from ..models import model_names

    models = _check_choices("--model", _split(models), model_names())
    resolutions = _check_choices("--res", _split(resolutions), list(RESOLUTIONS))
    installed = available_backends()
    backends = _check_choices("--backend", _split(backends), BACKENDS) if backends else installed[:1]
    for backend in backends:
        if backend not in installed:
            raise ReportedError(f"--backend {backend}: {backend} is not installed (pip install 'repvsr-deploy[{backend}]')")

    if out:
        writable_directory(out.parent)  # before minutes of measuring, not after
    rows = [row for name in models for row in bench_model(name, resolutions, backends, unfused, frames, warmup)]
    text = render(rows, fmt, describe_machine(), shlex.join(["repvsr-bench", *sys.argv[1:]]))
    click.echo(text, nl=False)
    if out:
        with atomic_path(out) as tmp:
            tmp.write_text(text)


def main():
    run_command(bench_command)
