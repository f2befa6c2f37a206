"""What the CPU measurement scripts beside it share: their arguments and the graph they measure."""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from repvsr_deploy.resolutions import RESOLUTIONS


def arguments(description: str, steps: int) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", default="repvsr")
    parser.add_argument("--res", default="720p", choices=sorted(RESOLUTIONS))
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--out", type=Path)
    return parser.parse_args()


def exported_graph(model: str) -> Path:
    """The registry model, random init (seed 0), exported fused and verified into a temporary folder
    (deformable convs portable, so that OpenVINO takes it)."""
    import torch

    from repvsr_deploy.export import export_verified
    from repvsr_deploy.models import build_model

    torch.manual_seed(0)
    path = Path(tempfile.mkdtemp()) / f"{model}.onnx"
    export_verified(build_model(model).eval(), path, dcn="portable", frames=2)
    return path
