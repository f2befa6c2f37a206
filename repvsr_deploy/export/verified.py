"""The verified export: a model's step graphs written only once onnxruntime reproduces the torch
model with them, step by step, within a limit per precision; files appear together or not at all."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..atomic import staged_files
from ..errors import ReportedError
from ..modelinfo import FRAME_LEVELS
from ..models.base import BidirectionalVSRModel, VSRModel, count_params
from ..models.deform_conv import has_deform_conv
from ..models.fuse import fuse
from ..runtime.backends import closing_all, open_graphs
from ..runtime.choice import Backend
from .step_graph import OPSET, export_onnx, write_lowered
from .verify import StepError, step_errors

# fp16 keeps ~3 significant digits; both limits are on frames with values around [0, 1]
LIMITS = {"fp32": 1e-4, "fp16": 1e-2}


def limit(precision: str, io: str) -> float:
    """The verification limit: a graph that rounds its HR frame to levels may differ by one level
    where torch's value lies a hair from a rounding boundary."""
    return max(LIMITS[precision], 1 / FRAME_LEVELS[io]) if io in FRAME_LEVELS else LIMITS[precision]


def precision_path(output: Path, precision: str) -> Path:
    """Where a precision's graph goes: OUT for fp32, OUT's .fp16.onnx beside it for fp16."""
    output = Path(output)
    return output if precision == "fp32" else output.with_name(f"{output.stem}.{precision}{output.suffix}")


@dataclass(frozen=True)
class GraphReport:
    """One precision's graph(s): what was written and how well onnxruntime reproduced torch."""

    precision: str
    files: list[Path]  # a bidirectional model's backward graph first
    ir_version: int
    dcn: str | None  # the deformable convs' lowering; None where the model has none
    verified_as: str  # "itself", or for plugin graphs "its standard lowering" (onnxruntime cannot run the plugin)
    frames: int
    hw: tuple[int, int]
    errors: list[StepError]
    limit: float
    io: str = "float"  # ModelInfo.io

    @property
    def max_error(self) -> float:
        return max(e.error for e in self.errors)

    @property
    def _batched(self) -> bool:
        return any(e.streams > 1 for e in self.errors)

    @property
    def worst(self) -> StepError:
        return max(self.errors, key=lambda e: e.error)

    def describe(self, reference: str) -> str:
        height, width = self.hw
        twin = "" if self.verified_as == "itself" else f"verified as {self.verified_as}: "
        return (
            f"{' + '.join(map(str, self.files))}: {self.precision}{'' if self.io == 'float' else f', {self.io} frames'}, "
            f"opset {OPSET}, IR {self.ir_version}, "
            f"{f'deformable convs {self.dcn}, ' if self.dcn else ''}checker and shape inference ok; {twin}{self.frames} frames of "
            f"{width}x{height}{' (the last also as a batch of 2 streams)' if self._batched else ''} through "
            f"onnxruntime vs the {reference}, on the same state each step: max abs "
            f"error {self.max_error:.2e} (limit {self.limit:.0e})"
        )


@dataclass(frozen=True)
class ExportReport:
    model: str
    params: int  # of the deployed (fused) model
    params_training: int | None  # of the training form, where the model came unfused
    reference: str  # what the graphs were compared with
    graphs: list[GraphReport]

    def lines(self) -> list[str]:
        form = "fused" if self.params_training is None else f"fused from {self.params_training:,} in training form"
        return [
            f"{self.model}: {self.params:,} parameters ({form})",
            *(g.describe(self.reference) for g in self.graphs),
        ]


def export_verified(
    model: VSRModel,
    output,
    precisions=("fp32",),
    dcn: str = "standard",
    frames: int | None = None,
    hw: tuple[int, int] = (64, 96),
    io: str = "float",
    say: Callable[[str], None] = lambda line: None,
) -> ExportReport:
    """Export a model's fused step graph(s), verified, as `repvsr-export --onnx` does.

    Each graph is checked against `model` as it is (the training form, if it is unfused), step by
    step on the same state, and kept only if every step is within its limit; else nothing is written.

    Args:
        model: The model (a registry model, trained or not).
        output: The fp32 graph's path (fp16 beside it: `precision_path`).
        precisions: "fp32", "fp16", or both.
        dcn: How deformable convolutions are lowered: "standard", "portable" or "plugin".
        frames: Frames the check runs (default 8; 10 for bidirectional models).
        hw: The (height, width) of the check's LR frames.
        io: Frames as "float", or as "uint8" / "uint16" levels.
        say: Called with each stage as it starts.

    Returns:
        An `ExportReport`: the files and each graph's check.

    Raises:
        ReportedError: A graph that differs from the model by more than its limit."""
    output = Path(output)
    model = model.eval()
    frames = frames or (10 if isinstance(model, BidirectionalVSRModel) else 8)
    lowered = has_deform_conv(model)
    reports = []
    with staged_files(output) as stage:
        twins = stage / "lowered"  # scratch, removed with the stage
        twins.mkdir()
        for precision in precisions:
            path = precision_path(output, precision)
            say(f"{path.name}: tracing the {precision} step graph")
            protos = export_onnx(model, stage / path.name, precision, dcn, io)
            checked, verified_as = stage / path.name, "itself"
            if dcn == "plugin":  # onnxruntime cannot run the plugin op: check the same graph, lowered to standard ops
                checked, verified_as = write_lowered(model, checked, "standard", twins), "its standard lowering"
            say(f"{path.name}: checking it against the torch model, {frames} frames of {hw[1]}x{hw[0]} (onnxruntime)")
            with closing_all(open_graphs(checked, Backend.OnnxRuntime("cpu"))) as graphs:
                errors = step_errors(graphs, model, frames, hw)
            files = [path.with_name(file.name) for file in model.graphs.files(path).values()]
            report = GraphReport(
                precision,
                files,
                next(iter(protos.values())).ir_version,
                dcn if lowered else None,
                verified_as,
                frames,
                hw,
                errors,
                limit(precision, io),
                io,
            )
            if report.max_error > report.limit:
                worst = report.worst
                raise ReportedError(
                    f"{path}: the exported graph differs from the torch model by {report.max_error:.2e} "
                    f"(limit {report.limit:.0e}; worst: {worst.graph} graph, frame {worst.frame}); nothing written"
                )
            reports.append(report)
    return ExportReport(
        model.name,
        count_params(fuse(model)),
        None if model.fused else count_params(model),
        "torch model" if model.fused else "unfused torch model",
        reports,
    )
