"""Where a model's frame time goes on the CPU, per operator type, on onnxruntime and OpenVINO (fp32 and int8).

    python benchmarks/profile_cpu.py --model repvsr --res 720p --out benchmarks/results/cpu-profile-repvsr-720p.json

The model (random init, fused) is exported to a temporary folder; each runtime runs `--steps` steps
on the same frame and state with its own profiler on (onnxruntime's `enable_profiling`, OpenVINO's
`profiling_info`); OpenVINO also runs the graph quantized to int8 as `repvsr-quantize` quantizes it
(NNCF, the default float rules), calibrated on random inputs (the weights are random too: it times
the int8 graph, it says nothing of its quality). OpenVINO compiles each as its backend does for a
session (for the frame's size, the HR frame made into uint8 levels inside the graph). Beside each onnxruntime operator type: its FLOPs and the bytes of the tensors it
reads and writes at this size, hence the rates it attained, against the machine's compute peak
(repvsr-bench's roofline) and its memory bandwidth (a large numpy copy, measured here). An operator
whose tensors stream at near the bandwidth while far from the peak is memory-bound.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from cpu_graph import arguments, exported_graph

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.bench.roofline import peak
from repvsr_deploy.graph_file import read_graph
from repvsr_deploy.resolutions import RESOLUTIONS

BYTES = 4  # fp32


def memory_bandwidth_gb_per_s(megabytes: int = 512, repeats: int = 5) -> float:
    """Best of `repeats` copies of a large array: bytes read plus bytes written per second."""
    source = np.ones(megabytes * 2**20 // 8)
    target = np.empty_like(source)
    best = min(_timed(lambda: np.copyto(target, source)) for _ in range(repeats))
    return 2 * source.nbytes / best / 1e9


def _timed(run) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def op_costs(path: Path, inputs: dict[str, np.ndarray]) -> dict[str, tuple[float, float]]:
    """{ONNX op type: (FLOPs, bytes of its nodes' activation inputs and outputs)} at these input
    shapes. FLOPs are counted for convolutions only (2 x MACs)."""
    model = onnx.load(path)
    for value in model.graph.input:
        for dim, size in zip(value.type.tensor_type.shape.dim, inputs[value.name].shape):
            dim.ClearField("dim_param")
            dim.dim_value = size
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    shapes = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in [*model.graph.input, *model.graph.value_info, *model.graph.output]
    }
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    costs: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for node in model.graph.node:
        activations = [shapes[name] for name in [*node.input, *node.output] if name in shapes and name not in weights]
        costs[node.op_type][1] += sum(int(np.prod(shape)) for shape in activations) * BYTES
        if node.op_type in ("Conv", "ConvTranspose") and node.input[1] in weights:
            kernel = weights[node.input[1]]  # Conv [out, in/g, kh, kw]; ConvTranspose [in, out/g, kh, kw]
            counted = shapes[node.output[0]] if node.op_type == "Conv" else shapes[node.input[0]]
            costs[node.op_type][0] += 2.0 * np.prod(counted) * np.prod(kernel[1:])
    return {op: (flops, moved) for op, (flops, moved) in costs.items()}


def step_inputs(path: Path, lr_hw: tuple[int, int], seed: int = 0) -> dict[str, np.ndarray]:
    _, info = read_graph(path)
    rng = np.random.default_rng(seed)
    height, width = lr_hw
    values = {"lr": rng.random((1, 3, height, width), dtype=np.float32)}
    values.update({s.input_name: rng.random(s.shape(height, width), dtype=np.float32) * 0.1 for s in info.states})
    return values


def profile_onnxruntime(path: Path, inputs: dict, steps: int) -> dict[str, float]:
    """{operator type as onnxruntime ran it (after its fusions, e.g. Conv + LeakyRelu): ms per step}."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(Path(tempfile.mkdtemp()) / "ort")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(steps):
        session.run(None, inputs)
    events = json.loads(Path(session.end_profiling()).read_text())
    times: dict[str, float] = defaultdict(float)
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            times[event["args"]["op_name"]] += event["dur"] / 1e3 / steps
    return dict(times)


def int8_model(path: Path, lr_hw: tuple[int, int]):
    """The graph quantized to int8 for OpenVINO as `repvsr-quantize` quantizes it (NNCF, its default
    float rules), calibrated on 3 random steps' inputs."""
    from repvsr_deploy.quantize.float_scope import DEFAULT_RULES, float_nodes
    from repvsr_deploy.quantize.targets import TARGETS, quantize_model

    kept = [node.name for node in float_nodes(onnx.load(path), DEFAULT_RULES)]
    samples = [step_inputs(path, lr_hw, seed) for seed in range(3)]
    return quantize_model(path, TARGETS["openvino"], "int8", samples, kept)


def profile_openvino(model, info, inputs: dict, steps: int) -> dict[str, float]:
    """{OpenVINO node type (its kernel): ms per step}, after OpenVINO's own fusions; `model` a path
    or an OpenVINO model, compiled as the OpenVINO backend compiles it for a session's frames: for
    these inputs' sizes, the HR frame made into uint8 levels inside the graph; the float parts in fp32."""
    import openvino as ov

    from repvsr_deploy.runtime.openvino_backend import openvino_core, with_levels_out

    core = openvino_core()
    model = core.read_model(str(model)) if isinstance(model, Path) else model.clone()
    model.reshape({name: list(value.shape) for name, value in inputs.items()})
    with_levels_out(model, info, np.dtype(np.uint8))
    config = {ov.properties.hint.inference_precision: ov.Type.f32, ov.properties.enable_profiling: True}
    request = core.compile_model(model, "CPU", config).create_infer_request()
    request.infer(inputs)  # the first run also compiles kernels for these shapes
    times: dict[str, float] = defaultdict(float)
    for _ in range(steps):
        request.infer(inputs)
        for item in request.profiling_info:
            if item.status == item.Status.EXECUTED:
                times[item.node_type] += item.real_time.total_seconds() * 1e3 / steps
    return dict(times)


def by_op_type(times: dict[str, float], costs: dict[str, tuple[float, float]]) -> list[dict]:
    """Rows by time, each with the FLOPs and bytes of the ONNX op of the same type, and the rates."""
    rows = []
    for op, ms in sorted(times.items(), key=lambda item: -item[1]):
        flops, moved = costs.get(op, (0.0, 0.0))
        rows.append(
            {
                "op": op,
                "ms": ms,
                "gflop": flops / 1e9,
                "gb": moved / 1e9,
                "gflops_per_s": flops / ms / 1e6,
                "gb_per_s": moved / ms / 1e6,
            }
        )
    return rows


def main():
    args = arguments(__doc__.split("\n")[0], steps=10)
    path = exported_graph(args.model)
    height, width = RESOLUTIONS[args.res]  # the LR size
    inputs = step_inputs(path, (height, width))
    costs = op_costs(path, inputs)
    machine = describe_machine()
    compute_peak = peak("cpu", "fp32", machine["cpu"]).gflops_per_s
    bandwidth = memory_bandwidth_gb_per_s()
    ort_rows = by_op_type(profile_onnxruntime(path, inputs, args.steps), costs)
    # OpenVINO's names for the ONNX ops whose costs its rows carry
    ov_costs = {"Convolution": costs.get("Conv", (0, 0)), "ConvolutionBackpropData": costs.get("ConvTranspose", (0, 0))}
    info = read_graph(path)[1]
    ov_rows = by_op_type(profile_openvino(path, info, inputs, args.steps), ov_costs)
    int8_rows = by_op_type(profile_openvino(int8_model(path, (height, width)), info, inputs, args.steps), ov_costs)
    result = {
        "command": f"python benchmarks/profile_cpu.py --model {args.model} --res {args.res} --steps {args.steps}"
        + (f" --out {args.out}" if args.out else ""),
        "machine": machine,
        "lr_size": f"{width}x{height}",
        "compute_peak_gflops_per_s": compute_peak,
        "memory_bandwidth_gb_per_s": bandwidth,
        "conv_gflop": sum(c[0] for c in costs.values()) / 1e9,
        "activation_gb": sum(c[1] for c in costs.values()) / 1e9,
        "onnxruntime": {"ms": sum(r["ms"] for r in ort_rows), "by_op": ort_rows},
        "openvino": {"ms": sum(r["ms"] for r in ov_rows), "by_op": ov_rows},
        "openvino_int8": {"ms": sum(r["ms"] for r in int8_rows), "by_op": int8_rows},
    }
    print(
        f"{args.model} at {args.res} (LR {result['lr_size']}): {result['conv_gflop']:.2f} GFLOP in convolutions, "
        f"{result['activation_gb']:.2f} GB of activations read and written; peak {compute_peak:.0f} GFLOP/s, "
        f"memory {bandwidth:.1f} GB/s"
    )
    for runtime in ("onnxruntime", "openvino", "openvino_int8"):
        print(f"{runtime}, {result[runtime]['ms']:.1f} ms in kernels per step:")
        for r in result[runtime]["by_op"][:8]:
            rates = f"{r['gflops_per_s']:6.1f} GFLOP/s" if r["gflop"] else ""
            print(f"  {r['op']:<26} {r['ms']:7.1f} ms  {rates}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
