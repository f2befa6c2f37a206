"""OpenVINO backend: the fastest CPU runtime measured here (see benchmarks/results).

OpenVINO has no conversion rule for ONNX `DeformConv`: KSNet and EDVR-M run from graphs exported
with `--dcn portable`. On the CPU the host is where OpenVINO computes, so the state stays in host
arrays that a run reads in place (`share_inputs`); each run's outputs are its own arrays. Keeping it
in the runtime instead (OpenVINO's MakeStateful: ReadValue/Assign) measured no faster for RepVSR at
720p (benchmarks/openvino_state.py) and would hide it from `load_state`. fp32 graphs run in fp32
(see `_config`).
"""

from __future__ import annotations

import numpy as np

from ..errors import MissingDependency, ReportedError, first_sentence
from ..graph_file import read_graph
from ..modelinfo import GraphKind


def import_openvino():
    try:
        import openvino
    except ImportError:
        raise MissingDependency("openvino", "openvino", "the openvino backend") from None
    return openvino


def _config(ov, precision: str) -> dict:
    """fp32 graphs in fp32: on CPUs with bf16 (AMX, AVX-512 BF16) OpenVINO otherwise runs them in
    bf16, ~5e-3 off on [0, 1] frames."""
    return {ov.properties.hint.inference_precision: ov.Type.f32} if precision == "fp32" else {}


class OpenVINOBackend:
    name = "openvino"
    device = "cpu"

    def __init__(self, path, device: str = "auto"):
        ov = import_openvino()
        if device == "cuda":
            raise ReportedError(f"{path}: the openvino backend runs on the CPU here, not --device cuda")
        _, self.info = read_graph(path)
        try:
            self.request = (
                ov.Core().compile_model(str(path), "CPU", _config(ov, self.info.precision)).create_infer_request()
            )
        except Exception as exc:  # OpenVINO raises RuntimeError/OpConversionFailure for graphs it cannot take
            hint = " (export with --dcn portable)" if "DeformConv" in str(exc) else ""
            raise ReportedError(f"{path}: OpenVINO cannot compile it{hint}: {first_sentence(exc)}") from None
        self.dtype = np.float16 if self.info.precision == "fp16" else np.float32

    def zero_state(self, height: int, width: int) -> list:
        return [np.zeros(spec.shape(height, width), self.dtype) for spec in self.info.states]

    def upload(self, array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(array, self.dtype)

    def load_state(self, arrays: list[np.ndarray]) -> list:
        return [self.upload(array) for array in arrays]

    def to_host(self, value: np.ndarray) -> np.ndarray:
        return value.astype(np.float32, copy=False)

    def run(self, lr, state: list, feature=None, download: bool = True) -> tuple:
        inputs = dict(
            zip(self.info.input_names, [self.upload(lr), *([feature] if feature is not None else []), *state])
        )
        results = self.request.infer(inputs, share_inputs=True, share_outputs=False)
        out, *next_state = (results[name] for name in self.info.output_names)
        if self.info.graph is GraphKind.BACKWARD or not download:
            return out, next_state
        return self.to_host(out), next_state

    def synchronize(self) -> None:
        """Nothing to wait for: a run returns when its outputs are written."""
