"""The papers' training recipes: loss, optimizer, learning-rate schedule.

- RepVSR §3.3 / §4.1.2 (also for FRVSR, TecoGAN): L = L_SR + L_Flow (Eq. 8-10, squared L2 on the HR
  frames and on the LR frame warped by the estimated flow), Adam(0.9, 0.999), lr 1e-4 halved every
  150k iterations, batch 4, 400k iterations.
- KSNet §4.1 (also for the other models): Charbonnier loss (Eq. 13, eps 1e-3), Adam(0.9, 0.999,
  eps 1e-8), lr 2e-4 with cosine annealing over 600k iterations, the flow network's lr doubled and
  frozen for the first 5,000 iterations, 64x64 LR patches.
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
KSNET = Recipe("ksnet", "charbonnier", 2e-4, "cosine", 600_000, 4, flow_lr_factor=2.0, flow_frozen_iterations=5_000)
RECIPES = {"repvsr": REPVSR, "ksnet": KSNET}


def replace_lr(recipe: Recipe, lr: float) -> Recipe:
    return replace(recipe, lr=lr)


def recipe_for(model_name: str) -> Recipe:
    return REPVSR if model_name in ("repvsr", "frvsr", "tecogan") else KSNET


def charbonnier(output: Tensor, target: Tensor, eps: float = 1e-3) -> Tensor:
    """KSNet Eq. 13: mean of sqrt((y - Y)^2 + eps^2)."""
    return torch.sqrt((output - target) ** 2 + eps**2).mean()


def compute_loss(recipe: Recipe, model, lr: Tensor, gt: Tensor) -> tuple[Tensor, Tensor]:
    """(loss, HR output) of a batch of clips lr [B,T,3,h,w] against gt [B,T,3,H,W]."""
    if recipe.loss == "charbonnier":
        hr = model(lr)
        return charbonnier(hr, gt), hr
    hr, flows = model(lr, return_flows=True)
    sr = torch.mean((hr - gt) ** 2)  # Eq. 8
    previous, current = lr[:, :-1].flatten(0, 1), lr[:, 1:].flatten(0, 1)
    warped = flow_warp(previous, flows[:, 1:].flatten(0, 1))
    flow = torch.mean((warped - current) ** 2)  # Eq. 9
    return sr + flow, hr  # Eq. 10
