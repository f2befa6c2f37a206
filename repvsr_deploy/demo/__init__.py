"""The demo checkpoint shipped with the package: RepVSR trained on clips made from scikit-image's
photographs (see MODEL_CARD.md beside it). `repvsr-upscale` uses it when no model is given."""

from pathlib import Path

from ..errors import ReportedError

CHECKPOINT = Path(__file__).with_name("repvsr-demo.pth")


def demo_checkpoint() -> Path:
    if not CHECKPOINT.is_file():
        raise ReportedError(f"no model given and the demo checkpoint is missing ({CHECKPOINT}); "
                            "give --ckpt, --onnx or --engine")
    return CHECKPOINT
