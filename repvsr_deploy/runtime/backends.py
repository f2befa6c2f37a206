"""The backends, as one registry: for each kind (TensorRT, TensorRT for RTX, onnxruntime, OpenVINO,
torch) the files it opens, the devices it computes on, the deformable-conv lowerings its graphs may
hold, its choice (`Backend.X`: the options it takes), and whether it runs here on a device (and, if not, why not).

The one rule for which backend opens what: a TensorRT engine (`.plan`, `.engine`, of either
flavour), an exported graph (`.onnx`: onnxruntime; OpenVINO when asked for), an OpenVINO IR model
(`.xml`, as `repvsr-quantize` writes for OpenVINO) or a model or checkpoint (torch, anything else).
Each backend opens all the graphs of one model (a streaming step, or backward + forward, their files
found by `GraphSet.files`) on a device. Sessions, export, `repvsr-eval`, `repvsr-upscale` and
`repvsr-bench` all read this registry. Imports no torch.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import GPU_INSTALL, MissingDependency, ParameterError, ReportedError, parameter
from .choice import DEVICES, AnyBackend, Backend, check_choice


@dataclass(frozen=True)
class BackendKind:
    """A backend: what it opens and runs, where, and whether it can here."""

    choice: Any  # its class in `Backend`, which names it and holds its options
    default_for: tuple[str, ...]  # the file suffixes it opens when no backend is named
    devices: tuple[str, ...]  # where it computes, the one `auto` prefers first
    dcn: tuple[str, ...]  # the deformable-conv lowerings its graphs may hold; () for torch (the model itself)
    open_graphs: Callable  # (source, its choice) -> {GraphKind: GraphRunner}
    device_problem: Callable[[str], str | None]  # (device) -> why it cannot compute there here, or None
    flavor: str | None = None  # the TensorRT flavour (trt.flavors) of a TensorRT backend

    @property
    def name(self) -> str:
        return self.choice.name

    def problem(self, device: str = "auto") -> str | None:
        """Why this backend cannot run here on `device` (`auto`: on any of its devices), or None."""
        if device == "auto":
            problems = [self.device_problem(d) for d in self.devices]
            return None if None in problems else problems[0]
        if device not in self.devices:
            return f"the {self.name} backend runs on {' or '.join(self.devices)} only, not {device}"
        return self.device_problem(device)

    def resolve_device(self, device: str) -> str:
        """The device `device` means for this backend here (`auto`: the first it can use), checked:
        a clear error, before anything is opened, where it cannot run."""
        if device not in DEVICES:
            raise ParameterError(f"{parameter('device')} {device!r}: one of {', '.join(DEVICES)}")
        for candidate in self.devices if device == "auto" else (device,):
            if self.problem(candidate) is None:
                return candidate
        raise ReportedError(self.problem(device))

    def lowering(self, asked: str) -> str:
        """The deformable-conv lowering of the graphs this backend runs, given the one asked for: the
        one asked, or the only one it takes (OpenVINO and TensorRT for RTX: portable)."""
        if not self.dcn or asked in self.dcn:
            return asked
        if len(self.dcn) == 1:
            return self.dcn[0]
        raise ReportedError(f"{parameter('dcn')} {asked}: the {self.name} backend runs {', '.join(self.dcn)} graphs")


# -- whether each backend runs here ---------------------------------------------------------------------


@functools.cache
def gpu_problem() -> str | None:
    """Why no NVIDIA GPU is usable here, or None: asked of the CUDA runtime (cuda-python), else of
    torch, whichever is installed; the answer holds for the process."""
    from ..trt import cuda

    try:
        cuda.device()
        return None
    except MissingDependency:
        pass
    except ReportedError as exc:
        return str(exc)
    if importlib.util.find_spec("torch") is not None:
        import torch

        return None if torch.cuda.is_available() else "no NVIDIA GPU that torch can use here"
    return "no NVIDIA GPU found (neither cuda-python nor torch is installed to look)"


def _missing(module: str, extra: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install 'repvsr-deploy[{extra}]')"
    return None


def _torch_problem(device: str) -> str | None:
    if problem := _missing("torch", "torch"):
        return problem
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return "torch here has no CUDA device (needs an NVIDIA GPU and a CUDA build of torch)"
    return None


def _onnxruntime_problem(device: str) -> str | None:
    if problem := _missing("onnxruntime", "onnxruntime"):
        return problem
    if device == "cuda":
        import onnxruntime

        if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
            return f"onnxruntime here has no CUDA execution provider (needs an NVIDIA GPU and {GPU_INSTALL})"
        return gpu_problem()
    return None


def _openvino_problem(device: str) -> str | None:
    return _missing("openvino", "openvino")


def _tensorrt_problem(flavor_name: str) -> Callable[[str], str | None]:
    def problem(device: str) -> str | None:
        from ..trt.flavors import flavor

        found = flavor(flavor_name)
        if found.version()[0] is None:
            return f"{found.title} is not usable here ({found.version()[1]}); {found.install}"
        return gpu_problem()

    return problem


# -- how each backend opens a model -----------------------------------------------------------------------


def _open_torch(source, backend: Backend.Torch) -> dict:
    from .torch_backend import TorchBackend, load_model

    model = load_model(source)
    return {kind: TorchBackend(model, backend.device, kind, backend.precision) for kind in model.graphs.kinds}


def _open_onnxruntime(source, backend: Backend.OnnxRuntime) -> dict:
    from .onnxruntime_backend import OnnxRuntimeBackend

    def open_file(path):
        return OnnxRuntimeBackend(path, backend.device, backend.threads)

    return _with_twins(Path(source), open_file(source), open_file)


def _open_openvino(source, backend: Backend.OpenVINO) -> dict:
    from .openvino_backend import OpenVINOBackend

    def open_file(path):
        return OpenVINOBackend(path, backend.threads)

    return _with_twins(Path(source), open_file(source), open_file)


def _open_tensorrt(source, backend: Backend.TensorRT) -> dict:
    from .tensorrt_backend import TensorRTBackend

    opened = TensorRTBackend(source, backend.trust_host_code)
    return _with_twins(
        Path(source), opened, lambda path: TensorRTBackend(path, backend.trust_host_code, stream=opened.stream)
    )


def _with_twins(path: Path, opened, open_file) -> dict:
    """{kind: backend}: the graph opened at `path` and its twins beside it; `path` must hold the
    graph that gives the HR frames (the one a user names). What opened is closed if a twin fails."""
    graph_set = opened.info.graph.graph_set
    if opened.info.graph is not graph_set.last:
        opened.close()
        raise ReportedError(f"{path}: a {opened.info.graph} graph; open its {graph_set.last} graph instead")
    graphs = {}
    try:
        for kind, file in graph_set.files(path).items():
            graphs[kind] = opened if file == path else open_file(file)
    except BaseException:
        close_all([opened, *graphs.values()])
        raise
    return graphs


def close_all(backends) -> None:
    """Close each backend once (twins may share one)."""
    for backend in {id(b): b for b in backends}.values():
        backend.close()


@contextmanager
def closing_all(graphs: dict) -> Iterator[dict]:
    """`with closing_all(open_graphs(...)) as graphs:` graphs that no session owns, closed at the end."""
    try:
        yield graphs
    finally:
        close_all(graphs.values())


BACKENDS: dict[str, BackendKind] = {
    kind.name: kind
    for kind in (
        BackendKind(
            Backend.TensorRT,
            (".plan", ".engine"),
            ("cuda",),
            ("standard", "plugin", "portable"),
            _open_tensorrt,
            _tensorrt_problem("tensorrt"),
            flavor="tensorrt",
        ),
        BackendKind(
            Backend.TensorRTRTX, (), ("cuda",), ("portable",), _open_tensorrt, _tensorrt_problem("rtx"), flavor="rtx"
        ),
        BackendKind(
            Backend.OnnxRuntime,
            (".onnx",),
            ("cuda", "cpu"),
            ("standard", "portable"),
            _open_onnxruntime,
            _onnxruntime_problem,
        ),
        BackendKind(Backend.OpenVINO, (".xml",), ("cpu",), ("portable",), _open_openvino, _openvino_problem),
        BackendKind(Backend.Torch, (), ("cuda", "cpu"), (), _open_torch, _torch_problem),
    )
}
TENSORRT_BACKENDS = tuple(name for name, kind in BACKENDS.items() if kind.flavor)
GRAPH_BACKENDS = ("onnxruntime", "openvino")  # what runs an exported .onnx graph as it is
# the fastest first: TensorRT, TensorRT for RTX, then as measured in benchmarks/results/cpu-backends-720p
SPEED_ORDER = (
    ("tensorrt", "cuda"),
    ("tensorrt-rtx", "cuda"),
    ("onnxruntime", "cuda"),
    ("torch", "cuda"),
    ("openvino", "cpu"),
    ("onnxruntime", "cpu"),
    ("torch", "cpu"),
)


def backend_for(source) -> BackendKind:
    """The backend that opens `source` by default: by the file's suffix; torch for anything else."""
    suffix = Path(source).suffix.lower() if isinstance(source, (str, Path)) else ""
    return next((kind for kind in BACKENDS.values() if suffix in kind.default_for), BACKENDS["torch"])


