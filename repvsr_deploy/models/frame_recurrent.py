"""The frame-recurrent scheme of FRVSR (Sajjadi et al. 2018), which RepVSR keeps (RepVSR Fig. 1).

Per frame: estimate LR flow from frame t to t-1, upsample it x4, warp the previous HR estimate,
space-to-depth it, concatenate with the LR frame and predict the HR frame.
"""

import torch.nn.functional as F
from torch import Tensor, nn

from ..modelinfo import StateSpec
from .base import VSRModel
from .warp import flow_warp, upsample_flow


class FrameRecurrentVSR(VSRModel):
    """State: the previous LR frame and the previous HR estimate."""

    state_specs = (StateSpec("lr", channels=3, scale=1), StateSpec("hr", channels=3, scale=4))

    def __init__(self, flownet: nn.Module, srnet: nn.Module):
        super().__init__()
        self.flownet = flownet
        self.srnet = srnet

    def step(self, lr: Tensor, lr_prev: Tensor, hr_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        flow = self.flownet(lr, lr_prev)
        warped = flow_warp(hr_prev, upsample_flow(flow, self.scale))
        hr = self.srnet(lr, F.pixel_unshuffle(warped, self.scale))
        return hr, lr, hr
