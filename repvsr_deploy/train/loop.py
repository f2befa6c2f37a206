"""The training loop: the recipe's loss and learning rates, validation PSNR, checkpoints that
`repvsr-export` reads and that resume, several GPUs through torchrun (DistributedDataParallel)."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..errors import ReportedError
from ..evaluate import Sequence, measure, through
from ..models.base import VSRModel
from ..models.checkpoint import save_checkpoint
from ..runtime.session import open_session
from .recipes import FLOW_MODULES, Recipe, compute_loss
from .sampler import ClipSampler


@dataclass
class Progress:
    iteration: int
    loss: float
    lr: float
    val_psnr: float | None = None


def parameter_groups(model: nn.Module) -> tuple[list, list]:
    """(main, flow) parameters: the flow estimator gets its own learning rate."""
    flow = [p for name, p in model.named_parameters() if name.split(".")[0] in FLOW_MODULES]
    flow_ids = {id(p) for p in flow}
    return [p for p in model.parameters() if id(p) not in flow_ids], flow


def distributed() -> tuple[int, int]:
    """(rank, world size) under torchrun, (0, 1) otherwise; joins the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    return torch.distributed.get_rank(), world


def validate(model: VSRModel, sequences: list[Sequence], device: str) -> float:
    """Mean PSNR over the sequences, through the torch session."""
    with open_session(model, "torch", device) as session:
        psnr = float(np.mean([measure(s.name, model.name, through(session), s.pairs()).psnr for s in sequences]))
    model.train()
    return psnr


def train(
    model: VSRModel,
    sampler: ClipSampler,
    recipe: Recipe,
    iterations: int,
    batch: int,
    device: str,
    checkpoint: Path,
    optimizer_state: dict | None = None,
    start: int = 0,
    val: list | None = None,
    val_every: int = 0,
    save_every: int = 1000,
    report: Callable[[Progress], None] = lambda p: None,
) -> None:
    rank, world = distributed()
    model.to(device).train()
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    main, flow = parameter_groups(model)
    optimizer = torch.optim.Adam([{"params": main}, {"params": flow}], lr=recipe.lr, betas=(0.9, 0.999), eps=1e-8)
    if optimizer_state:
        try:
            optimizer.load_state_dict(optimizer_state)
        except (KeyError, TypeError, ValueError) as exc:
            raise ReportedError(f"{checkpoint}: its optimizer state does not fit this model ({exc})") from None
    for iteration in range(start, iterations):
        optimizer.param_groups[0]["lr"] = recipe.learning_rate(iteration, flow=False, total=iterations)
        optimizer.param_groups[1]["lr"] = recipe.learning_rate(iteration, flow=True, total=iterations)
        lr, gt = sampler.batch(batch, device)
        loss, _ = compute_loss(recipe, net, lr, gt)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done = iteration + 1
        progress = Progress(done, float(loss.detach()), optimizer.param_groups[0]["lr"])
        if rank == 0 and val and val_every and done % val_every == 0:
            progress.val_psnr = validate(model, val, device)
        if rank == 0 and (done % save_every == 0 or done == iterations):
            save_checkpoint(
                model,
                checkpoint,
                training={
                    "iteration": done,
                    "optimizer": optimizer.state_dict(),
                    "recipe": recipe.name,
                    "iterations": iterations,
                },
            )
        report(progress)
