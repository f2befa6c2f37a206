"""The engine cache: what an engine was built from and for, in a JSON sidecar beside it.

An engine is only good for the flavour and version of TensorRT it was built with, the GPU (TensorRT)
or compute capabilities (TensorRT for RTX) it was built for, and the graph, precision, profiles and
builder settings it was built from. `repvsr-trt build` reuses an engine whose key matches and
rebuilds a stale one, saying what changed; sessions refuse an engine this machine cannot run
(version-compatible TensorRT engines may run on a newer TensorRT).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..errors import ReportedError, parameter
from ..modelinfo import ModelInfo


@dataclass(frozen=True)
class BuildKey:
    flavor: str  # tensorrt | rtx (see flavors)
    library: str  # the flavour's version
    gpu: str  # TensorRT: the GPU it was built on; TensorRT for RTX: "" (any GPU of its capabilities)
    compute_capabilities: tuple[str, ...]  # TensorRT: that GPU's; for RTX those asked for, () = its default set
    onnx_sha256: str
    precision: str
    profiles: tuple[tuple[str, int, int], ...]  # (name, H, W) of each LR profile
    opt_level: int
    workspace_gib: float | None  # None: the library's default
    version_compatible: bool
    streams: int = 1  # the most streams one run takes (a batch of a streaming graph); 1 in sidecars before it

    def differences(self, other: BuildKey) -> list[str]:
        """'field: old -> new' for every field that differs."""
        mine, theirs = asdict(self), asdict(other)
        return [
            f"{name}: {_short(mine[name])} -> {_short(theirs[name])}" for name in mine if mine[name] != theirs[name]
        ]

    def target(self) -> str:
        """What the engine runs on, in words."""
        if self.gpu:
            return f"{self.gpu} (compute capability {', '.join(self.compute_capabilities)})"
        if self.compute_capabilities:
            return f"compute capabilities {', '.join(self.compute_capabilities)}"
        return "TensorRT for RTX's default set of compute capabilities"


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= 24 else text[:12] + "..."


@dataclass(frozen=True)
class Sidecar:
    """What `repvsr-trt build` writes beside ENGINE as ENGINE.json."""

    key: BuildKey
    model: dict  # the graph's ModelInfo metadata
    plugins: tuple[str, ...] = ()  # plugins the engine holds, e.g. repvsr::FlowGuidedDeformConv
    built: str = field(default="")
    engine_sha256: str = ""  # of the engine it describes ("" in sidecars written before it was: not checked)

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
            key["compute_capabilities"] = tuple(key["compute_capabilities"])
            plain["plugins"] = tuple(plain.get("plugins", ()))
            plain.pop("backward_engine", None)  # written by 0.x before the twin rule (GraphSet.files)
            return cls(key=BuildKey(**key), **plain)
        except (AttributeError, KeyError, TypeError, ValueError, RecursionError):  # nested past Python's limit
            raise ReportedError(
                f"{source}: not a repvsr-trt engine sidecar (corrupt, or another tool's); rebuild the engine "
                "with repvsr-trt build"
            ) from None


def sidecar_path(engine: Path) -> Path:
    engine = Path(engine)
    return engine.with_name(engine.name + ".json")


def read_sidecar(engine: Path) -> Sidecar | None:
    """The sidecar beside `engine`, None if there is none; refused if it describes another engine
    (the pair is replaced together, sidecar first: a reader between the two renames sees this)."""
    path = sidecar_path(engine)
    if not path.is_file():
        return None
    sidecar = Sidecar.from_json(path.read_text(), str(path))
    if sidecar.engine_sha256 and Path(engine).is_file() and file_sha256(engine) != sidecar.engine_sha256:
        raise ReportedError(
            f"{engine}: {path.name} describes another build of it (rebuilt as it was read, or "
            "copied apart); read it again, or rebuild it with repvsr-trt build"
        )
    return sidecar


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_runs_here(engine: Path, key: BuildKey, gpu: str, compute_capability: str, library: str) -> None:
    """Refuse an engine this machine cannot run, saying what it was built for: a TensorRT engine of
    another GPU or version; a TensorRT for RTX engine of another version or other capabilities."""
    title = "TensorRT for RTX" if key.flavor == "rtx" else "TensorRT"
    rebuild = f"rebuild it with repvsr-trt build --flavor {key.flavor}"
    if key.gpu and (key.gpu, key.compute_capabilities) != (gpu, (compute_capability,)):
        raise ReportedError(
            f"{engine}: built for {key.target()}, this machine has {gpu} ({compute_capability}); {rebuild} here"
        )
    if key.compute_capabilities and compute_capability not in key.compute_capabilities:
        raise ReportedError(
            f"{engine}: built for {key.target()}; this GPU, {gpu}, has {compute_capability}: "
            f"rebuild it with repvsr-trt build --flavor {key.flavor} --compute-capability {compute_capability}"
        )
    if key.library != library and not key.version_compatible:
        raise ReportedError(
            f"{engine}: built with {title} {key.library}, this machine has {library}; {rebuild}"
            + (" (or build it with repvsr-trt build --version-compatible)" if key.flavor == "tensorrt" else "")
        )


def check_host_code(engine: Path, key: BuildKey, trust_host_code: bool) -> None:
    """A version-compatible engine carries the lean runtime's host code: run it only on explicit trust."""
    if key.version_compatible and not trust_host_code:
        raise ReportedError(
            f"{engine}: a version-compatible engine carries executable host code; run it only if you trust "
            f"where it came from, with {parameter('trust_host_code')}"
        )
