"""repvsr-export: checkpoint -> fused single-step ONNX graph, verified against torch before it is kept."""

from pathlib import Path

import click

from ..modelinfo import FRAME_IO
from ..runtime.backends import backends_taking
from .errors import debug_option, run_command
from .options import FrameSize
from .status import status_line


@click.command("repvsr-export")
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--onnx", "to_onnx", is_flag=True, help="Write the fused single-step ONNX graph.")
@click.option(
    "--model", "model_name", help="Model name: the model CHECKPOINT must hold, or the one --random-init builds."
)
@click.option(
    "--random-init", is_flag=True, help="No checkpoint: export a randomly initialized model (for benchmarks)."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file [default: CHECKPOINT with .onnx, or MODEL.onnx].",
)
@click.option(
    "--fp16",
    is_flag=True,
    help="Also write a float16 graph beside it, NAME.fp16.onnx (what TensorRT 11 builds FP16 from).",
)
@click.option(
    "--verify-frames",
    type=click.IntRange(2),
    help="Frames of the verification clip [default: 8, or 10 for bidirectional models].",
)
@click.option(
    "--verify-size", default="96x64", show_default=True, type=FrameSize(), help="LR size of the verification clip."
)
@click.option(
    "--dcn",
    type=click.Choice(["standard", "plugin", "portable"]),
    default="standard",
    show_default=True,
    help=f"Deformable convolutions as ONNX DeformConv (standard: {backends_taking('standard')}); as our fused "
    f"TensorRT plugin op (plugin: {backends_taking('plugin')}; verified through its standard lowering, which "
    f"onnxruntime runs); or as GridSample and a 1x1 Conv (portable: {backends_taking('portable')}).",
)
@click.option(
    "--io",
    type=click.Choice(FRAME_IO),
    default="float",
    show_default=True,
    help="Frames in and out as float in [0, 1], or as uint8 / uint16 levels: the graph normalises the LR "
    "frame and rounds the HR frame itself, and a quarter (uint8) of the bytes crosses to and from a GPU. "
    "OUT defaults to NAME.uint8.onnx then.",
)
@click.option("--seed", default=0, show_default=True, help="Seed of --random-init.")
@debug_option
def export_command(
    checkpoint, to_onnx, model_name, random_init, output, fp16, verify_frames, verify_size, dcn, io, seed
):
    """Export CHECKPOINT (or --random-init --model NAME) as one recurrent step in ONNX.

    The graph is fused (every multi-branch block is one 3x3 conv), opset 19, with dynamic H and W,
    and proves itself before it is kept: a moving clip through onnxruntime against the unfused
    torch model, on the same state each step, max abs error at most 1e-4 (1e-2 for --fp16).
    Nothing is written if it fails.
    Bidirectional models write two graphs: OUT (forward sweep) and OUT's .backward.onnx beside it.
    """
    if not to_onnx:
        raise click.UsageError("nothing to export: add --onnx")
    if random_init == (checkpoint is not None):
        raise click.UsageError("give either CHECKPOINT or --random-init --model NAME")

    import torch

    from ..export import export_verified
    from ..models import build_model, load_checkpoint

    if random_init:
        if not model_name:
            raise click.UsageError("--random-init needs --model NAME")
        torch.manual_seed(seed)
        model = build_model(model_name).eval()
        default = Path(model_name)
    else:
        model = load_checkpoint(checkpoint, expect_model=model_name)
        default = checkpoint.with_suffix("")
    output = output or default.with_name(f"{default.name}{'' if io == 'float' else '.' + io}.onnx")
    precisions = ("fp32", "fp16") if fp16 else ("fp32",)
    with status_line() as say:
        report = export_verified(model, output, precisions, dcn, verify_frames, verify_size, io, say=say)
    click.echo("\n".join(report.lines()))


def main():
    run_command(export_command)
