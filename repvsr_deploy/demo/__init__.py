"""The demo model shipped with the package: RepVSR trained on clips made from photographs under
free licences, degraded by a mix of downscales, noise and compression (see MODEL_CARD.md beside
it), as a checkpoint and as its exported, verified step graph
(`repvsr-export repvsr-demo.pth --onnx`). `repvsr-upscale` uses it when no model is given, on the
fastest backend present: the graph on OpenVINO or onnxruntime, the checkpoint on torch."""

from pathlib import Path

from ..errors import ReportedError, parameter

CHECKPOINT = Path(__file__).with_name("repvsr-demo.pth")
GRAPH = Path(__file__).with_name("repvsr-demo.onnx")


def demo_model(device: str = "auto") -> tuple[Path, str, str]:
    """(file, backend, device): the demo on the fastest backend present that needs no engine build
    (on `device`, where one is asked for)."""
    from ..runtime.backends import fastest_backend

    backend, device = fastest_backend(engines=False, device=device)
    model = CHECKPOINT if backend == "torch" else GRAPH
    if not model.is_file():
        raise ReportedError(f"no model given and the demo model is missing ({model}); give a model file")
    return model, backend, device


def demo_model_for(backend: str) -> Path:
    """The demo's file that `backend` runs: the checkpoint on torch, the graph on the others but
    TensorRT's, which run engines (none ships: build one from the graph)."""
    from ..runtime.backends import TENSORRT_BACKENDS

    if backend in TENSORRT_BACKENDS:
        raise ReportedError(
            f"{parameter('backend')} {backend}: the demo ships no engine; build one with "
            f"repvsr-trt build {GRAPH} and give it as the model"
        )
    return CHECKPOINT if backend == "torch" else GRAPH
