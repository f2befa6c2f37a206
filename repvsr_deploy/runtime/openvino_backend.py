"""OpenVINO backend: the fastest CPU runtime measured here (see benchmarks/results).

It opens exported ONNX graphs and OpenVINO IR models (`.xml` + `.bin`, what `repvsr-quantize`
writes for OpenVINO); an IR model carries the graph's repvsr metadata in its runtime info, where
OpenVINO keeps an ONNX graph's metadata (the `framework` section).

OpenVINO has no conversion rule for ONNX `DeformConv`: KSNet and EDVR-M run from graphs exported
with `--dcn portable`. On the CPU the host is where OpenVINO computes, so the state stays in host
arrays that a run reads in place (`share_inputs`); a run's output is an array of its own, its next
state one of two sets of arrays the backend keeps, in turn (`_kept`). Keeping it
in the runtime instead (OpenVINO's MakeStateful: ReadValue/Assign) measured no faster for RepVSR at
720p (benchmarks/openvino_state.py) and would hide it from `load_state`. fp32 graphs run in fp32
(see `_config`). Each graph is compiled for the sizes it runs at (`OpenVINOBackend._request_for`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence
from ..graph_file import read_graph
from ..modelinfo import FRAME_LEVELS, GraphKind, ModelInfo
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
    BF16) OpenVINO otherwise runs them in bf16, ~5e-3 off on [0, 1] frames; bf16 models (made and
    checked by repvsr-quantize) in bf16. Threads: those asked, else `cpu_threads`."""
    inference = {"fp16": None, "bf16": ov.Type.bf16}.get(precision, ov.Type.f32)
    config = {} if inference is None else {ov.properties.hint.inference_precision: inference}
    threads = threads or cpu_threads()
    return {**config, ov.properties.inference_num_threads: threads} if threads else config


OPENVINO_LEVELS = {"uint8": "u8", "uint16": "u16"}  # numpy's name -> OpenVINO's


def with_levels_out(model, info: ModelInfo, levels: np.dtype) -> None:
    """`model`'s HR frame given as [N, sH, sW, 3] levels of `levels` (uint8, uint16), rounded half
    up as `frame_layout.to_levels` rounds (floor(clip(x, 0, 1)·top + ½) = floor(clamp(x·top + ½, 0,
    top)) for x in [0, 1] and past it); its state outputs untouched."""
    ops = import_openvino().opset13
    result = model.output(info.output_names[0]).get_node()
    frame = result.input_value(0)
    if info.io != levels.name:
        frame = _levels(ops, _unit_range(ops, frame, info), levels)
    hwc = ops.transpose(frame, ops.constant(np.array([0, 2, 3, 1], np.int64)))
    result.input(0).replace_source_output(hwc.output(0))
    model.validate_nodes_and_infer_types()


def _unit_range(ops, frame, info: ModelInfo):
    """The graph's HR frame as float32 in [0, 1]: a graph's own levels scaled back, fp16 widened."""
    if info.io in FRAME_LEVELS:
        return ops.divide(ops.convert(frame, "f32"), ops.constant(np.float32(FRAME_LEVELS[info.io])))
    return ops.convert(frame, "f32") if info.precision == "fp16" else frame


