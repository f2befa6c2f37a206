"""Training form -> deploy form: every multi-branch block becomes the one 3x3 conv it equals."""

import copy

from torch import nn

from .base import VSRModel
from .blocks import RepBlock


def fuse(model: VSRModel) -> VSRModel:
    """The deploy form of a model: every re-parameterizable block (SRMB, FNMB, RCB) one plain
    convolution, computing what the training form computes.

    Args:
        model: A model in training form (or fused already: fusing is idempotent).

    Returns:
        A new model; `model` is untouched."""
    deployed = copy.deepcopy(model)
    _replace_rep_blocks(deployed)
    deployed.fused = True
    return deployed


def _replace_rep_blocks(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, RepBlock):
            setattr(module, name, child.reparameterize())
        else:
            _replace_rep_blocks(child)
