"""The machine's peak FLOP rate, and how much of it a model attains: the roofline column of repvsr-bench.

The peak is measured in every process that asks for it (once per device and precision) and the best
measurement ever made is kept, with its date, in a cache: a machine that was busy when it was
measured reads too low a peak, so every "% peak" too high; the next quiet run replaces it.

The peak is the best of what a large matrix product and two 3x3 convolutions attain (torch, best
of 5 runs each): a practical ceiling, not the datasheet's number. Convolutions too, because one
library may lag another: on this 2-core AMD EPYC MKL's sgemm reached 184 GFLOP/s and oneDNN's
channels-last convolution 480, and onnxruntime ran VESPCN at 418, so a matmul-only peak put models
above 100 %. Another backend's kernels can still beat torch's by a little.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path

import torch
import torch.nn.functional as F

from ..atomic import atomic_path
from ..user_cache import cache_dir


@dataclass(frozen=True)
class Peak:
    gflops_per_s: float
    device: str  # the CPU's or GPU's name
    precision: str
    how: str  # what was measured
    measured_at: str = ""  # when (UTC, ISO 8601); "" in caches written before dates were kept
    this_run_gflops_per_s: float | None = None  # what this process measured (below the best on a busy machine)

    def fraction(self, attained_gflops_per_s: float) -> float:
        return attained_gflops_per_s / self.gflops_per_s


def cache_file() -> Path:
    return cache_dir() / "peak-flops.json"


_MEASURED: dict[str, Peak] = {}  # this process's measurement per cache key


def peak(device: str, precision: str, device_name: str) -> Peak:
    """The best peak of (device, precision) known here: this process's measurement (made on first
    use) or the cached one, whichever is higher; a higher one is cached, with its date."""
    key = f"{device}|{device_name}|{precision}|threads={torch.get_num_threads() if device == 'cpu' else 0}"
    if key not in _MEASURED:
        measured = measure_peak(device, precision, device_name)
        _MEASURED[key] = replace(measured, measured_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    now = _MEASURED[key]
    cached = _read_cache()
    best = Peak(**cached[key]) if key in cached else None
    if best is None or now.gflops_per_s > best.gflops_per_s:
        best = now
        cached[key] = asdict(now)
        _write_cache(cached)
    return replace(best, this_run_gflops_per_s=now.gflops_per_s)


def _write_cache(cached: dict) -> None:
    try:
        cache_file().parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file()) as tmp:
            tmp.write_text(json.dumps(cached, indent=2) + "\n")
    except OSError:
        pass  # an unwritable cache costs this run's measurement, nothing else


def _read_cache() -> dict:
    """{key: Peak fields}; entries that are not a Peak's (another version's, a damaged file) left out."""
    try:
        cached = json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}
    fields = set(Peak.__dataclass_fields__)
    return {
        key: value
        for key, value in (cached.items() if isinstance(cached, dict) else ())
        if isinstance(value, dict)
        and set(value) <= fields
        and isinstance(value.get("gflops_per_s"), (int, float))
        and {"device", "precision", "how"} <= set(value)
    }


def measure_peak(device: str, precision: str, device_name: str) -> Peak:
    n = 8192 if device == "cuda" else 2048
    if precision == "int8":  # int8 products with int32 sums (VNNI, AMX, tensor cores); no int8 conv in torch
        a, b = (torch.randint(-128, 128, (n, n), device=device, dtype=torch.int8) for _ in range(2))
        rate = _rate(lambda: torch._int_mm(a, b), 2 * n**3, device)
        return Peak(rate, device_name, precision, f"torch int8 matmul {n}x{n} (torch._int_mm), int32 sums")
    if precision == "fp8":  # measured as fp16: torch has no portable fp8 product
        return replace(measure_peak(device, "fp16", device_name), precision="fp8")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(precision, torch.float32)
    a, b = (torch.randn(n, n, device=device, dtype=dtype) for _ in range(2))
    candidates = [(_rate(lambda: torch.matmul(a, b), 2 * n**3, device), f"matmul {n}x{n}")]
    for channels, height, width, layout in _CONV_SHAPES[device]:
        x = torch.randn(1, channels, height, width, device=device, dtype=dtype).contiguous(memory_format=layout)
        w = torch.randn(channels, channels, 3, 3, device=device, dtype=dtype).contiguous(memory_format=layout)
        rate = _rate(lambda: F.conv2d(x, w, padding=1), 2 * channels**2 * 9 * height * width, device)
        candidates.append((rate, f"3x3 conv {channels} ch {width}x{height} {_LAYOUT_NAMES[layout]}"))
    rate, what = max(candidates)
    return Peak(rate, device_name, precision, f"torch {precision} {what}: the best of a matmul and 3x3 convs")


# (channels, H, W, layout): a wide layer, and a 64-channel 720p-LR layer as the networks have
_CONV_SHAPES = {
    "cpu": [(256, 128, 128, torch.contiguous_format), (64, 180, 320, torch.channels_last)],
    "cuda": [(512, 128, 128, torch.channels_last), (64, 540, 960, torch.channels_last)],
}
_LAYOUT_NAMES = {torch.contiguous_format: "NCHW", torch.channels_last: "channels-last"}


def _rate(run, flops: int, device: str) -> float:
    """GFLOP/s of `run` (which does `flops`), the best of 5 after a warm-up (measured in every run: kept short)."""
    best = float("inf")
    with torch.no_grad():
        run()
        for _ in range(5):
            _synchronize(device)
            start = time.perf_counter()
            run()
            _synchronize(device)
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
