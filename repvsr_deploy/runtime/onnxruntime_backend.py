"""ONNX Runtime backend: the portable one (CPU everywhere, CUDA with onnxruntime-gpu).

State lives in OrtValues bound with IO binding: on CUDA the state never visits the host; only the
LR frame goes up and the HR frame comes down.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import GPU_INSTALL, MissingDependency, ReportedError, first_sentence
from ..modelinfo import GraphKind, ModelInfo
from .arrays import backend_input, host_array
from .runner import GraphRunner
from .threads import cpu_threads

_CUDA = "CUDAExecutionProvider"
_CPU = "CPUExecutionProvider"


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependency("onnxruntime", "onnxruntime", "the onnxruntime backend") from None
    return onnxruntime


def _providers(ort, device: str) -> list[str]:
    has_cuda = _CUDA in ort.get_available_providers()
    if device == "cuda" and not has_cuda:
        raise ReportedError(f"onnxruntime here has no CUDA execution provider (needs an NVIDIA GPU and {GPU_INSTALL})")
    return [_CUDA, _CPU] if has_cuda and device != "cpu" else [_CPU]


class OnnxRuntimeBackend(GraphRunner):
    name = "onnxruntime"

    def __init__(self, path, device: str = "auto", threads: int | None = None):
        ort = import_onnxruntime()
        path = Path(path)
        if not path.is_file():
            raise ReportedError(f"{path}: no such ONNX file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: CPU float16 graphs log a note per inserted cast
        options.intra_op_num_threads = threads or cpu_threads() or 0  # 0: onnxruntime's own choice
        try:
            self.session = ort.InferenceSession(str(path), options, providers=_providers(ort, device))
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph/... types
            raise ReportedError(f"{path}: onnxruntime cannot load it ({first_sentence(exc)})") from None
        self.info = ModelInfo.from_metadata(self.session.get_modelmeta().custom_metadata_map, str(path))
        self.info.check_runs_on("onnxruntime", str(path))
        self.info.check_io(
            [i.name for i in self.session.get_inputs()], [o.name for o in self.session.get_outputs()], str(path)
        )
        self.device = "cuda" if self.session.get_providers()[0] == _CUDA else "cpu"
        self.dtype = np.float16 if self.info.precision == "fp16" else np.float32
        self._ortvalue = ort.OrtValue

    def zero_state(self, height: int, width: int) -> list:
        return [
            self._ortvalue.ortvalue_from_numpy(np.zeros(spec.shape(height, width), self.dtype), self.device, 0)
            for spec in self.info.states
        ]

    def upload(self, array: np.ndarray):
        return self._ortvalue.ortvalue_from_numpy(backend_input(array, self.dtype), self.device, 0)

    def to_host(self, value) -> np.ndarray:
        return host_array(value.numpy())

    def _run(self, lr, state: list, feature, download: bool) -> tuple:
        binding = self.session.io_binding()
        if isinstance(lr, np.ndarray):
            binding.bind_cpu_input("lr", backend_input(lr, self.dtype))
        else:
            binding.bind_ortvalue_input("lr", lr)
        if feature is not None:
            binding.bind_ortvalue_input("feature", feature)
        for spec, value in zip(self.info.states, state):
            binding.bind_ortvalue_input(spec.input_name, value)
        # a backward graph's feature stays with the state, for the forward graph
        keeps_output = self.info.graph is GraphKind.BACKWARD or not download
        binding.bind_output(self.info.graph.output, self.device if keeps_output else "cpu")
        for spec in self.info.states:
            binding.bind_output(spec.output_name, self.device)
        self.session.run_with_iobinding(binding)
        out, *next_state = binding.get_outputs()
        if keeps_output:
            return out, next_state
        return host_array(out.numpy()), next_state

    def _release(self) -> None:
        """Release the inference session (its graph, weights and arena)."""
        self.session = None
