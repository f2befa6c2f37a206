"""An exported step graph on disk: its structure and its repvsr metadata, weights left on disk.
What the engine builder and the backends that do not read metadata themselves (OpenVINO) use."""

from __future__ import annotations

from pathlib import Path

import onnx

from .errors import ReportedError
from .modelinfo import ModelInfo


def read_graph(path: Path) -> tuple[onnx.ModelProto, ModelInfo]:
    """The graph's structure (weights left on disk) and its repvsr metadata."""
    path = Path(path)
    if not path.is_file():
        raise ReportedError(f"{path}: no such ONNX file")
    try:
        graph = onnx.load(path, load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError, or an OS error
        raise ReportedError(f"{path}: not an ONNX model ({type(exc).__name__})") from None
    info = ModelInfo.from_metadata({p.key: p.value for p in graph.metadata_props}, str(path))
    weights = {init.name for init in graph.graph.initializer}
    info.check_io(
        [i.name for i in graph.graph.input if i.name not in weights], [o.name for o in graph.graph.output], str(path)
    )
    return graph, info
