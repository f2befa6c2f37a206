"""The backend-neutral stateful Session API, and the ONNX Runtime backend. Imports no torch."""

from .session import Backend, ClipSession, Session, open_session

__all__ = ["Backend", "ClipSession", "Session", "open_session"]
