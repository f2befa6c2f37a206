"""The backend-neutral stateful Session API, the backends' registry, and the ONNX Runtime backend.
Imports no torch."""

from .backends import TensorRTOptions, TorchOptions, open_graphs
from .session import Backend, ClipSession, Session, open_session

__all__ = ["Backend", "ClipSession", "Session", "TensorRTOptions", "TorchOptions", "open_graphs", "open_session"]
