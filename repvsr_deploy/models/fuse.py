"""Training form -> deploy form: every multi-branch block becomes the one 3x3 conv it equals."""

import copy

from torch import nn

from .base import VSRModel
from .blocks import RepBlock


def fuse(model: VSRModel) -> VSRModel:
    """A new deploy-form model with no `RepBlock` left; the original is untouched. Idempotent."""
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
