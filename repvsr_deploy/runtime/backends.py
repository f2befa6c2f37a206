"""The backends, and the one rule for which of them opens what: a TensorRT engine (`.plan`,
`.engine`), an exported graph (`.onnx`: onnxruntime; OpenVINO when asked for), an OpenVINO IR model
(`.xml`, as `repvsr-quantize` writes for OpenVINO) or a model or checkpoint (torch, anything else).

Each backend opens all the graphs of one model (a streaming step, or backward + forward, their files
found by `GraphSet.files`) on a device, with options of its own as a typed object. `open_session`,
`repvsr-eval`, `repvsr-upscale` and `repvsr-bench` all open through here. Imports no torch.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReportedError

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class TorchOptions:
    precision: str = "fp32"  # the model runs in it (graphs and engines have their own)


@dataclass(frozen=True)
class TensorRTOptions:
    trust_host_code: bool = False  # run version-compatible engines, which carry executable host code


@dataclass(frozen=True)
class BackendKind:
    """A backend: what it opens, its options' type, and how it opens a model's graphs."""

    name: str
    suffixes: tuple[str, ...]  # the files it opens by default; () for the fallback (torch)
    options: type | None
    open_graphs: Callable  # (source, device, options) -> {GraphKind: Backend}


def _open_torch(source, device: str, options: TorchOptions) -> dict:
    from .torch_backend import TorchBackend, load_model

    model = load_model(source)
    return {kind: TorchBackend(model, device, kind, options.precision) for kind in model.graphs.kinds}


def _open_onnxruntime(source, device: str, options: None) -> dict:
    from .onnxruntime_backend import OnnxRuntimeBackend

    return _with_twins(Path(source), OnnxRuntimeBackend(source, device), lambda path: OnnxRuntimeBackend(path, device))


def _open_openvino(source, device: str, options: None) -> dict:
    from .openvino_backend import OpenVINOBackend

    return _with_twins(Path(source), OpenVINOBackend(source, device), lambda path: OpenVINOBackend(path, device))


def _open_tensorrt(source, device: str, options: TensorRTOptions) -> dict:
    from ..trt.backend import TensorRTBackend

    if device == "cpu":
        raise ReportedError(f"{source}: a TensorRT engine runs on an NVIDIA GPU only, not --device cpu")
    opened = TensorRTBackend(source, options.trust_host_code)
    return _with_twins(
        Path(source), opened, lambda path: TensorRTBackend(path, options.trust_host_code, stream=opened.stream)
    )


def _with_twins(path: Path, opened, open_file) -> dict:
    """{kind: backend}: the graph opened at `path` and its twins beside it; `path` must hold the
    graph that gives the HR frames (the one a user names)."""
    graph_set = opened.info.graph.graph_set
    if opened.info.graph is not graph_set.last:
        raise ReportedError(f"{path}: a {opened.info.graph} graph; open its {graph_set.last} graph instead")
    return {kind: opened if file == path else open_file(file) for kind, file in graph_set.files(path).items()}


BACKENDS = {
    kind.name: kind
    for kind in (
        BackendKind("tensorrt", (".plan", ".engine"), TensorRTOptions, _open_tensorrt),
        BackendKind("onnxruntime", (".onnx",), None, _open_onnxruntime),
        BackendKind("openvino", (".xml",), None, _open_openvino),
        BackendKind("torch", (), TorchOptions, _open_torch),
    )
}


def backend_for(source) -> BackendKind:
    """The backend that opens `source` by default: by the file's suffix; torch for anything else."""
    suffix = Path(source).suffix.lower() if isinstance(source, (str, Path)) else ""
    return next((kind for kind in BACKENDS.values() if suffix in kind.suffixes), BACKENDS["torch"])


def backend_named(name: str) -> BackendKind:
    if name not in BACKENDS:
        raise ReportedError(f"unknown backend '{name}' (known: {', '.join(BACKENDS)})")
    return BACKENDS[name]


def open_graphs(source, backend: str = "auto", device: str = "auto", options=None) -> dict:
    """{GraphKind: Backend} for all graphs of the model at `source` (see the module docstring);
    `options`: the backend's options object, or None for its defaults."""
    kind = backend_for(source) if backend == "auto" else backend_named(backend)
    if device not in DEVICES:
        raise ReportedError(f"unknown device '{device}' (known: {', '.join(DEVICES)})")
    if kind.options is None and options is not None:
        raise ReportedError(f"the {kind.name} backend takes no options")
    if kind.options is not None:
        options = options if options is not None else kind.options()
        if not isinstance(options, kind.options):
            raise ReportedError(f"the {kind.name} backend takes {kind.options.__name__}, not {type(options).__name__}")
    return kind.open_graphs(source, device, options)


FLAVORS = {"tensorrt": "tensorrt", "tensorrt-rtx": "rtx"}  # the TensorRT backends -> their flavours


def cuda_available() -> bool:
    """An NVIDIA GPU that torch can use (no torch installed: none known)."""
    if importlib.util.find_spec("torch") is None:
        return False
    import torch

    return torch.cuda.is_available()


def onnxruntime_cuda() -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers() and cuda_available()


def _tensorrt(backend: str) -> bool:
    """The backend's TensorRT flavour imports, and there is a GPU for it."""
    from ..trt.flavors import flavor

    return flavor(FLAVORS[backend]).version()[0] is not None and cuda_available()


def fastest_backend(engines: bool = True) -> tuple[str, str]:
    """(backend, device) of the fastest present, in this order: TensorRT, TensorRT for RTX (unless
    not `engines`: for what must run without an engine build), onnxruntime on CUDA, torch on CUDA,
    OpenVINO, onnxruntime on the CPU, torch on the CPU (the CPU order as measured in
    benchmarks/results/cpu-backends-720p)."""
    for backend in FLAVORS if engines else ():
        if _tensorrt(backend):
            return backend, "cuda"
    if onnxruntime_cuda():
        return "onnxruntime", "cuda"
    if cuda_available():
        return "torch", "cuda"
    if importlib.util.find_spec("openvino") is not None:
        return "openvino", "cpu"
    if importlib.util.find_spec("onnxruntime") is not None:
        return "onnxruntime", "cpu"
    return "torch", "cpu"
