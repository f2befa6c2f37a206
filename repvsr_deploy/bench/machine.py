"""Which machine and which versions produced a number: recorded beside every published result."""

import os
import platform
from importlib import metadata


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def describe_machine() -> dict:
    packages = (
        "repvsr-deploy", "torch", "onnxruntime", "onnxruntime-gpu", "onnx", "openvino", "nncf", "tensorrt",
        "tensorrt-rtx", "av", "numpy",
    )  # fmt: skip
    return {
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "gpu": _gpu_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "versions": {name: v for name in packages if (v := _version(name))},
    }
