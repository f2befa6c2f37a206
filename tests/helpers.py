"""Helpers shared by the tests."""

import subprocess
import sys
from pathlib import Path

import torch

from repvsr_deploy.models.blocks import Conv1x1Edge

BIN = Path(sys.executable).parent  # the console scripts installed beside this interpreter


def run_cli(*args, cwd=None) -> subprocess.CompletedProcess:
    """Run an installed entry point, as a user types it."""
    return subprocess.run([str(BIN / args[0]), *map(str, args[1:])], cwd=cwd, capture_output=True, text=True)


@torch.no_grad()
def make_nontrivial(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Default init, but no parameter left at a value that hides a fusion bug: biases and the
    edge branches' scales (initialized near zero) drawn at realistic magnitudes."""
    gen = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, Conv1x1Edge):
            module.scale.copy_(torch.randn(module.scale.shape, generator=gen) * 0.5)
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        elif getattr(module, "bias", None) is not None and isinstance(module.bias, torch.Tensor):
            module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
    return model


