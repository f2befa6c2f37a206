"""The verified quantization: a model's fp32 step graphs quantized for one backend, calibrated on
the states their own recurrence makes over real footage, and written only once a held-out clip shows
that the quantized graphs lose no more than a limit (see `check`); files appear together or not at all.

A graph quantized for TensorRT is checked here on onnxruntime, which computes its Q/DQ operators as
the ONNX standard defines them; where TensorRT and a GPU are present, on engines built from it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

import onnx

from ..atomic import staged_files
from ..errors import ReportedError
from ..modelinfo import ModelInfo
from ..runtime.backends import BACKENDS, TENSORRT_BACKENDS, closing_all, fastest_backend, open_graphs
from ..runtime.choice import Backend
from .check import Check, check
from .float_scope import CONVOLUTIONS, DEFAULT_RULES, FloatNode, float_nodes
from .footage import Footage
from .recording import record_feeds
from .targets import Target, quantize_model, quantizer_version

DEFAULT_MAX_LOSS = 0.1  # dB


@dataclass(frozen=True)
class QuantizeReport:
    files: list[Path]
    target: str
    precision: str
    calibration: dict
    kept_float: list[FloatNode]
    check: Check

    def lines(self) -> list[str]:
        weighted = [n for n in self.kept_float if n.op in CONVOLUTIONS]
        kept = ", ".join(f"{n.name} ({n.op}, {n.rule})" for n in weighted) or "no convolution"
        if len(self.kept_float) > len(weighted):
            kept += f", with the {len(self.kept_float) - len(weighted)} ops on their paths"
        if self.precision == "bf16":
            return [
                f"{' + '.join(map(str, self.files))}: {self.precision} for {self.target} ({quantizer_version(self.precision)}): "
                f"the fp32 model, run in OpenVINO's {self.precision} inference precision, nothing to calibrate",
                f"checked on {self.check.describe()}",
            ]
        return [
            f"{' + '.join(map(str, self.files))}: {self.precision} for {self.target} ({quantizer_version(self.precision)}), "
            f"calibrated on {self.calibration['frames']} frames of {', '.join(self.calibration['sources'])}",
            f"kept in float: {kept}",
            f"checked on {self.check.describe()}",
        ]


def quantize_verified(
    graph: Path,
    output: Path,
    target: Target,
    precision: str,
    footage: Footage,
    keep: Callable[[onnx.ModelProto], list[FloatNode]] = partial(float_nodes, rules=DEFAULT_RULES),
    max_loss: float | None = DEFAULT_MAX_LOSS,
    say: Callable[[str], None] = lambda line: None,
) -> QuantizeReport:
    """Quantize the fp32 graph(s) at `graph` into `output` (and its twins), the nodes `keep` names
    left in float, and check them; with `max_loss` (dB) refuse, writing nothing, a quantization that
    loses more or drifts (`Check.problem`)."""
    graph, output = Path(graph), Path(output)
    checked_on = check_backend(target)
    with closing_all(open_graphs(graph, Backend.named(_runtime(checked_on), "cpu"))) as fp32:
        info = next(iter(fp32.values())).info
        if info.precision != "fp32":
            raise ReportedError(f"{graph}: a {info.precision} graph; quantize the fp32 graph")
        if info.io != "float":
            raise ReportedError(f"{graph}: a graph with {info.io} frames; quantize the float-frame graph")
        feeds, calibration = _calibration(graph, fp32, footage, precision, say)
        sources, outputs = info.graph.graph_set.files(graph), info.graph.graph_set.files(output)
        with staged_files(output) as stage:
            quantized, kept = {}, []
            for kind, source in sources.items():
                say(f"{source.name}: quantizing it to {precision} for {target.name} ({quantizer_version(precision)})")
                kept_here = [] if precision == "bf16" else keep(onnx.load(source, load_external_data=False))
                kept += kept_here
                model = quantize_model(source, target, precision, feeds[kind], [n.name for n in kept_here])
                quantized[kind] = (model, fp32[kind].info)
            metadata = {
                "for": target.name,
                "quantizer": quantizer_version(precision),
                "calibration": calibration,
                "kept_float": [n.name for n in kept],
            }
            _save_all(quantized, outputs, stage, target, precision, metadata)
            # closed before its files are written again (OpenVINO maps an IR's weights)
            say(f"{output.name}: checking it against the fp32 graph on {footage.validation.name} ({checked_on})")
            with closing_all(_open_checked(stage / output.name, checked_on, info, footage.validation)) as checked:
                verdict = check(fp32, checked, footage.validation, checked_on)
            problem = verdict.problem(max_loss) if max_loss is not None else None
            if problem:
                raise ReportedError(f"{output}: not written: {problem}")
            _save_all(quantized, outputs, stage, target, precision, {**metadata, "check": verdict.to_metadata()})
    return QuantizeReport(list(outputs.values()), target.name, precision, calibration, kept, verdict)


def _calibration(graph: Path, fp32: dict, footage: Footage, precision: str, say) -> tuple[dict, dict]:
    """({graph kind: the inputs of each of its runs over the calibration footage}, what the metadata
    says of it); bf16 needs none: the runtime rounds as it runs."""
    held_out = footage.validation.name if footage.held_out else None
    if precision == "bf16":
        return {kind: [] for kind in fp32}, {"sources": [], "frames": 0, "held_out": held_out}
    say(f"{graph.name}: running the fp32 graph over {footage.calibration_frames} calibration frames")
    sources = [clip.name for clip in footage.calibration]
    return record_feeds(fp32, footage.calibration), {
        "sources": sources,
        "frames": footage.calibration_frames,
        "held_out": held_out,
    }


def check_backend(target: Target) -> str:
    """Where a target's graphs are checked here: its own backend; for TensorRT, engines of the
    TensorRT flavour present with a GPU, else onnxruntime (the Q/DQ reference)."""
    if target.name == "tensorrt":
        backend, _ = fastest_backend()
        if backend in TENSORRT_BACKENDS:
            return backend
    return target.checked_on


def _runtime(checked_on: str) -> str:
    """The backend that runs the fp32 graphs beside the checked ones (engines: onnxruntime's fp32)."""
    return "onnxruntime" if checked_on in TENSORRT_BACKENDS else checked_on


def _save_all(quantized: dict, outputs: dict, stage: Path, target: Target, precision: str, metadata: dict) -> None:
    for kind, (model, fp32_info) in quantized.items():
        info = replace(fp32_info, precision=precision, quantization=metadata)
        _save(model, stage / outputs[kind].name, info, target)


def _save(model, path: Path, info: ModelInfo, target: Target) -> None:
    if target.name == "openvino":
        from ..runtime.openvino_backend import import_openvino, save_ir

        save_ir(import_openvino(), model, path, info)
        return
    kept = [p for p in model.metadata_props if not p.key.startswith("repvsr.")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in info.to_metadata().items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, path)


def _open_checked(path: Path, checked_on: str, info: ModelInfo, clip) -> dict:
    """The staged quantized graphs as the check runs them: on its backend, or as TensorRT engines
    built from them for the clip's LR size (in the stage's scratch folder, removed with it)."""
    if checked_on not in TENSORRT_BACKENDS:
        return open_graphs(path, Backend.named(checked_on, "cpu"))
    from ..trt.builder import BuildSettings, build
    from ..trt.cuda import device
    from ..trt.profiles import parse_profiles

    scratch = path.parent / "engines"
    scratch.mkdir(exist_ok=True)
    lr_size = f"{clip.width // info.scale}x{clip.height // info.scale}"
    flavor = BACKENDS[checked_on].flavor
    settings = BuildSettings(
        parse_profiles(lr_size, info.size_multiple),
        flavor=flavor,
        compute_capabilities=device()[1] if flavor == "rtx" else "",  # for the GPU at hand (fp8: 8.9 and later)
    )
    engine = build(path, scratch / f"{path.stem}.plan", settings, say=lambda line: None)[-1]
    return open_graphs(engine, Backend.TensorRT())
