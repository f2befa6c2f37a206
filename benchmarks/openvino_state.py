"""Does keeping the recurrent state inside OpenVINO (ReadValue/Assign) beat host arrays on the CPU?

    python benchmarks/openvino_state.py --model repvsr --res 720p --out benchmarks/results/cpu-openvino-state-720p.json

The same exported graph two ways: as the backend runs it (state in host arrays, read in place with
`share_inputs`, next state returned as outputs) and made stateful by OpenVINO's `MakeStateful` pass
(each state input/output pair becomes a variable). Both step the same frames from the same state;
their HR frames must agree exactly. Steps alternate between the two so that drift in the machine's
speed falls on both alike; the medians are compared.
"""

from __future__ import annotations

import json
import time

import numpy as np
from cpu_graph import arguments, exported_graph

from repvsr_deploy.bench.machine import describe_machine
from repvsr_deploy.graph_file import read_graph
from repvsr_deploy.resolutions import RESOLUTIONS


def main():
    args = arguments(__doc__.split("\n")[0], steps=30)
    import openvino as ov

    path = exported_graph(args.model)
    _, info = read_graph(path)
    height, width = RESOLUTIONS[args.res]  # the LR size
    frames = np.random.default_rng(0).random((4, 1, 3, height, width), dtype=np.float32)
    core, config = ov.Core(), {ov.properties.hint.inference_precision: ov.Type.f32}

    host = core.compile_model(str(path), "CPU", config).create_infer_request()
    stateful_model = core.read_model(str(path))
    from openvino import passes

    manager = passes.Manager()
    manager.register_pass(passes.MakeStateful({s.input_name: s.output_name for s in info.states}))
    manager.run_passes(stateful_model)
    inside = core.compile_model(stateful_model, "CPU", config).create_infer_request()
    for variable in inside.query_state():  # named after its input and output: state_X + next_state_X
        spec = next(s for s in info.states if variable.name.startswith(s.input_name))
        variable.state = ov.Tensor(np.zeros(spec.shape(height, width), np.float32))
    state = [np.zeros(s.shape(height, width), np.float32) for s in info.states]

    times = {"host arrays": [], "in the runtime": []}
    worst = 0.0
    for step in range(args.steps + 3):  # the first 3 compile kernels and warm caches
        lr = frames[step % len(frames)]
        start = time.perf_counter()
        results = host.infer(dict(zip(info.input_names, [lr, *state])), share_inputs=True, share_outputs=False)
        state = [results[s.output_name] for s in info.states]
        middle = time.perf_counter()
        kept = inside.infer({"lr": lr}, share_inputs=True, share_outputs=False)
        end = time.perf_counter()
        worst = max(worst, float(np.abs(results["hr"] - kept["hr"]).max()))
        if step >= 3:
            times["host arrays"].append((middle - start) * 1e3)
            times["in the runtime"].append((end - middle) * 1e3)
    medians = {way: float(np.median(ms)) for way, ms in times.items()}
    result = {
        "command": f"python benchmarks/openvino_state.py --model {args.model} --res {args.res} --steps {args.steps}"
        + (f" --out {args.out}" if args.out else ""),
        "machine": {**describe_machine(), "openvino": ov.get_version()},
        "lr_size": f"{width}x{height}",
        "median_ms": medians,
        "max_abs_difference": worst,
    }
    print(json.dumps(result["median_ms"]), f"max |difference| {worst:.1e}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
