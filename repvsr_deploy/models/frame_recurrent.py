"""The frame-recurrent scheme of FRVSR (Sajjadi et al. 2018), which RepVSR keeps (RepVSR Fig. 1).

Per frame: estimate LR flow from frame t to t-1, upsample it x4, warp the previous HR estimate,
space-to-depth it, concatenate with the LR frame and predict the HR frame.
"""

import torch
from torch import Tensor, nn

from ..modelinfo import StateSpec
from .base import VSRModel
from .warp import warped_space_to_depth


class FrameRecurrentVSR(VSRModel):
    """State: the previous LR frame and the previous HR estimate."""

    training_recipe = "repvsr"  # RepVSR's, FRVSR's and TecoGAN's (RepVSR §3.3)

    state_specs = (StateSpec("lr_prev", channels=3, scale=1), StateSpec("hr_prev", channels=3, scale=4))

    def __init__(self, flownet: nn.Module, srnet: nn.Module):
        super().__init__()
        self.flownet = flownet
        self.srnet = srnet

    def step(self, lr: Tensor, lr_prev: Tensor, hr_prev: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        hr, _ = self._step_with_flow(lr, lr_prev, hr_prev)
        return hr, lr, hr

    def _step_with_flow(self, lr: Tensor, lr_prev: Tensor, hr_prev: Tensor) -> tuple[Tensor, Tensor]:
        flow = self.flownet(lr, lr_prev)
        return self.srnet(lr, warped_space_to_depth(hr_prev, flow, self.scale)), flow

    def forward(self, lr_seq: Tensor, return_flows: bool = False):
        """A clip [B,T,3,H,W] -> HR clip; with `return_flows` also the LR flows t -> t-1 [B,T,2,H,W]
        that training's flow loss needs (RepVSR Eq. 9). The first frame's flow is to a black frame."""
        lr_prev, hr_prev = self.init_state(lr_seq[:, 0])
        frames, flows = [], []
        for t in range(lr_seq.shape[1]):
            hr, flow = self._step_with_flow(lr_seq[:, t], lr_prev, hr_prev)
            frames.append(hr)
            flows.append(flow)
            lr_prev, hr_prev = lr_seq[:, t], hr
        hr_seq = torch.stack(frames, dim=1)
        return (hr_seq, torch.stack(flows, dim=1)) if return_flows else hr_seq
