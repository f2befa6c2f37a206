"""What a runtime needs to know about an exported step graph, and its ONNX metadata form.

The exporter writes it, every session reads it; it imports no torch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from . import __version__
from .errors import ReportedError

METADATA_PREFIX = "repvsr."
PRECISIONS = ("fp32", "fp16")  # of graphs, engines and the torch backend


@dataclass(frozen=True)
class StateSpec:
    """One recurrent state tensor: [1, channels, H * scale, W * scale] for an LR frame of H x W."""

    name: str
    channels: int
    scale: int

    @property
    def input_name(self) -> str:
        return f"state_{self.name}"

    @property
    def output_name(self) -> str:
        return f"next_state_{self.name}"

    def shape(self, height: int, width: int) -> tuple[int, int, int, int]:
        return (1, self.channels, height * self.scale, width * self.scale)


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
    graph: str = "step"  # step (streams) | backward, forward (the two sweeps of a bidirectional model)
    backward_graph: str = ""  # a forward graph's backward graph, a file beside it
    version: str = __version__

    def check_frame(self, height: int, width: int) -> None:
        """Refuse a frame smaller than the model accepts."""
        if height < self.min_size or width < self.min_size:
            raise ReportedError(
                f"frame of {width}x{height} is smaller than model '{self.model}' accepts "
                f"({self.min_size}x{self.min_size} at least)"
            )

    def to_metadata(self) -> dict[str, str]:
        """ONNX `metadata_props`: flat string pairs under the `repvsr.` prefix."""
        plain = asdict(self)
        plain["states"] = [
            {**asdict(s), "input": s.input_name, "output": s.output_name} for s in self.states
        ]
        return {METADATA_PREFIX + key: json.dumps(value) for key, value in plain.items()}

    @classmethod
    def from_metadata(cls, props: dict[str, str], source: str) -> ModelInfo:
        """Read back what `to_metadata` wrote; `source` names the file in the error."""
        try:
            plain = {
                key[len(METADATA_PREFIX):]: json.loads(value)
                for key, value in props.items()
                if key.startswith(METADATA_PREFIX)
            }
            states = tuple(
                StateSpec(s["name"], int(s["channels"]), int(s["scale"])) for s in plain.pop("states")
            )
            return cls(states=states, **plain)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportedError(
                f"{source}: not a repvsr-deploy step graph (its metadata lacks or garbles {exc})"
            ) from None
