"""repvsr-export: checkpoint -> fused single-step ONNX graph, verified against torch before it is kept."""

import tempfile
from pathlib import Path

import click

from ..atomic import staged_files
from ..errors import ReportedError
from .errors import debug_option, run_command
from .options import FrameSize

# fp16 keeps ~3 significant digits; both limits are on frames with values around [0, 1]
VERIFY_LIMITS = {"fp32": 1e-4, "fp16": 1e-2}


def fp16_path(path: Path) -> Path:
    return path.with_name(f"{path.stem}.fp16{path.suffix}")


@click.command("repvsr-export")
@click.argument("checkpoint", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--onnx", "to_onnx", is_flag=True, help="Write the fused single-step ONNX graph.")
@click.option("--model", "model_name", help="Model name: the model CHECKPOINT must hold, or the one --random-init builds.")
@click.option("--random-init", is_flag=True, help="No checkpoint: export a randomly initialized model (for benchmarks).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Output file [default: CHECKPOINT with .onnx, or MODEL.onnx].")
@click.option("--fp16", is_flag=True, help="Also write a float16 graph beside it, NAME.fp16.onnx (what TensorRT 11 builds FP16 from).")
@click.option("--verify-frames", type=click.IntRange(2),
              help="Frames of the verification clip [default: 8, or 10 for bidirectional models].")
@click.option("--verify-size", default="96x64", show_default=True, type=FrameSize(), help="LR size of the verification clip.")
@click.option("--dcn", type=click.Choice(["standard", "plugin"]), default="standard", show_default=True,
              help="Deformable convolutions as standard ONNX DeformConv, or as our fused TensorRT plugin op "
                   "FlowGuidedDeformConv (onnxruntime cannot run it: its standard twin is verified instead).")
@click.option("--seed", default=0, show_default=True, help="Seed of --random-init.")
@debug_option
def export_command(checkpoint, to_onnx, model_name, random_init, output, fp16, verify_frames, verify_size, dcn, seed):
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

    from ..bench.flops import count_params
    from ..export import OPSET, compare_with_torch, export_onnx
    from ..models import build_model, fuse, load_checkpoint

    if random_init:
        if not model_name:
            raise click.UsageError("--random-init needs --model NAME")
        torch.manual_seed(seed)
        model = build_model(model_name).eval()
        output = output or Path(f"{model_name}.onnx")
    else:
        model = load_checkpoint(checkpoint, expect_model=model_name)
        output = output or checkpoint.with_suffix(".onnx")

    from ..export.step_graph import graphs_of
    from ..models.base import BidirectionalVSRModel
    from ..trt.plugin_op import NAME as PLUGIN_OP

    form = "fused" if model.fused else f"fused from {count_params(model):,} in training form"
    click.echo(f"{model.name}: {count_params(fuse(model)):,} parameters ({form})")
    bidirectional = isinstance(model, BidirectionalVSRModel)
    frames = verify_frames or (10 if bidirectional else 8)
    height, width = verify_size
    reference = "torch model" if model.fused else "unfused torch model"
    targets = [("fp32", output)] + ([("fp16", fp16_path(output))] if fp16 else [])
    with staged_files(output.parent) as stage, tempfile.TemporaryDirectory() as twin_dir:
        for precision, path in targets:
            protos = export_onnx(model, stage / path.name, precision, dcn)
            plugin_nodes = sum(n.op_type == PLUGIN_OP for p in protos.values() for n in p.graph.node)
            checked = stage / path.name
            if plugin_nodes:  # onnxruntime cannot run the plugin op: verify the same model's standard graph
                checked = Path(twin_dir) / path.name
                export_onnx(model, checked, precision, "standard")
            error = compare_with_torch(checked, model, frames, verify_size)
            limit = VERIFY_LIMITS[precision]
            files = " + ".join(str(path.with_name(file.name)) for file in graphs_of(model, path).values())
            ir = next(iter(protos.values())).ir_version
            plugin_note = (f"{plugin_nodes} {PLUGIN_OP} plugin node(s), so its standard twin went " if plugin_nodes
                           else "")
            click.echo(
                f"{files}: {precision}, opset {OPSET}, IR {ir}, checker and shape inference ok; {plugin_note}"
                f"{'a clip of ' if bidirectional else ''}{frames} frames of {width}x{height} through "
                f"onnxruntime vs the {reference}, on the same state each step: max abs error {error:.2e} "
                f"(limit {limit:.0e})"
            )
            if error > limit:
                raise ReportedError(
                    f"{path}: the exported graph differs from the torch model by {error:.2e} "
                    f"(limit {limit:.0e}); nothing written"
                )


def main():
    run_command(export_command)
