"""The backend-neutral stateful Session API: a typed choice of backend (`Backend`), the runners of a
model's graphs (`GraphRunner`), sessions over them and batches of streams. Imports no torch."""

from .backends import open_graphs
from .choice import Backend
from .runner import GraphRunner
from .session import CentredSession, ClipSession, Session, open_session
from .streams import StreamBatch, open_streams

__all__ = [
    "Backend",
    "CentredSession",
    "ClipSession",
    "GraphRunner",
    "Session",
    "StreamBatch",
    "open_graphs",
    "open_session",
    "open_streams",
]
