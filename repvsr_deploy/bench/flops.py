"""FLOP counts, with `torch.utils.flop_counter` doing the counting (parameters: `models.count_params`).

Conventions: FLOPs = 2 x multiply-accumulates of convolution and linear layers;
bias, activations, interpolation and warping are not counted.
- "paper": transposed convolutions counted at their OUTPUT resolution. Reproduces RepVSR Table 2
  (FRVSR: 190.81 GFLOPs at 720p).
- "exact": transposed convolutions counted at their input resolution, torch's own rule (127.11).
"""

import copy

import torch
from torch.utils.flop_counter import FlopCounterMode, conv_flop_count

from ..errors import ReportedError
from ..models.base import BidirectionalVSRModel, VSRModel, zero_state

CONVENTIONS = ("paper", "exact")


def _conv_flop_paper(
    x_shape, w_shape, _bias, _stride, _padding, _dilation, transposed, *args, out_shape=None, **kwargs
):
    # every convolution, transposed ones included, at its output resolution
    return conv_flop_count(x_shape, w_shape, out_shape, transposed=False)


_PAPER_MAPPING = {torch.ops.aten.convolution: _conv_flop_paper, torch.ops.aten._convolution: _conv_flop_paper}


def count_flops(model: VSRModel, lr_hw: tuple[int, int], convention: str = "paper") -> int:
    """FLOPs per frame: one `step`, or for a bidirectional model one backward and one forward step,
    counted on the meta device (no compute).

    Args:
        model: A registry model.
        lr_hw: The LR frame's (height, width).
        convention: "paper" (the papers' tables' way of counting) or "exact".

    Returns:
        FLOPs for one frame."""
    return sum(flops_by_operator(model, lr_hw, convention).values())


def flops_by_operator(model: VSRModel, lr_hw: tuple[int, int], convention: str = "paper") -> dict[str, int]:
    """`count_flops` split by operator ("convolution", "deform_conv2d", ...)."""
    if convention not in CONVENTIONS:
        raise ReportedError(f"unknown FLOPs convention '{convention}' (known: {', '.join(CONVENTIONS)})")
    meta_model = copy.deepcopy(model).to("meta")
    lr = torch.empty(1, 3, *lr_hw, device="meta")
    mapping = _PAPER_MAPPING if convention == "paper" else {}
    with torch.no_grad(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
        _one_frame(meta_model, lr)
    return {op.__name__.split(".")[0]: n for op, n in counter.get_flop_counts()["Global"].items()}


def _one_frame(model: VSRModel, lr: torch.Tensor) -> None:
    if isinstance(model, BidirectionalVSRModel):
        feature, *_ = model.backward_step(lr, *zero_state(lr, model.backward_state_specs))
        model.forward_step(lr, feature, *zero_state(lr, model.forward_state_specs))
    else:
        model.step(lr, *model.init_state(lr))
