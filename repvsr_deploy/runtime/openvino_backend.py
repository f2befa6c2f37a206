"""OpenVINO backend: the fastest CPU runtime measured here (see benchmarks/results).

It opens exported ONNX graphs and OpenVINO IR models (`.xml` + `.bin`, what `repvsr-quantize`
writes for OpenVINO); an IR model carries the graph's repvsr metadata in its runtime info, where
OpenVINO keeps an ONNX graph's metadata (the `framework` section).

OpenVINO has no conversion rule for ONNX `DeformConv`: KSNet and EDVR-M run from graphs exported
with `--dcn portable`. On the CPU the host is where OpenVINO computes, so the state stays in host
arrays that a run reads in place (`share_inputs`); each run's outputs are its own arrays. Keeping it
in the runtime instead (OpenVINO's MakeStateful: ReadValue/Assign) measured no faster for RepVSR at
720p (benchmarks/openvino_state.py) and would hide it from `load_state`. fp32 graphs run in fp32
(see `_config`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence
from ..graph_file import read_graph
from ..modelinfo import GraphKind, ModelInfo
from .arrays import backend_input, host_array
from .runner import GraphRunner
from .threads import cpu_threads

IR_SUFFIX = ".xml"
METADATA_SECTION = "framework"  # of an IR model's runtime info: where OpenVINO puts ONNX metadata_props


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise MissingDependency("openvino", "openvino", "the openvino backend") from None
    return openvino


_CORE_LOCK = threading.Lock()
_core = None


def openvino_core():
    """The process's one `ov.Core`, kept for its life. Each Core loads a CPU plugin of its own, which
    gives the thread a signal stack of its own and, released, puts back the stack it found, even one
    that a Core released before it has freed (OpenVINO 2026.4): two Cores released in the order they
    were made leave the main thread a freed signal stack, and the next signal Python handles there
    (Ctrl-C, SIGTERM, the SIGCHLD handler torch's DataLoader installs) ends the process with SIGSEGV.
    NNCF makes Cores of its own while it quantizes; each is released before the next is made."""
    global _core
    with _CORE_LOCK:
        if _core is None:
            _core = import_openvino().Core()
        return _core


def _config(ov, precision: str, threads: int | None) -> dict:
    """fp32 graphs, and the float parts of int8 models, in fp32: on CPUs with bf16 (AMX, AVX-512
    BF16) OpenVINO otherwise runs them in bf16, ~5e-3 off on [0, 1] frames. Threads: those asked,
    else `cpu_threads`."""
    config = {} if precision == "fp16" else {ov.properties.hint.inference_precision: ov.Type.f32}
    threads = threads or cpu_threads()
    return {**config, ov.properties.inference_num_threads: threads} if threads else config


def read_ir(path: Path):
    """(ov.Model, ModelInfo) of an OpenVINO IR model that carries repvsr metadata."""
    path = Path(path)
    if not path.is_file() or not path.with_suffix(".bin").is_file():
        raise ReportedError(f"{path}: no such OpenVINO model (an .xml with its .bin beside it)")
    with open(path, "rb") as head:  # else OpenVINO tries its every frontend, and TensorFlow's logs to stderr
        if b"<net " not in head.read(1024):
            raise ReportedError(f"{path}: not an OpenVINO IR model (no <net> element at its start)")
    try:
        model = openvino_core().read_model(str(path))
    except Exception as exc:  # OpenVINO raises RuntimeError for files it cannot parse
        raise ReportedError(f"{path}: not an OpenVINO model ({first_sentence(exc)})") from None
    props = {}
    if model.has_rt_info([METADATA_SECTION]):
        keys = model.get_rt_info([METADATA_SECTION]).astype(dict)
        props = {key: model.get_rt_info([METADATA_SECTION, key]).astype(str) for key in keys}
    info = ModelInfo.from_metadata(props, str(path))
    info.check_io([i.get_any_name() for i in model.inputs], [o.get_any_name() for o in model.outputs], str(path))
    return model, info


def save_ir(ov, model, path: Path, info: ModelInfo) -> None:
    """`model` as IR at `path` (+ .bin), weights as they are (no fp16 compression), `info` its metadata."""
    for key, value in info.to_metadata().items():
        model.set_rt_info(value, [METADATA_SECTION, key])
    ov.save_model(model, str(path), compress_to_fp16=False)


class OpenVINOBackend(GraphRunner):
    name = "openvino"
    device = "cpu"

    def __init__(self, path, threads: int | None = None):
        ov = import_openvino()
        if Path(path).suffix.lower() == IR_SUFFIX:
            model, self.info = read_ir(path)
        else:
            model, self.info = str(path), read_graph(path)[1]
        self.info.check_runs_on("openvino", str(path))
        try:
            self.request = (
                openvino_core()
                .compile_model(model, "CPU", _config(ov, self.info.precision, threads))
                .create_infer_request()
            )
        except Exception as exc:  # OpenVINO raises RuntimeError/OpConversionFailure for graphs it cannot take
            hint = " (export it with repvsr-export --dcn portable)" if "DeformConv" in str(exc) else ""
            raise ReportedError(f"{path}: OpenVINO cannot compile it{hint}: {first_sentence(exc)}") from None
        self.dtype = np.float16 if self.info.precision == "fp16" else np.float32

    def zero_state(self, height: int, width: int) -> list:
        return [np.zeros(spec.shape(height, width), self.dtype) for spec in self.info.states]

    def upload(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(backend_input(array, self.dtype))

    def to_host(self, value: np.ndarray) -> np.ndarray:
        return host_array(value)

    def _run(self, lr, state: list, feature, download: bool) -> tuple:
        inputs = dict(
            zip(self.info.input_names, [self.upload(lr), *([feature] if feature is not None else []), *state])
        )
        results = self.request.infer(inputs, share_inputs=True, share_outputs=False)
        out, *next_state = (results[name] for name in self.info.output_names)
        if self.info.graph is GraphKind.BACKWARD or not download:
            return out, next_state
        return self.to_host(out), next_state

    def _release(self) -> None:
        """Release the infer request and, with it, the compiled model."""
        self.request = None
