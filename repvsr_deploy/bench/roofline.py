"""The machine's peak FLOP rate, measured once per device and precision and cached, and how much of
it a model attains: the roofline column of repvsr-bench.

The peak is the best of what a large matrix product and two 3x3 convolutions attain (torch, best
of 10 runs each): a practical ceiling, not the datasheet's number. Convolutions too, because one
library may lag another: on this 2-core AMD EPYC MKL's sgemm reached 184 GFLOP/s and oneDNN's
channels-last convolution 480, and onnxruntime ran VESPCN at 418, so a matmul-only peak put models
above 100 %. Another backend's kernels can still beat torch's by a little.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
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

    def fraction(self, attained_gflops_per_s: float) -> float:
        return attained_gflops_per_s / self.gflops_per_s


def cache_file() -> Path:
    return cache_dir() / "peak-flops.json"


def peak(device: str, precision: str, device_name: str) -> Peak:
    """The cached peak of (device, precision), measured on first use."""
    key = f"{device}|{device_name}|{precision}|threads={torch.get_num_threads() if device == 'cpu' else 0}"
    cached = _read_cache()
    if key in cached:
        return Peak(**cached[key])
    measured = measure_peak(device, precision, device_name)
    cached[key] = asdict(measured)
    try:
        cache_file().parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_file()) as tmp:
            tmp.write_text(json.dumps(cached, indent=2) + "\n")
    except OSError:
        pass  # an unwritable cache costs a re-measurement next time, nothing else
    return measured


def _read_cache() -> dict:
    try:
        return json.loads(cache_file().read_text())
    except (OSError, ValueError):
        return {}


def measure_peak(device: str, precision: str, device_name: str) -> Peak:
    n = 8192 if device == "cuda" else 2048
    if precision == "int8":  # int8 products with int32 sums (VNNI, AMX, tensor cores); no int8 conv in torch
        a, b = (torch.randint(-128, 128, (n, n), device=device, dtype=torch.int8) for _ in range(2))
        rate = _rate(lambda: torch._int_mm(a, b), 2 * n**3, device)
        return Peak(rate, device_name, precision, f"torch int8 matmul {n}x{n} (torch._int_mm), int32 sums")
    if precision == "fp8":  # measured as fp16: torch has no portable fp8 product
        return replace(measure_peak(device, "fp16", device_name), precision="fp8")
    dtype = torch.float16 if precision == "fp16" else torch.float32
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
    """GFLOP/s of `run` (which does `flops`), the best of 10 after a warm-up."""
    best = float("inf")
    with torch.no_grad():
        run()
        for _ in range(10):
            _synchronize(device)
            start = time.perf_counter()
            run()
            _synchronize(device)
            best = min(best, time.perf_counter() - start)
    return flops / best / 1e9


def _synchronize(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()
