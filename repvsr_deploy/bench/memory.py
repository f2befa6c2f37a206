"""Peak memory of one benchmark row, where the backend's memory lives.

- CPU: the process's peak resident set (VmHWM), reset before the row (Linux /proc/self/clear_refs);
  it includes the interpreter and torch, so compare rows, not absolute values.
- torch on CUDA: the peak of torch's allocator.
- onnxruntime / TensorRT on CUDA: GPU memory in use after the row minus before (cudaMemGetInfo), which
  covers the engine's or session's arenas; these allocate up front, so it is their peak.
"""

from __future__ import annotations

from pathlib import Path

import torch

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


class PeakMemory:
    def __init__(self, backend: str, device: str):
        self.backend, self.device = backend, device
        self.kind = self._kind()
        self._gpu_used_before = 0

    def _kind(self) -> str | None:
        if self.device == "cpu":
            return "host peak RSS" if _STATUS.exists() and _CLEAR_REFS.exists() else None
        if self.backend == "torch":
            return "GPU peak allocated (torch)"
        return "GPU in use (cudaMemGetInfo delta)"

    def start(self) -> None:
        """Call before the session is made."""
        if self.kind == "host peak RSS":
            try:
                _CLEAR_REFS.write_text("5")  # resets VmHWM to the current RSS
            except OSError:
                self.kind = None
        elif self.kind == "GPU peak allocated (torch)":
            torch.cuda.reset_peak_memory_stats()
        elif self.kind:
            self._gpu_used_before = _gpu_used()

    def peak_mb(self) -> float | None:
        if self.kind == "host peak RSS":
            return _status_kb("VmHWM") / 1024
        if self.kind == "GPU peak allocated (torch)":
            return torch.cuda.max_memory_allocated() / 2**20
        if self.kind:
            return (_gpu_used() - self._gpu_used_before) / 2**20
        return None


def _status_kb(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _gpu_used() -> int:
    free, total = torch.cuda.mem_get_info()
    return total - free
