"""The demo model shipped with the package: RepVSR trained on clips made from photographs under
free licences, degraded by a mix of downscales, noise and compression (see MODEL_CARD.md beside
it), as a checkpoint, as its exported, verified step graph (`repvsr-export repvsr-demo.pth --onnx`)
and as that graph quantized to int8 for OpenVINO and checked on held-out real footage
(`repvsr-quantize`, MODEL_CARD.md). `repvsr-upscale` uses it when no model is given, on the fastest
backend present: on OpenVINO the int8 model where the CPU has int8 dot-product instructions (AMX,
VNNI: 3.5x the fp32 graph's rate at 720p on a 2-core Xeon with AMX), else the fp32 graph; the graph on onnxruntime; the
checkpoint on torch."""

from pathlib import Path

from ..errors import ReportedError, parameter

CHECKPOINT = Path(__file__).with_name("repvsr-demo.pth")
GRAPH = Path(__file__).with_name("repvsr-demo.onnx")
INT8_OPENVINO = Path(__file__).with_name("repvsr-demo.int8.xml")


def demo_model(device: str = "auto") -> tuple[Path, str, str]:
    """(file, backend, device): the demo on the fastest backend present that needs no engine build
    (on `device`, where one is asked for)."""
    from ..runtime.backends import fastest_backend

    backend, device = fastest_backend(engines=False, device=device)
    model = demo_model_for(backend)
    if not model.is_file():
        raise ReportedError(f"no model given and the demo model is missing ({model}); give a model file")
    return model, backend, device


def demo_model_for(backend: str) -> Path:
    """The demo's file that `backend` runs: the checkpoint on torch, the int8 model on OpenVINO where
    the CPU has int8 dot products, the fp32 graph on the others but TensorRT's, which run engines
    (none ships: build one from the graph)."""
    from ..runtime.backends import TENSORRT_BACKENDS
    from ..runtime.cpu_features import int8_dot_product

    if backend in TENSORRT_BACKENDS:
        raise ReportedError(
            f"{parameter('backend')} {backend}: the demo ships no engine; build one with "
            f"repvsr-trt build {GRAPH} and give it as the model"
        )
    if backend == "torch":
        return CHECKPOINT
    return INT8_OPENVINO if backend == "openvino" and int8_dot_product() else GRAPH


def why_this_precision(path: Path, backend: str) -> str:
    """Why the demo runs in the precision of `path` on `backend`, for the line that says which model
    runs: only OpenVINO's choice depends on the CPU."""
    from ..runtime.cpu_features import int8_dot_product

    if backend != "openvino":
        return ""
    if path == INT8_OPENVINO:
        return f"this CPU has {int8_dot_product()}"
    return "no int8 dot products (VNNI, AMX) on this CPU"
