"""repvsr-quantize: fp32 step graph -> int8 (or fp8) graph for one backend, calibrated on real
footage and checked on a held-out clip before it is kept."""

from functools import partial
from pathlib import Path

import click

from ..quantize.float_scope import DEFAULT_RULES
from ..quantize.targets import TARGETS
from .errors import debug_option, run_command
from .options import FiniteRange
from .status import status_line


@click.command("repvsr-quantize")
@click.argument("graph", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--calib",
    "calib",
    multiple=True,
    required=True,
    type=click.Path(path_type=Path),
    help="Footage to calibrate on: a video file or a folder of images (repeatable). Its frames are the "
    "ground truth; the model sees them degraded (--degradation), as repvsr-eval does.",
)
@click.option(
    "--val",
    type=click.Path(path_type=Path),
    help="A held-out clip to check on [default: the last --val-frames frames of the last --calib, left out "
    "of calibration].",
)
@click.option(
    "--backend",
    type=click.Choice(list(TARGETS)),
    default="openvino",
    show_default=True,
    help="What runs the result: OpenVINO (an IR model, .xml + .bin), onnxruntime (a Q/DQ graph) or "
    "TensorRT and TensorRT for RTX (a signed Q/DQ graph for repvsr-trt build).",
)
@click.option(
    "--precision",
    type=click.Choice(["int8", "bf16", "fp8"]),
    default="int8",
    show_default=True,
    help="bf16: --backend openvino only, the fp32 model run in OpenVINO's bf16 (fast on CPUs with AMX; "
    "nothing to calibrate, only checked). fp8 (E4M3): --backend tensorrt only, for GPUs of compute "
    "capability 8.9 and later.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Output file [default: GRAPH's NAME.int8.xml or NAME.bf16.xml (openvino), NAME.int8.onnx (onnxruntime), "
    "NAME.int8.tensorrt.onnx (tensorrt)].",
)
@click.option(
    "--calib-frames", default=100, show_default=True, type=click.IntRange(1), help="Frames to calibrate on, in all."
)
@click.option(
    "--val-frames",
    default=100,
    show_default=True,
    type=click.IntRange(100),
    help="Frames of the check (at least 100: an error can build up in the recurrent state).",
)
@click.option("--degradation", type=click.Choice(["bd", "bi"]), default="bd", show_default=True)
@click.option(
    "--max-loss",
    default=0.1,
    show_default=True,
    type=FiniteRange(0),
    help="dB of PSNR the quantized graph may lose against the fp32 graph on the check clip, over the clip "
    "and as growth from its first tenth to its last.",
)
@click.option(
    "--keep-float",
    help="What stays in float, comma-separated: sampling (flow and deformable-conv offsets up to the warp), "
    "ranking (KSNet's TopK scores), input (the first convs reading the frame and state), output (the ops "
    f"that make the HR frame); 'none' for nothing [default: {','.join(DEFAULT_RULES)}; bf16 has no quantizers].",
)
@debug_option
def quantize_command(
    graph, calib, val, backend, precision, output, calib_frames, val_frames, degradation, max_loss, keep_float
):
    """Quantize the fp32 step graph GRAPH (from repvsr-export) for one backend.

    The fp32 graph runs its recurrence over the --calib footage, and NNCF calibrates on the inputs
    each step really had (the frame and the state before it); bf16 needs no calibration. The result
    is then checked on a held-out clip against the fp32 graph, on the backend it is for: nothing is
    written if it loses more than --max-loss dB of PSNR, or if its loss grows along the clip by more
    than that.
    """
    from ..errors import ReportedError, require_torch
    from ..graph_file import read_graph

    require_torch("repvsr-quantize (it degrades the footage into LR frames)")
    from ..quantize.float_scope import RULES, float_nodes
    from ..quantize.footage import footage
    from ..quantize.targets import TARGETS, artifact_path
    from ..quantize.verified import quantize_verified

    target = TARGETS[backend]
    if precision not in target.precisions:
        only = next(t.name for t in TARGETS.values() if precision in t.precisions)
        raise click.BadParameter(f"{precision} is for --backend {only} only", param_hint="'--precision'")
    if precision == "bf16" and keep_float is not None:
        raise click.BadParameter("bf16 has no quantizers to keep out: leave it out", param_hint="'--keep-float'")
    keep_float = ",".join(DEFAULT_RULES) if keep_float is None else keep_float
    rules = [] if keep_float.strip().lower() == "none" else [r.strip() for r in keep_float.split(",") if r.strip()]
    for rule in rules:
        if rule not in RULES:
            raise click.BadParameter(f"'{rule}' is not one of {', '.join(RULES)}, none", param_hint="'--keep-float'")
    output = output or artifact_path(graph, target, precision)
    if output.suffix.lower() != target.suffix:
        raise click.BadParameter(f"{output}: --backend {backend} writes a {target.suffix} file", param_hint="'-o'")
    if output.resolve() == graph.resolve():
        raise ReportedError(f"-o {output}: that is GRAPH itself")
    clips = footage(list(calib), val, calib_frames, val_frames, degradation, read_graph(graph)[1].scale)
    with status_line() as say:
        keep = partial(float_nodes, rules=rules)
        report = quantize_verified(graph, output, target, precision, clips, keep, max_loss, say=say)
    click.echo("\n".join(report.lines()))


def main():
    run_command(quantize_command)
