"""What a runtime needs to know about a model's step graphs, and its ONNX metadata form.

The one description of the recurrent state (`StateSpec`) and of the graphs a model has (`GraphKind`,
`GraphSet`): the models declare them, the exporter writes them, every backend, the engine builder
and the sessions read them. It imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from . import __version__
from .errors import ReportedError

MAX_STREAMS = 1024  # the most streams a graph's batch takes (its bound in the trace)

METADATA_PREFIX = "repvsr."
PRECISIONS = ("fp32", "fp16", "bf16", "int8", "fp8")  # of graphs and engines
# what repvsr-quantize makes from an fp32 graph and checks (Q/DQ graphs, OpenVINO IR; bf16: OpenVINO's)
QUANTIZED = ("bf16", "int8", "fp8")
ENGINE_PRECISIONS = tuple(p for p in PRECISIONS if p != "bf16")  # of TensorRT engines (bf16 is OpenVINO's)
# how a graph's frames cross its boundary: float in [0, 1], or integer levels (the graph normalises the
# LR frame and rounds the HR frame inside), with their top level
FRAME_LEVELS = {"uint8": 255, "uint16": 65535}
FRAME_IO = ("float", *FRAME_LEVELS)


class GraphKind(str, Enum):
    """One of a model's step graphs: a streaming model has `step`; a bidirectional one `backward`
    (over a clip, latest frame first) and then `forward` (earliest first)."""

    STEP = "step"
    BACKWARD = "backward"
    FORWARD = "forward"

    def __str__(self) -> str:
        return self.value

    @property
    def method(self) -> str:
        """The model's method it exports."""
        return "step" if self is GraphKind.STEP else f"{self.value}_step"

    @property
    def output(self) -> str:
        """Its first output: the HR frame, or for the backward sweep each frame's feature."""
        return "feature" if self is GraphKind.BACKWARD else "hr"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Its inputs before the state: the LR frame, and for the forward sweep the backward feature."""
        return ("lr", "feature") if self is GraphKind.FORWARD else ("lr",)

    @property
    def graph_set(self) -> GraphSet:
        """The graphs of a model that has this one."""
        return STREAMING if self is GraphKind.STEP else BIDIRECTIONAL


@dataclass(frozen=True)
class GraphSet:
    """The graphs of one model, in the order they run. The last one gives the HR frames; its file is
    the one a user names (NAME.onnx, NAME.plan), the others are twins beside it (NAME.backward.onnx)."""

    kinds: tuple[GraphKind, ...]

    @property
    def last(self) -> GraphKind:
        return self.kinds[-1]

    def files(self, path) -> dict[GraphKind, Path]:
        """{kind: file}, the last graph at `path`, the one rule for the twins' names."""
        path = Path(path)
        return {
            kind: path if kind is self.last else path.with_name(f"{path.stem}.{kind.value}{path.suffix}")
            for kind in self.kinds
        }


STREAMING = GraphSet((GraphKind.STEP,))
BIDIRECTIONAL = GraphSet((GraphKind.BACKWARD, GraphKind.FORWARD))


@dataclass(frozen=True)
class TensorSpec:
    """A tensor of a step graph: [N, channels, H * scale, W * scale] for N streams' LR frames of H x W."""

    name: str
    channels: int
    scale: int

    def shape(self, height: int, width: int, streams: int = 1) -> tuple[int, int, int, int]:
        return (streams, self.channels, height * self.scale, width * self.scale)


@dataclass(frozen=True)
class StateSpec(TensorSpec):
    """One recurrent state tensor, in the graph's precision. Named as the step reads it (`lr_prev`);
    a model's specs are in the order of its step's state arguments and of the next state it returns;
    in a graph it is the input state_NAME and the output next_state_NAME."""

    @property
    def input_name(self) -> str:
        return f"state_{self.name}"

    @property
    def output_name(self) -> str:
        return f"next_state_{self.name}"