def _levels(ops, frame, levels: np.dtype):
    top = np.float32(np.iinfo(levels).max)
    scaled = ops.add(ops.multiply(frame, ops.constant(top)), ops.constant(np.float32(0.5)))
    return ops.convert(ops.floor(ops.clamp(scaled, 0.0, float(top))), OPENVINO_LEVELS[levels.name])


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
        self.path = str(path)
        if Path(path).suffix.lower() == IR_SUFFIX:
            self.model, self.info = read_ir(path)
            self.info.check_runs_on("openvino", self.path)
        else:
            self.info = read_graph(path)[1]
            self.info.check_runs_on("openvino", self.path)
            self.model = self._converted(path)
        self.config = _config(ov, self.info.precision, threads)
        self.request = None  # compiled at the first run, for its sizes (`_request_for`)
        self.compiled_for: tuple | None = None  # (input shapes, levels) of `request`
        self._state_arrays: list[list[np.ndarray]] = [[], []]
        self._turn = 0
        self.dtype = np.float16 if self.info.precision == "fp16" else np.float32

    def _converted(self, path) -> object:
        try:
            return openvino_core().read_model(str(path))
        except Exception as exc:  # OpenVINO raises OpConversionFailure for ONNX ops it has no rule for
            raise self._refusal(exc) from None

    def _compiled(self, model):
        try:
            return openvino_core().compile_model(model, "CPU", self.config).create_infer_request()
        except Exception as exc:  # OpenVINO raises RuntimeError for graphs it cannot take
            raise self._refusal(exc) from None

    def _refusal(self, exc: Exception) -> ReportedError:
        hint = " (export it with repvsr-export --dcn portable)" if "DeformConv" in str(exc) else ""
        return ReportedError(f"{self.path}: OpenVINO cannot compile it{hint}: {first_sentence(exc)}")

    def _request_for(self, inputs: dict, levels: np.dtype | None):
        """The infer request compiled for these inputs' shapes (and with the HR frame as `levels`:
        `with_levels_out`). The graph's sizes are symbolic; compiled for the sizes a session runs
        at, OpenVINO folds the work that depends on the size alone (the sampling grid's offsets) and
        picks its kernels for them: RepVSR's 720p step ran ~10 % faster (benchmarks/README.md).
        Compiled again (~0.1 s) if the sizes change; the batch's left free where it changes from run
        to run (`batch_varies`: a free batch ran RepVSR's int8 step ~20 % slower than a fixed one)."""
        free = (-1,) if self.batch_varies else ()
        key = ({name: free + value.shape[len(free) :] for name, value in inputs.items()}, levels)
        if key != self.compiled_for:
            model = self.model.clone()
            model.reshape({name: list(shape) for name, shape in key[0].items()})
            if levels is not None:
                with_levels_out(model, self.info, levels)
            self.request, self.compiled_for = None, None  # the compiled model before goes first
            self.request = self._compiled(model)
            self.compiled_for = key
        return self.request

    def zero_state(self, height: int, width: int) -> list:
        return [np.zeros(spec.shape(height, width), self.dtype) for spec in self.info.states]

    def upload(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(backend_input(array, self.dtype))

    def to_host(self, value: np.ndarray) -> np.ndarray:
        """A copy (float as float32): a state array is reused two runs on (`_kept`)."""
        return np.array(value, np.float32 if value.dtype.kind == "f" else value.dtype)

    def _inputs(self, lr, state: list, feature) -> dict:
        return dict(zip(self.info.input_names, [self.upload(lr), *([feature] if feature is not None else []), *state]))

    def _run(self, lr, state: list, feature, download: bool) -> tuple:
        out, next_state = self._infer(self._inputs(lr, state, feature), None)
        if self.info.graph is GraphKind.BACKWARD or not download:
            return out, next_state
        return host_array(out), next_state

    def _run_levels(self, lr, state: list, feature, levels: np.dtype) -> tuple:
        """The HR frame as levels, made inside the graph: scaling, rounding and the move to [N, sH, sW,
        3] run on OpenVINO's threads, fused, instead of numpy's one (RepVSR at 720p: 13 ms a frame
        less on 2 cores), and a quarter of the bytes (uint8) leave the runtime."""
        return self._infer(self._inputs(lr, state, feature), levels)

    def _infer(self, inputs: dict, levels: np.dtype | None) -> tuple[np.ndarray, list[np.ndarray]]:
        """(output, next state): the output an array of its own; the state in arrays the backend
        keeps (`_kept`)."""
        results = self._request_for(inputs, levels).infer(inputs, share_inputs=True, share_outputs=True)
        out, *next_state = (results[name] for name in self.info.output_names)
        return np.array(out), self._kept(next_state)

    def _kept(self, state: list[np.ndarray]) -> list[np.ndarray]:
        """The next state copied out of the runtime's output tensors (its next run overwrites them)
        into one of two sets of arrays kept for it, in turn: a run's state stays valid until the run
        after next, so that it can be read in place by the next run. Fresh arrays each run cost ~3 ms
        more a frame of RepVSR at 720p (first touch of their pages)."""
        self._turn ^= 1
        kept = self._state_arrays[self._turn]
        if [(a.shape, a.dtype) for a in kept] != [(a.shape, a.dtype) for a in state]:
            kept = self._state_arrays[self._turn] = [np.empty_like(a) for a in state]
        for target, value in zip(kept, state):
            np.copyto(target, value)
        return kept

    def _release(self) -> None:
        """Release the infer request and, with it, the compiled model, and the state arrays."""
        self.request = None
        self.model = None
        self._state_arrays = [[], []]
