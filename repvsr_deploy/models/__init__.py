"""The training-side package: re-parameterizable blocks, architectures, the registry, fusion, checkpoints."""

from . import basicvsr, edvr, frvsr, ksnet, repvsr, rrn, sofvsr, vespcn  # noqa: F401  (registers the models)
from .base import VSRModel, count_params
from .checkpoint import load_checkpoint, save_checkpoint
from .fuse import fuse
from .registry import build_model, model_names

__all__ = ["VSRModel", "build_model", "count_params", "fuse", "load_checkpoint", "model_names", "save_checkpoint"]
