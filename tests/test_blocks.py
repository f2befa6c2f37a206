"""Every multi-branch block fuses into one 3x3 conv exactly, the 1-pixel border included."""

import pytest
import torch
import torch.nn.functional as F

from repvsr_deploy.models.blocks import (
    FNMB,
    LAPLACIAN,
    RCB,
    SOBEL_X,
    SOBEL_Y,
    SRMB,
    Conv1x1Conv3x3,
    Conv1x1Conv3x3Conv1x1,
    Conv1x1Edge,
    Conv3x3Conv1x1,
)

pytestmark = pytest.mark.fast  # the tier `make check` runs

BRANCHES = {
    "1x1-3x3": lambda: Conv1x1Conv3x3(5, 7, 11),
    "3x3-1x1": lambda: Conv3x3Conv1x1(5, 7, 11),
    "1x1-3x3-1x1": lambda: Conv1x1Conv3x3Conv1x1(5, 7, 11),
    "1x1-laplacian": lambda: Conv1x1Edge(5, 7, LAPLACIAN),
    "1x1-sobel-x": lambda: Conv1x1Edge(5, 7, SOBEL_X),
    "1x1-sobel-y": lambda: Conv1x1Edge(5, 7, SOBEL_Y),
}


def randomized(module: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    gen = torch.Generator().manual_seed(seed)
    module = module.double()
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype))
    return module


def input_like(channels: int, seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(2, channels, 6, 9, generator=gen, dtype=torch.float64)  # small: border is 1/2 of it


@pytest.mark.parametrize("name", BRANCHES)
def test_branch_equals_its_fused_kernel_everywhere(name):
    branch = randomized(BRANCHES[name]())
    x = input_like(5)
    weight, bias = branch.reparameterize()
    assert weight.shape == (7, 5, 3, 3)
    assert (branch(x) - F.conv2d(x, weight, bias, padding=1)).abs().max() <= 1e-10


def test_zero_padding_the_1x1_output_would_break_the_border():
    """Why branches pad the 1x1 output with its bias: with zeros, the fused conv is wrong on the ring only."""
    branch = randomized(Conv1x1Conv3x3(5, 7, 11))
    x = input_like(5)
    weight, bias = branch.reparameterize()
    naive = branch.conv(F.pad(branch.expand(x), (1, 1, 1, 1)))
    diff = (naive - F.conv2d(x, weight, bias, padding=1)).abs()
    assert diff[..., 1:-1, 1:-1].max() <= 1e-10
    assert diff[..., 0, :].max() > 1e-3 and diff[..., :, -1].max() > 1e-3


BLOCKS = {
    "SRMB 5->7": lambda: SRMB(5, 7),
    "SRMB 8->8": lambda: SRMB(8, 8),
    "SRMB 51->3": lambda: SRMB(51, 3),
    "FNMB 5->7": lambda: FNMB(5, 7),
    "FNMB 6->8": lambda: FNMB(6, 8),
    "RCB 7": lambda: RCB(7),
    "RCB 48": lambda: RCB(48),
}


@pytest.mark.parametrize("name", BLOCKS)
def test_block_fuses_into_one_conv(name):
    block = randomized(BLOCKS[name]())
    channels = (block.conv3x3.in_channels, block.conv3x3.out_channels)
    x = input_like(channels[0])
    conv = block.reparameterize()
    assert isinstance(conv, torch.nn.Conv2d) and conv.kernel_size == (3, 3) and conv.padding == (1, 1)
    assert (block(x) - conv(x)).abs().max() <= 1e-10


def test_srmb_has_all_three_components_and_fnmb_the_first_two():
    srmb = [type(b) for b in SRMB(4, 4).branches]
    fnmb = [type(b) for b in FNMB(4, 4).branches]
    assert srmb == [Conv1x1Conv3x3, Conv3x3Conv1x1, Conv1x1Conv3x3Conv1x1, Conv1x1Edge]
    assert fnmb == [Conv1x1Conv3x3, Conv3x3Conv1x1, Conv1x1Conv3x3Conv1x1]


def test_rcb_has_the_plain_sequential_and_both_edge_orders():
    branches = RCB(4).branches
    assert [type(b) for b in branches] == [Conv1x1Conv3x3, Conv1x1Edge, Conv1x1Edge, Conv1x1Edge]
    assert [b.edge_filter[0, 0].tolist() for b in branches[1:]] == [
        SOBEL_X.tolist(),
        SOBEL_Y.tolist(),
        LAPLACIAN.tolist(),
    ]