@dataclass(frozen=True)
class ModelInfo:
    """The interface of one recurrent step: `lr` and the states in, `hr` and the next states out."""

    model: str
    scale: int
    size_multiple: int
    min_size: int
    states: tuple[StateSpec, ...]
    fused: bool = True
    precision: str = "fp32"
    config: dict = field(default_factory=dict)
    graph: GraphKind = GraphKind.STEP
    delay: int = 0  # the step's HR frame is of the LR frame `delay` steps back (`centred_window`)
    version: str = __version__
    quantization: dict = field(default_factory=dict)  # how a quantized graph was made and verified
    streams: bool = False  # the graph takes a batch of streams (dimension 0 dynamic, up to MAX_STREAMS), not one
    io: str = "float"  # FRAME_IO: the LR and HR frames as float in [0, 1], or as uint8 / uint16 levels

    @property
    def input_names(self) -> list[str]:
        return [*self.graph.inputs, *(s.input_name for s in self.states)]

    @property
    def output_names(self) -> list[str]:
        return [self.graph.output, *(s.output_name for s in self.states)]

    def check_frame(self, height: int, width: int) -> None:
        """Refuse a frame smaller than the model accepts."""
        if height < self.min_size or width < self.min_size:
            raise ReportedError(
                f"frame of {width}x{height} is smaller than model '{self.model}' accepts "
                f"({self.min_size}x{self.min_size} at least)"
            )

    def check_runs_on(self, backend: str, source: str) -> None:
        """Refuse a quantized graph on a backend it was not made and checked for: runtimes read Q/DQ
        differently (TensorRT takes a uint8 quantizer as int8 and clips it), and only the check says
        that the result holds. A TensorRT graph is checked on onnxruntime where no GPU is at hand."""
        made_for = self.quantization.get("for")
        if self.precision not in QUANTIZED or made_for == backend:
            return
        if backend == "onnxruntime" and made_for == "tensorrt":
            return
        raise ReportedError(
            f"{source}: a {self.precision} graph made for {made_for} and checked there, not for {backend}; "
            f"quantize the fp32 graph for it (repvsr-quantize --backend {backend})"
        )

    def check_io(self, inputs: list[str], outputs: list[str], source: str) -> None:
        """Refuse a graph whose inputs and outputs are not the ones its metadata describes."""
        for what, found, declared in (("inputs", inputs, self.input_names), ("outputs", outputs, self.output_names)):
            if sorted(found) != sorted(declared):
                raise ReportedError(
                    f"{source}: its metadata declares {what} {', '.join(declared)}; the graph has {', '.join(found)}"
                )

    def to_metadata(self) -> dict[str, str]:
        """ONNX `metadata_props`: flat string pairs under the `repvsr.` prefix."""
        plain = asdict(self)
        plain["graph"] = self.graph.value
        plain["states"] = [{**asdict(s), "input": s.input_name, "output": s.output_name} for s in self.states]
        return {METADATA_PREFIX + key: json.dumps(value) for key, value in plain.items()}

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str) -> ModelInfo:
        """Read back what `to_metadata` wrote, every value checked (the file is the user's);
        `source` names the file in the error."""
        try:
            plain = {
                key[len(METADATA_PREFIX) :]: json.loads(value)
                for key, value in props.items()
                if key.startswith(METADATA_PREFIX)
            }
            states = tuple(StateSpec(s["name"], s["channels"], s["scale"]) for s in plain.pop("states"))
            graph = GraphKind(plain.pop("graph"))
            plain.pop("backward_graph", None)  # written by 0.x before the twin rule (GraphSet.files)
            info = cls(states=states, graph=graph, **plain)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportedError(
                f"{source}: not a repvsr-deploy step graph (its metadata lacks or garbles {exc})"
            ) from None
        except RecursionError:  # JSON nested deeper than Python decodes
            raise ReportedError(f"{source}: not a repvsr-deploy step graph (its metadata nests too deep)") from None
        problem = info._metadata_problem()
        if problem:
            raise ReportedError(f"{source}: its repvsr metadata is out of range ({problem})")
        return info

    def _metadata_problem(self) -> str:
        """'' if every value is of its kind and within what any model here has, else the first that is not."""
        bounds = {
            "scale": (1, MAX_SCALE),
            "size_multiple": (1, MAX_SIZE_MULTIPLE),
            "min_size": (1, MAX_MIN_SIZE),
            "delay": (0, MAX_DELAY),
        }
        for key, (low, high) in bounds.items():
            if not _is_int_within(getattr(self, key), low, high):
                return f"{key} {getattr(self, key)!r}: an integer in {low}..{high}"
        for spec in self.states:
            if not (
                isinstance(spec.name, str)
                and spec.name.isidentifier()
                and _is_int_within(spec.channels, 1, MAX_STATE_CHANNELS)
                and _is_int_within(spec.scale, 1, MAX_SCALE)
            ):
                return f"state {spec.name!r}: a name, 1..{MAX_STATE_CHANNELS} channels, scale 1..{MAX_SCALE}"
        if self.precision not in PRECISIONS:
            return f"precision {self.precision!r}: one of {', '.join(PRECISIONS)}"
        if self.io not in FRAME_IO:
            return f"io {self.io!r}: one of {', '.join(FRAME_IO)}"
        kinds = {"model": str, "fused": bool, "config": dict, "version": str, "quantization": dict, "streams": bool}
        for key, kind in kinds.items():
            if not isinstance(getattr(self, key), kind):
                return f"{key} {getattr(self, key)!r}: not a {kind.__name__}"
        if self.delay and self.graph is not GraphKind.STEP:
            return f"delay {self.delay} on a {self.graph} graph: only a streaming step is centred"
        return ""


# bounds of the values a graph's metadata may hold: far above any model here, far below harm
MAX_SCALE = 16
MAX_SIZE_MULTIPLE = 1024
MAX_MIN_SIZE = 4096
MAX_DELAY = 64
MAX_STATE_CHANNELS = 4096


def _is_int_within(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
