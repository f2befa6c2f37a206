"""TensorRT: what this machine offers (engine builder and runner follow). Imports no torch."""

from .environment import Probe, probe

__all__ = ["Probe", "probe"]
