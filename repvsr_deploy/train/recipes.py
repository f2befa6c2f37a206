"""The papers' training recipes: loss, optimizer, learning-rate schedule, clips, validation measure.

- RepVSR §3.3 / §4.1.2 (also for FRVSR, TecoGAN): L = L_SR + L_Flow (Eq. 8-10, squared L2 on the HR
  frames and on the LR frame warped by the estimated flow), Adam(0.9, 0.999), lr 1e-4 halved every
  150k iterations, batch 4, 400k iterations; PSNR/SSIM on RGB (§4.2.1). The paper gives no patch or
  clip length: FRVSR's (which RepVSR re-parameterises), 64x64 LR patches of 10-frame clips.
- KSNet §4.1 (also for the other models): Charbonnier loss (Eq. 13, eps 1e-3), Adam(0.9, 0.999,
  eps 1e-8), lr 2e-4 on Vimeo-90K and 1e-4 on REDS with cosine annealing over 600k iterations, the
  flow network's lr doubled and frozen for the first 5,000 iterations, 64x64 LR patches. Clip length
  and the measure as BasicVSR, which KSNet follows and compares with: 15 frames on REDS (7, a whole
  septuplet, on Vimeo-90K); REDS4 on RGB, Vimeo-90K-T and Vid4 on Y. Batch 4 (not stated).
Neither paper clips gradients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from ..models.warp import flow_warp

FLOW_MODULES = ("flownet", "spynet")  # the optical-flow estimators, which get their own learning rate


@dataclass(frozen=True)
class Recipe:
    name: str
    loss: str  # "sr_l2+flow" | "charbonnier"
    lr: float
    schedule: str  # "halving" (every step_every iterations) | "cosine"
    iterations: int
    batch: int
    flow_lr_factor: float = 1.0
    flow_frozen_iterations: int = 0
    step_every: int = 150_000
    patch: int = 64  # LR side
    clip_frames: int = 10
    channel: str = "rgb"  # what validation PSNR/SSIM is measured on (REDS4: always RGB)

    def learning_rate(self, iteration: int, flow: bool, total: int | None = None) -> float:
        """The learning rate of the main (or flow) parameters at `iteration` of `total`."""
        total = total or self.iterations
        if self.schedule == "halving":
            rate = self.lr * 0.5 ** (iteration // self.step_every)
        else:
            rate = self.lr * 0.5 * (1 + math.cos(math.pi * min(iteration, total) / total))
        if flow:
            return 0.0 if iteration < self.flow_frozen_iterations else rate * self.flow_lr_factor
        return rate


REPVSR = Recipe("repvsr", "sr_l2+flow", 1e-4, "halving", 400_000, 4)
KSNET = Recipe(
    "ksnet", "charbonnier", 2e-4, "cosine", 600_000, 4, flow_lr_factor=2.0, flow_frozen_iterations=5_000,
    clip_frames=15, channel="y",
)  # fmt: skip
VIMEO_CLIP = 7  # frames of a Vimeo-90K septuplet


def recipe_for(model_name: str, dataset: str = "") -> Recipe:
    """The paper's recipe the model registers (`VSRModel.training_recipe`), as it trains on
    `dataset` (reds, vimeo90k, ...)."""
    from ..models.registry import model_class

    recipe = {"repvsr": REPVSR, "ksnet": KSNET}[model_class(model_name).training_recipe]
    if dataset == "vimeo90k":
        recipe = replace(recipe, clip_frames=min(recipe.clip_frames, VIMEO_CLIP))
    if recipe.name == "ksnet" and dataset == "reds":
        recipe = replace(recipe, lr=1e-4)
    return recipe


def charbonnier(output: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """KSNet Eq. 13: mean of sqrt((y - Y)^2 + eps^2)."""
    return torch.sqrt((output - target) ** 2 + eps**2).mean()


def compute_loss(recipe: Recipe, model, lr: Tensor, gt: Tensor, delay: int = 0) -> tuple[Tensor, dict[str, Tensor]]:
    """(loss, its terms, detached) of a batch of clips lr [B,T,3,h,w] against gt [B,T,3,H,W]. A
    model whose output lags its input by `delay` frames (a window centred on an earlier frame) is
    measured against the frames its outputs are of."""
    if recipe.loss == "charbonnier":
        hr = model(lr)
        if delay:
            hr, gt = hr[:, delay:], gt[:, :-delay]
        return charbonnier(hr, gt), {}
    hr, flows = model(lr, return_flows=True)
    sr = torch.mean((hr - gt) ** 2)  # Eq. 8
    previous, current = lr[:, :-1].flatten(0, 1), lr[:, 1:].flatten(0, 1)
    warped = flow_warp(previous, flows[:, 1:].flatten(0, 1))
    flow = torch.mean((warped - current) ** 2)  # Eq. 9
    return sr + flow, {"sr": sr.detach(), "flow": flow.detach()}  # Eq. 10
