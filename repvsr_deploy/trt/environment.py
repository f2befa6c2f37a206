"""What a machine offers for TensorRT: each flavour's library, cuda-python, and NVIDIA GPUs.

Probed without importing torch, and without failing: every missing piece is reported with why.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import first_sentence
from .cuda import cuda_python_version
from .flavors import FLAVORS


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str


@dataclass(frozen=True)
class Probe:
    libraries: dict[str, tuple[str | None, str | None]]  # flavour -> (version, or None and why not)
    cuda_python: str | None
    gpus: list[Gpu] = field(default_factory=list)
    gpu_problem: str | None = None

    def can_build(self, flavor: str) -> bool:
        """TensorRT builds on the GPU it targets; TensorRT for RTX anywhere."""
        return self.libraries[flavor][0] is not None and (flavor == "rtx" or self.can_run(flavor))

    def can_run(self, flavor: str) -> bool:
        return self.libraries[flavor][0] is not None and self.cuda_python is not None and bool(self.gpus)

    @property
    def usable(self) -> bool:
        """Some flavour builds and runs engines here."""
        return any(self.can_run(name) for name in FLAVORS)


def _gpus() -> tuple[list[Gpu], str | None]:
    if shutil.which("nvidia-smi") is None:
        return [], "nvidia-smi not found"
    query = ["nvidia-smi", "--query-gpu=name,compute_cap", "--format=csv,noheader"]
    result = subprocess.run(query, capture_output=True, text=True)
    if result.returncode != 0:
        return [], first_sentence(result.stderr or result.stdout or "nvidia-smi failed")
    gpus = [Gpu(*(part.strip() for part in line.rsplit(",", 1))) for line in result.stdout.splitlines() if line]
    return gpus, None if gpus else "nvidia-smi lists no GPU"


def probe() -> Probe:
    gpus, gpu_problem = _gpus()
    return Probe({name: flavor.version() for name, flavor in FLAVORS.items()}, cuda_python_version(), gpus, gpu_problem)
