"""The engine cache: what an engine was built from and for, in a JSON sidecar beside it.

An engine is only good for the GPU and TensorRT version it was built with, and for the graph,
precision, profiles and builder settings it was built from. `repvsr-trt build` reuses an engine
whose key matches and rebuilds a stale one, saying what changed; sessions refuse an engine from
another GPU or TensorRT version (version-compatible engines may run on a newer TensorRT).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ReportedError
from ..modelinfo import ModelInfo


@dataclass(frozen=True)
class BuildKey:
    gpu: str
    compute_capability: str
    tensorrt: str
    onnx_sha256: str
    precision: str
    profiles: tuple[tuple[str, int, int], ...]  # (name, H, W) of each LR profile
    opt_level: int
    workspace_gib: float
    version_compatible: bool

    def differences(self, other: BuildKey) -> list[str]:
        """'field: old -> new' for every field that differs."""
        mine, theirs = asdict(self), asdict(other)
        return [f"{name}: {_short(mine[name])} -> {_short(theirs[name])}" for name in mine if mine[name] != theirs[name]]


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 24 else text[:12] + "..."


@dataclass(frozen=True)
class Sidecar:
    """What `repvsr-trt build` writes beside ENGINE as ENGINE.json."""

    key: BuildKey
    model: dict  # the graph's ModelInfo metadata
    plugins: tuple[str, ...] = ()  # plugins the engine holds, e.g. repvsr::FlowGuidedDeformConv
    backward_engine: str = ""  # a forward engine's backward engine, beside it
    built: str = field(default="")

    @property
    def info(self) -> ModelInfo:
        return ModelInfo.from_metadata(self.model, "sidecar")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str, source: str) -> Sidecar:
        try:
            plain = json.loads(text)
            key = plain.pop("key")
            key["profiles"] = tuple(tuple(p) for p in key["profiles"])
            plain["plugins"] = tuple(plain.get("plugins", ()))
            return cls(key=BuildKey(**key), **plain)
        except (AttributeError, KeyError, TypeError, ValueError):
            raise ReportedError(
                f"{source}: not a repvsr-trt engine sidecar (corrupt, or another tool's); rebuild the engine "
                "with repvsr-trt build"
            ) from None


def sidecar_path(engine: Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def read_sidecar(engine: Path) -> Sidecar | None:
    path = sidecar_path(engine)
    return Sidecar.from_json(path.read_text(), str(path)) if path.is_file() else None


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_runs_here(engine: Path, key: BuildKey, gpu: str, compute_capability: str, tensorrt: str) -> None:
    """Refuse an engine built for another GPU or TensorRT version, with what it was built for."""
    if (key.gpu, key.compute_capability) != (gpu, compute_capability):
        raise ReportedError(
            f"{engine}: built for {key.gpu} (compute capability {key.compute_capability}), this machine has "
            f"{gpu} ({compute_capability}); rebuild it here with repvsr-trt build"
        )
    if key.tensorrt != tensorrt and not key.version_compatible:
        raise ReportedError(
            f"{engine}: built with TensorRT {key.tensorrt}, this machine has {tensorrt}; rebuild it here "
            "with repvsr-trt build (or build it --version-compatible)"
        )


def check_host_code(engine: Path, key: BuildKey, trust_host_code: bool) -> None:
    """A version-compatible engine carries the lean runtime's host code: run it only on explicit trust."""
    if key.version_compatible and not trust_host_code:
        raise ReportedError(
            f"{engine}: a version-compatible engine carries executable host code; run it only if you trust "
            "where it came from, with --trust-host-code"
        )
