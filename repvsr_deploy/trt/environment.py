"""What a machine offers for TensorRT: the library, cuda-python, and NVIDIA GPUs.

Probed without importing torch, and without failing: every missing piece is reported with why.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
from dataclasses import dataclass, field

from ..errors import first_sentence


@dataclass(frozen=True)
class Gpu:
    name: str
    compute_capability: str


@dataclass(frozen=True)
class Probe:
    tensorrt: str | None  # version, or None where it does not import
    tensorrt_problem: str | None
    cuda_python: str | None
    gpus: list[Gpu] = field(default_factory=list)
    gpu_problem: str | None = None

    @property
    def usable(self) -> bool:
        return self.tensorrt is not None and self.cuda_python is not None and bool(self.gpus)


def _module_version(name: str) -> tuple[str | None, str | None]:
    try:
        module = importlib.import_module(name)
    except Exception as exc:  # the bindings without the libraries raise ImportError or OSError
        return None, first_sentence(exc)
    return getattr(module, "__version__", "unknown"), None


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
    tensorrt, tensorrt_problem = _module_version("tensorrt")
    cuda_python, _ = _module_version("cuda.bindings")
    gpus, gpu_problem = _gpus()
    return Probe(tensorrt, tensorrt_problem, cuda_python, gpus, gpu_problem)
