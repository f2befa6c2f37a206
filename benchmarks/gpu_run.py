"""Everything a lent GPU should measure, in one go, into one folder: the GPU tests, both papers' table
rows at 720p/1080p/4K, streams in one batch, the end-to-end upscale rate against the model's, and
training speed (RepVSR and KSNet-uni at the papers' patch, clip and batch, fp32 and bf16).

    python benchmarks/gpu_run.py --out gpu-results            # on the GPU machine: 9 minutes at most
    python benchmarks/gpu_run.py --device cpu --quick --out x # the same steps on a CPU, small (the test)

Each step is a command of its own with a time limit; one that fails or runs out is recorded as such
and the others go on. The folder gets each step's output (JSON and Markdown), its log, and
`summary.md`/`summary.json`: the machine, the versions, each step's command, status and seconds.
The backend is the fastest present that needs no engine build, unless `--backend` names one.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.runtime.backends import fastest_backend

HERE = Path(__file__).resolve().parent


def steps(args, backend: str, device: str, out: Path) -> list[tuple[str, list[str], int]]:
    """(name, command, time limit in s) of each step."""
    sizes = ["--lr-size", "64x48"] if args.quick else ["--res", "720p,1080p,4k"]
    frames = ["--frames", "2", "--warmup", "1"] if args.quick else ["--frames", "30", "--warmup", "5"]
    where = ["--backend", backend, "--device", device]
    bench = [str(Path(sys.executable).with_name("repvsr-bench"))]
    return [
        ("gpu-tests", [sys.executable, "-m", "pytest", "-m", "gpu or tensorrt", "-q", "-p", "no:cacheprovider"], 120),
        (
            "tables",
            [*bench, "--table", args.table, *sizes, *where, "--precision", args.precision, *frames,
             "--out", str(out / "tables.json"), "--out", str(out / "tables.md")],
            180,
        ),
        (
            "streams",
            [*bench, "--model", "repvsr", *(["--lr-size", "64x48"] if args.quick else ["--res", "720p"]), "--backend", backend,
             "--device", device, "--streams", "1,2" if args.quick else "1,4,16", *frames,
             "--out", str(out / "streams.json"), "--out", str(out / "streams.md")],
            75,
        ),
        (
            "upscale",
            [sys.executable, str(HERE / "upscale_pipeline.py"), "--synthetic", "--backend", backend, "--device", device,
             "--lr-size", "64x48" if args.quick else "320x180", "--frames", "8" if args.quick else "120",
             "--out", str(out / "upscale.json")],
            75,
        ),
        (
            "train",
            [sys.executable, str(HERE / "train_speed.py"), "--device", device,
             "--precision", "fp32" if args.quick else "fp32,bf16", *(["--quick"] if args.quick else ["--iterations", "8", "--warmup", "3"]),
             "--out", str(out / "train.json")],
            90,
        ),
    ]  # fmt: skip


def run_step(name: str, command: list[str], limit: int, out: Path) -> dict:
    start = time.perf_counter()
    with open(out / f"{name}.log", "w") as log:
        try:
            status = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=limit, cwd=HERE.parent
            ).returncode
            status = "ok" if status == 0 else f"failed (exit {status})"
        except subprocess.TimeoutExpired:
            status = f"ran out of its {limit} s"
    return {
        "step": name,
        "command": shlex.join(command),
        "status": status,
        "seconds": round(time.perf_counter() - start, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--backend", help="[default: the fastest present that needs no engine build]")
    parser.add_argument("--table", default="all", choices=["all", "repvsr", "ksnet"])
    parser.add_argument("--precision", default="fp16,fp32")
    parser.add_argument("--only", help="Comma-separated steps to run [default: all]")
    parser.add_argument("--quick", action="store_true", help="Small sizes and few frames: checks the script runs.")
    args = parser.parse_args()
    if args.backend:
        backend = args.backend
    else:
        backend, found = fastest_backend(engines=False)
        if found != args.device:
            print(f"no backend computes on {args.device} here (the fastest present: {backend} on {found})")
            return 1
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = set(args.only.split(",")) if args.only else None
    results = [
        run_step(name, command, limit, args.out)
        for name, command, limit in steps(args, backend, args.device, args.out)
        if wanted is None or name in wanted
    ]
    summary = {"machine": describe_machine(), "backend": backend, "device": args.device, "steps": results}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"# GPU run: {summary['machine']['gpu'] or summary['machine']['cpu']}, {backend} on {args.device}", ""]
    lines += ["| step | status | seconds |", "| --- | --- | --- |"]
    lines += [f"| {r['step']} | {r['status']} | {r['seconds']} |" for r in results]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(r["status"] == "ok" for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
