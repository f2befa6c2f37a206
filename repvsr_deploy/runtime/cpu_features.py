"""What the CPU offers the runtimes' int8 kernels, read without running anything.

OpenVINO's int8 convolutions beat its fp32 ones by far where the CPU multiplies and adds int8 in one
instruction: AMX (Intel Xeon 4th generation and later), AVX-512 VNNI (Intel Ice Lake / Cascade Lake
and later, AMD Zen 4 and later) or AVX-VNNI (Intel Alder Lake and later). Elsewhere int8 is emulated
and need not be faster. OpenVINO's own list of capabilities names INT8 on every CPU, so the flags
are read from the operating system (Linux) or from NumPy's dispatch table (other systems: it names
AVX-512 VNNI, which every CPU with AMX has, but not AVX-VNNI, so a CPU with AVX-VNNI alone is taken
for one without).
"""

from __future__ import annotations

import importlib
from functools import cache

# Linux's /proc/cpuinfo flag -> the instruction set's name, the best first
_LINUX_FLAGS = {"amx_int8": "AMX", "avx512_vnni": "AVX-512 VNNI", "avx_vnni": "AVX-VNNI"}


@cache
def int8_dot_product() -> str | None:
    """The name of the CPU's int8 dot-product instructions ("AMX", "AVX-512 VNNI", "AVX-VNNI"),
    or None where it has none."""
    flags = _linux_cpu_flags()
    if flags is not None:
        return next((name for flag, name in _LINUX_FLAGS.items() if flag in flags), None)
    return "AVX-512 VNNI" if _numpy_cpu_features().get("AVX512VNNI") else None


def _linux_cpu_flags() -> set[str] | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def _numpy_cpu_features() -> dict[str, bool]:
    """NumPy's table of the instruction sets it found ({} where it keeps none)."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):  # NumPy 2, then 1
        try:
            return dict(importlib.import_module(module).__cpu_features__)
        except (ImportError, AttributeError):
            continue
    return {}
