"""Which backend runs a model, with its options, as one typed value (vs-mlrt's shape):
`Backend.OpenVINO(threads=2)`, `Backend.OnnxRuntime(device="cpu")`, `Backend.TensorRT(trust_host_code=True)`,
`Backend.Torch(device="cuda", precision="fp16")`, or `Backend.Auto(device=...)`: the backend the file
asks for (the rule of `backends`), with its defaults. Sessions (`open_session`, `open_streams`,
`open_graphs`), `repvsr_deploy.upscale` and the bench take one; a command makes one from its flags
(`Backend.named`). Each is checked as it is made, and pickles (Ray sends it to its workers)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from ..errors import ParameterError, parameter

DEVICES = ("auto", "cpu", "cuda")
TORCH_PRECISIONS = ("fp32", "fp16")  # bf16, int8 and fp8 graphs come from repvsr-quantize


def _check_device(device: Any) -> None:
    if device not in DEVICES:
        raise ParameterError(f"{parameter('device')} {device!r}: one of {', '.join(DEVICES)}")


def _check_threads(threads: Any) -> None:
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ParameterError(f"{parameter('threads')} {threads!r}: an integer of at least 1, or None")


class Backend:
    """The backends to choose from, one frozen dataclass each. `device`: "auto" (the first the backend
    can use here), "cpu" or "cuda"; OpenVINO computes on the CPU and TensorRT on an NVIDIA GPU only.
    `threads`: the CPU threads of one run (None: OMP_NUM_THREADS where it is set, else the runtime's
    own choice, a pool over every core)."""

    @dataclass(frozen=True)
    class Auto:
        """The backend the model's file asks for, with its default options: a TensorRT engine on
        TensorRT, an .onnx graph on onnxruntime, an .xml model on OpenVINO, a checkpoint on torch."""

        device: str = "auto"
        name: ClassVar[str] = "auto"

        def __post_init__(self):
            _check_device(self.device)

    @dataclass(frozen=True)
    class OnnxRuntime:
        """onnxruntime: an .onnx graph on the CPU, or on CUDA with onnxruntime-gpu."""

        device: str = "auto"
        threads: int | None = None
        name: ClassVar[str] = "onnxruntime"

        def __post_init__(self):
            _check_device(self.device)
            _check_threads(self.threads)

    @dataclass(frozen=True)
    class OpenVINO:
        """OpenVINO on the CPU: an .onnx graph or an .xml model (`repvsr-quantize`'s int8)."""

        threads: int | None = None
        name: ClassVar[str] = "openvino"
        device: ClassVar[str] = "cpu"

        def __post_init__(self):
            _check_threads(self.threads)

    @dataclass(frozen=True)
    class TensorRT:
        """A TensorRT engine (`repvsr-trt build`). `trust_host_code`: run a version-compatible
        engine, which carries executable host code."""

        trust_host_code: bool = False
        name: ClassVar[str] = "tensorrt"
        device: ClassVar[str] = "cuda"

    @dataclass(frozen=True)
    class TensorRTRTX(TensorRT):
        """A TensorRT for RTX engine (`repvsr-trt build --flavor rtx`)."""

        name: ClassVar[str] = "tensorrt-rtx"

    @dataclass(frozen=True)
    class Torch:
        """The PyTorch model itself, from a checkpoint or a `VSRModel`, in `precision` (fp32, fp16)."""

        device: str = "auto"
        precision: str = "fp32"
        name: ClassVar[str] = "torch"

        def __post_init__(self):
            _check_device(self.device)
            check_torch_precision(self.precision)

    @staticmethod
    def named(name: str, device: str = "auto", **options: Any) -> AnyBackend:
        """The choice that a backend's name and options make (a command's flags): `name` "auto" or a
        backend's; `device` where the backend takes one; of `options`, those given as None or False
        are left at their defaults, and one that the backend does not take is refused.

        Args:
            name: "auto" or a backend's name (`backends.BACKENDS`).
            device: "auto", "cpu" or "cuda".
            **options: The backend's fields (`threads`, `precision`, `trust_host_code`).

        Returns:
            The choice, checked."""
        chosen = CHOICES.get(name)
        if chosen is None:
            raise ParameterError(f"{parameter('backend')} {name!r}: one of {', '.join(CHOICES)}")
        fields = _options_of(chosen)
        given = {key: value for key, value in options.items() if value is not None and value is not False}
        for key in sorted(given.keys() - fields):
            takers = [n for n, choice in CHOICES.items() if key in _options_of(choice)]
            if not takers:
                raise ParameterError(
                    f"{parameter(key)} is no backend's option ({name} takes: {', '.join(sorted(fields)) or 'none'})"
                )
            raise ParameterError(f"{parameter(key)} is an option of the {', '.join(takers)} backend, not of {name}")
        if "device" in fields:
            given["device"] = device
        elif device not in ("auto", chosen.device):
            _check_device(device)
            raise ParameterError(f"{parameter('device')} {device}: the {name} backend runs on {chosen.device} only")
        return chosen(**given)


def _options_of(choice) -> set[str]:
    return {field.name for field in dataclasses.fields(choice)}


def check_torch_precision(precision: Any) -> None:
    if precision not in TORCH_PRECISIONS:
        raise ParameterError(
            f"{parameter('precision')} {precision!r}: the torch backend runs "
            f"{', '.join(TORCH_PRECISIONS)} (bf16, int8 and fp8 graphs come from repvsr-quantize)"
        )


def check_choice(backend: Any) -> None:
    """A choice of `Backend`, else a ParameterError that says what one is."""
    if not isinstance(backend, tuple(CHOICES.values())):
        raise ParameterError(
            f"{parameter('backend')} takes a choice of repvsr_deploy.runtime.Backend (Backend.Auto(), "
            f"Backend.OpenVINO(threads=2), ...), not {backend!r}"
        )


AnyBackend = Backend.Auto | Backend.OnnxRuntime | Backend.OpenVINO | Backend.TensorRT | Backend.Torch
CHOICES: dict[str, Any] = {
    choice.name: choice
    for choice in (
        Backend.Auto,
        Backend.TensorRT,
        Backend.TensorRTRTX,
        Backend.OnnxRuntime,
        Backend.OpenVINO,
        Backend.Torch,
    )
}
