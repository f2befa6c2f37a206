"""repvsr-trt: TensorRT engines for the exported step graphs."""

import click

from ..errors import ReportedError
from .errors import debug_option, run_command

INSTALL_HINT = "pip install 'repvsr-deploy[gpu]' on a machine with an NVIDIA GPU"


@click.group("repvsr-trt")
def trt_command():
    """TensorRT engines for the step graphs that repvsr-export writes."""


@trt_command.command("check")
@debug_option
def check_command():
    """Report whether TensorRT can run here: the library, cuda-python, NVIDIA GPUs."""
    from ..trt import probe

    found = probe()
    click.echo(f"TensorRT:    {found.tensorrt or f'not usable ({found.tensorrt_problem})'}")
    click.echo(f"cuda-python: {found.cuda_python or 'not installed'}")
    gpus = ", ".join(f"{g.name} (compute capability {g.compute_capability})" for g in found.gpus)
    click.echo(f"NVIDIA GPU:  {gpus or f'none ({found.gpu_problem})'}")
    if not found.usable:
        raise ReportedError(f"TensorRT cannot run on this machine ({INSTALL_HINT})")


def main():
    run_command(trt_command)
