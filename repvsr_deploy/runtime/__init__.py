"""The backend-neutral stateful Session API, and the ONNX Runtime backend. Imports no torch."""

from .session import Backend, Session, open_session

__all__ = ["Backend", "Session", "open_session"]