def chosen_for(source, backend: AnyBackend) -> AnyBackend:
    """The backend that runs `source`: `backend` itself, or for `Backend.Auto` the one the file asks
    for (`backend_for`) on its device, with its default options. Anything but a choice is refused."""
    check_choice(backend)
    if isinstance(backend, Backend.Auto):
        kind = backend_for(source)
        if backend.device not in ("auto", *kind.devices):
            raise ParameterError(
                f"{source}: the {kind.name} backend runs it, on {' or '.join(kind.devices)} only, "
                f"not {parameter('device')} {backend.device}"
            )
        return Backend.named(kind.name, backend.device)
    return backend


def open_graphs(source, backend: AnyBackend = Backend.Auto()) -> dict:
    """The runners of all graphs of a model, without a session; the caller closes them
    (`close_all`, `closing_all`), or a session over them does.

    Args:
        source: An engine, graph, OpenVINO model or checkpoint (the rule of the module docstring).
        backend: What runs it, with its options (`Backend.Auto()`: by what `source` is).

    Returns:
        {GraphKind: GraphRunner}."""
    backend = chosen_for(source, backend)
    return BACKENDS[backend.name].open_graphs(source, backend)


def runs_streams(backend) -> bool:
    """The backend runs its graph on a batch of streams: a graph that takes one, on a backend of the
    registry (every one runs batches; a TensorRT engine up to the streams it was built for)."""
    return bool(backend.info.streams) and backend.name in BACKENDS


def backends_taking(lowering: str) -> str:
    """The backends whose graphs may hold this deformable-conv lowering, in words."""
    return ", ".join(name for name, kind in BACKENDS.items() if lowering in kind.dcn)


def fastest_backend(engines: bool = True, device: str = "auto") -> tuple[str, str]:
    """The fastest backend that runs here, in `SPEED_ORDER`.

    Args:
        engines: Whether backends that need an engine build (TensorRT's) count.
        device: "auto" (any), "cpu" or "cuda": the device it must compute on.

    Returns:
        (backend name, device)."""
    for name, on in SPEED_ORDER:
        if device in ("auto", on) and (engines or name not in TENSORRT_BACKENDS) and BACKENDS[name].problem(on) is None:
            return name, on
    if device == "cuda":
        raise ParameterError(f"{parameter('device')} cuda: no backend here computes on an NVIDIA GPU ({gpu_problem()})")
    raise ReportedError("no backend runs here: install torch, onnxruntime or openvino")
