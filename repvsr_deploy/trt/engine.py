"""Loading an engine safely, and describing it (`repvsr-trt info`). Imports no torch."""

from __future__ import annotations

from pathlib import Path

from ..errors import ReportedError
from . import cuda
from .builder import import_tensorrt
from .cache import Sidecar, check_host_code, check_runs_here, read_sidecar, sidecar_path


def load_engine(path, trust_host_code: bool = False):
    """(ICudaEngine, Sidecar): refuses engines for another GPU or TensorRT version, and
    version-compatible engines (which carry host code) unless `trust_host_code`."""
    path = Path(path)
    if not path.is_file():
        raise ReportedError(f"{path}: no such engine file")
    sidecar = read_sidecar(path)
    if sidecar is None:
        raise ReportedError(
            f"{path}: no {sidecar_path(path).name} beside it, so nothing says what it was built for; "
            "build engines with repvsr-trt build"
        )
    trt = import_tensorrt()
    gpu, capability = cuda.device()
    check_runs_here(path, sidecar.key, gpu, capability, trt.__version__)
    check_host_code(path, sidecar.key, trust_host_code)
    if sidecar.plugins:
        _register_plugins_if_possible()
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    runtime.engine_host_code_allowed = trust_host_code
    engine = runtime.deserialize_cuda_engine(path.read_bytes())
    if engine is None:
        raise ReportedError(f"{path}: TensorRT could not deserialize it (corrupt, or not what its sidecar says)")
    return engine, sidecar


def _register_plugins_if_possible() -> None:
    """AOT plugin kernels live in the engine; registering the plugin too costs nothing where we can."""
    try:
        from . import plugin  # noqa: F401
    except ImportError:
        pass


def describe(path, engine, sidecar: Sidecar) -> list[str]:
    """What `repvsr-trt info` prints: I/O tensors, profiles, precision, the build key, the model."""
    trt = import_tensorrt()
    names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
    inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
    key = sidecar.key
    info = sidecar.info
    lines = [
        f"{path}",
        f"  model: {info.model} ({info.graph} graph), x{info.scale}, frames from {info.min_size}x{info.min_size}",
        f"  precision: {key.precision}; built {sidecar.built} for {key.gpu} (compute capability "
        f"{key.compute_capability}) with TensorRT {key.tensorrt}",
        f"  from ONNX sha256 {key.onnx_sha256}; opt level {key.opt_level}, workspace {key.workspace_gib} GiB"
        f"{', version-compatible' if key.version_compatible else ''}",
        f"  plugins: {', '.join(sidecar.plugins) or 'none'}",
        "  I/O tensors:",
    ]
    for name in names:
        mode = "in " if name in inputs else "out"
        lines.append(f"    {mode} {name}: {engine.get_tensor_dtype(name)} {tuple(engine.get_tensor_shape(name))}")
    for index, (profile_name, height, width) in enumerate(key.profiles):
        lines.append(f"  profile {index} ({profile_name}, LR up to {width}x{height}):")
        for name in inputs:
            low, opt, high = engine.get_tensor_profile_shape(name, index)
            lines.append(f"    {name}: min {tuple(low)}, opt {tuple(opt)}, max {tuple(high)}")
    return lines
