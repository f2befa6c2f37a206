"""Loading an engine safely, with the flavour its sidecar names, and describing it
(`repvsr-trt info`). Imports no torch."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ReportedError
from . import cuda
from .cache import Sidecar, check_host_code, check_runs_here, read_sidecar, sidecar_path
from .flavors import Flavor, TensorRTForRTX
from .flavors import flavor as flavor_named

# TensorRT for RTX's EngineInvalidityDiagnostics, in words
_INVALIDITY = {
    "VERSION_MISMATCH": "built with another version of TensorRT for RTX",
    "UNSUPPORTED_CC": "this GPU's compute capability is not among those it was built for",
    "OLD_CUDA_DRIVER": "the NVIDIA driver is too old for it",
    "OLD_CUDA_RUNTIME": "the CUDA runtime is too old for it",
    "INSUFFICIENT_GPU_MEMORY": "the GPU has too little memory for it",
    "MALFORMED_ENGINE": "the file is corrupt or not an engine",
    "CUDA_ERROR": "CUDA failed while checking it",
}


@dataclass
class LoadedEngine:
    engine: Any  # ICudaEngine of the flavour's library
    sidecar: Sidecar
    flavor: Flavor
    trt: Any  # the flavour's library module
    gpu: str
    compute_capability: str


def read_engine_sidecar(path) -> Sidecar:
    """The sidecar of an existing engine file; one clear error where either is missing."""
    path = Path(path)
    if not path.is_file():
        raise ReportedError(f"{path}: no such engine file")
    sidecar = read_sidecar(path)
    if sidecar is None:
        raise ReportedError(
            f"{path}: no {sidecar_path(path).name} beside it, so nothing says what it was built for; "
            "build engines with repvsr-trt build"
        )
    return sidecar


def load_engine(path, trust_host_code: bool = False) -> LoadedEngine:
    """The engine at `path`, deserialized with the flavour its sidecar names. Refuses, in one line,
    an engine this machine cannot run (no GPU, another GPU, compute capability or version), and
    version-compatible engines (which carry host code) unless `trust_host_code`."""
    path = Path(path)
    sidecar = read_engine_sidecar(path)
    flavor = flavor_named(sidecar.key.flavor)
    trt = flavor.import_library()
    gpu, capability = cuda.device()
    check_runs_here(path, sidecar.key, gpu, capability, trt.__version__)
    check_host_code(path, sidecar.key, trust_host_code)
    logger = trt.Logger(trt.Logger.WARNING)
    flavor.init_plugins(trt, logger)
    if sidecar.plugins:
        _register_plugins_if_possible()
    runtime = trt.Runtime(logger)
    runtime.engine_host_code_allowed = trust_host_code
    data = path.read_bytes()
    if isinstance(flavor, TensorRTForRTX):
        _check_validity(trt, runtime, data, path, gpu, capability)
    engine = runtime.deserialize_cuda_engine(data)
    if engine is None:
        raise ReportedError(f"{path}: {flavor.title} could not deserialize it (corrupt, or not what its sidecar says)")
    return LoadedEngine(engine, sidecar, flavor, trt, gpu, capability)


def _check_validity(trt, runtime, data: bytes, path: Path, gpu: str, capability: str) -> None:
    """TensorRT for RTX says whether an engine runs on this GPU before it is loaded; say why not."""
    validity, diagnostics = runtime.get_engine_validity(data)
    if validity != trt.EngineValidity.INVALID:
        return
    reasons = [
        text for name, text in _INVALIDITY.items() if diagnostics & int(getattr(trt.EngineInvalidityDiagnostics, name))
    ]
    raise ReportedError(
        f"{path}: TensorRT for RTX cannot run it on this GPU, {gpu} ({capability}): "
        f"{'; '.join(reasons) or 'no reason given'}"
    )


def _register_plugins_if_possible() -> None:
    """AOT plugin kernels live in the engine; registering the plugin too costs nothing where we can."""
    try:
        from . import plugin  # noqa: F401
    except ImportError:
        pass


def describe_sidecar(path, sidecar: Sidecar) -> list[str]:
    """What `repvsr-trt info` prints from the sidecar alone (no GPU needed): the build key, the model,
    the I/O tensors its metadata implies and the profiles."""
    key, info = sidecar.key, sidecar.info
    title = flavor_named(key.flavor).title
    lines = [
        f"{path}",
        f"  model: {info.model} ({info.graph} graph), x{info.scale}, frames from {info.min_size}x{info.min_size}",
        f"  {title} {key.library}, {key.precision}, built {sidecar.built} for {key.target()}",
        f"  from ONNX sha256 {key.onnx_sha256}; opt level {key.opt_level}, workspace "
        f"{'the library default' if key.workspace_gib is None else f'{key.workspace_gib} GiB'}"
        f"{', version-compatible' if key.version_compatible else ''}",
        f"  plugins: {', '.join(sidecar.plugins) or 'none'}",
        f"  inputs: {', '.join(info.input_names)}; outputs: {', '.join(info.output_names)}",
    ]
    streams = f"1 to {key.streams} streams a run" if key.streams > 1 else "one stream a run"
    lines += [
        f"  profile {index} ({name}): LR frames up to {width}x{height}, {streams}"
        for index, (name, height, width) in enumerate(key.profiles)
    ]
    return lines


def describe_engine(loaded: LoadedEngine) -> list[str]:
    """What a loaded engine adds: each I/O tensor's type and its shapes per profile."""
    engine, trt = loaded.engine, loaded.trt
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    lines = ["  I/O tensors as loaded here:"]
    for name in names:
        is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
        lines.append(
            f"    {'in ' if is_input else 'out'} {name}: {engine.get_tensor_dtype(name)} "
            f"{tuple(engine.get_tensor_shape(name))}"
        )
        if is_input:
            for index in range(len(loaded.sidecar.key.profiles)):
                low, _, high = engine.get_tensor_profile_shape(name, index)
                lines.append(f"        profile {index}: {tuple(low)} to {tuple(high)}")
    return lines
