"""The training loop: the recipe's loss and learning rates under torch.amp, DistributedDataParallel
across torchrun's processes, validation and logs on rank 0, checkpoints that `repvsr-export` reads
and that resume exactly (weights, optimizer, loss scaler, every random stream of every rank, and
the position in the clips), and a stop that saves."""

from __future__ import annotations

import contextlib
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import ReportedError, Stopped
from ..models.base import VSRModel
from ..models.checkpoint import save_checkpoint
from . import random_state
from .clips import ClipDataset, clip_loader, worker_error
from .distributed import Processes, any_rank, gather
from .logbook import Logbook
from .recipes import FLOW_MODULES, Recipe, compute_loss
from .stopping import StopRequests
from .validation import ValidationSet, validate

PRECISIONS = ("fp32", "bf16", "fp16")
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class LoopSettings:
    iterations: int
    batch: int  # clips per iteration and process
    precision: str = "fp32"
    clip_grad: float | None = None  # max gradient norm; None: not clipped (neither paper clips)
    compile: bool = False
    workers: int = 0
    val_every: int = 0
    save_every: int = 1000
    log_every: int = 10


@dataclass(frozen=True)
class RunFiles:
    checkpoint: Path  # the last state, which --resume continues
    best: Path  # the weights of the best validation so far
    logs: Path


@dataclass
class Progress:
    iteration: int
    seconds: float = 0.0  # this iteration's: waiting for its clips and the step
    data_wait: float = 0.0  # of which waiting for its clips (more loader workers, if large)
    loss: float | None = None  # mean over the last logged iterations
    lr: float = 0.0
    val_psnr: float | None = None
    val_ssim: float | None = None


def parameter_groups(model: nn.Module) -> tuple[list, list]:
    """(main, flow) parameters: the flow estimator gets its own learning rate."""
    flow = [p for name, p in model.named_parameters() if name.split(".")[0] in FLOW_MODULES]
    flow_ids = {id(p) for p in flow}
    return [p for p in model.parameters() if id(p) not in flow_ids], flow


class Trainer:
    """One process's model, optimizer and loss scaler, and the step they take."""

    def __init__(self, model: VSRModel, recipe: Recipe, settings: LoopSettings, device: str, processes: Processes):
        self.model, self.recipe, self.settings, self.device = model.to(device).train(), recipe, settings, device
        self.device_type = torch.device(device).type
        net = nn.parallel.DistributedDataParallel(model) if processes.world > 1 else model
        self.net = torch.compile(net) if settings.compile else net
        main, flow = parameter_groups(model)
        self.optimizer = torch.optim.Adam(
            [{"params": main}, {"params": flow}], lr=recipe.lr, betas=(0.9, 0.999), eps=1e-8
        )
        self.scaler = torch.amp.GradScaler(self.device_type, enabled=settings.precision == "fp16")

    def load(self, state: dict, where: Path) -> None:
        try:
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise ReportedError(f"{where}: its optimizer state does not fit this model ({exc})") from None

    def learning_rates(self, iteration: int) -> tuple[float, float]:
        total = self.settings.iterations
        return (
            self.recipe.learning_rate(iteration, flow=False, total=total),
            self.recipe.learning_rate(iteration, flow=True, total=total),
        )

    def step(self, iteration: int, lr: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
        """One iteration on a batch of uint8 clips; the loss, detached, on the device."""
        for group, rate in zip(self.optimizer.param_groups, self.learning_rates(iteration)):
            group["lr"] = rate
        lr = lr.to(self.device, non_blocking=True).float() / 255
        gt = gt.to(self.device, non_blocking=True).float() / 255
        precision = self.settings.precision
        autocast = (
            torch.autocast(self.device_type, dtype=AMP_DTYPES[precision])
            if precision in AMP_DTYPES
            else contextlib.nullcontext()
        )
        with autocast:
            loss, _ = compute_loss(self.recipe, self.net, lr, gt, self.model.delay)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if self.settings.clip_grad:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach().float()

    def state(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
        }


def train(
    model: VSRModel,
    dataset: ClipDataset,
    recipe: Recipe,
    settings: LoopSettings,
    device: str,
    files: RunFiles,
    processes: Processes,
    resumed: dict,
    validation: ValidationSet | None,
    describe: dict,
    report: Callable[[Progress], None] = lambda p: None,
) -> int:
    """Train from `resumed`'s iteration (0 for a new run) to settings.iterations; the iteration
    reached. Stopped (a signal): saves, then raises Stopped saying where."""
    trainer = Trainer(model, recipe, settings, device, processes)
    start = resumed.get("iteration", 0)
    if resumed:
        trainer.load(resumed, files.checkpoint)
        _restore_random(resumed.get("random") or [], processes, files.checkpoint)
    global_batch = settings.batch * processes.world
    samples = resumed.get("samples", start * global_batch)
    loader = clip_loader(
        dataset, samples, settings.batch, processes.rank, processes.world, settings.workers, device.startswith("cuda")
    )
    logbook = Logbook(files.logs, start) if processes.leader else None
    best = resumed.get("best_psnr")
    window, busy, waited = [], 0.0, 0.0  # the window's losses, seconds of its iterations, of waiting for clips
    began = time.perf_counter()
    done, saved = start, False
    try:
        with StopRequests() as stops:
            batches = iter(loader)
            for iteration in range(start, settings.iterations):
                asked = time.perf_counter()
                lr, gt = _next_batch(batches)
                given = time.perf_counter()
                window.append(trainer.step(iteration, lr, gt))
                progress = Progress(iteration + 1, time.perf_counter() - asked, given - asked)
                busy, waited = busy + progress.seconds, waited + progress.data_wait
                progress.lr = trainer.learning_rates(iteration)[0]
                done = iteration + 1
                samples += global_batch
                stop = any_rank(processes, stops.asked, device)
                last = done == settings.iterations
                if done % settings.log_every == 0 or last or stop or done % settings.save_every == 0:
                    progress.loss = _mean_finite(window, done, files.checkpoint)
                    if logbook:
                        rate = len(window) / busy
                        logbook.training(
                            done, progress.loss, *trainer.learning_rates(iteration), rate, rate * global_batch,
                            waited / busy, time.perf_counter() - began,
                        )  # fmt: skip
                    window, busy, waited = [], 0.0, 0.0
                if validation and processes.leader and settings.val_every and (done % settings.val_every == 0 or last):
                    result = validate(model, validation, device)
                    progress.val_psnr, progress.val_ssim = result.psnr, result.ssim
                    logbook.validation(done, result.psnr, result.ssim, result.crops, time.perf_counter() - began)
                    if best is None or result.psnr > best:
                        best = result.psnr
                        _save_best(model, files.best, done, settings.iterations, recipe, result)
                if done % settings.save_every == 0 or last or stop:
                    with stops.saving():
                        _save(trainer, files.checkpoint, processes, done, settings, recipe, samples, best, describe)
                    saved = True
                report(progress)
                if stop:
                    raise Stopped(
                        stops.signum,
                        f" at iteration {done} of {settings.iterations}: saved {files.checkpoint} "
                        "(--resume continues it)",
                    )
    except Exception:
        if logbook and not saved and start == 0:  # a new run that saved nothing leaves nothing
            logbook.close()
            logbook = None
            shutil.rmtree(files.logs, ignore_errors=True)
            files.best.unlink(missing_ok=True)
        raise
    finally:
        if logbook:
            logbook.close()
    return done


def _next_batch(batches):
    try:
        return next(batches)
    except ReportedError as exc:  # raised in a loader worker: its traceback is the message
        raise ReportedError(worker_error(exc) or str(exc)) from None


def _mean_finite(losses: list, iteration: int, checkpoint: Path) -> float:
    """The mean loss of the window; a loss that is not a number means the weights are lost: stop
    before they overwrite the last checkpoint."""
    mean = float(torch.stack(losses).mean())
    if not math.isfinite(mean):
        raise ReportedError(
            f"the loss is {mean} by iteration {iteration}: training diverged ({checkpoint} keeps the last "
            "good state; resume it with a lower --lr, or --precision fp32)"
        )
    return mean


def _restore_random(states: list, processes: Processes, where: Path) -> None:
    """This rank's random streams, where the run saved one for it (the same number of processes)."""
    if processes.rank >= len(states):
        return
    try:
        random_state.restore(states[processes.rank])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise ReportedError(f"{where}: its random streams cannot be restored ({exc})") from None


def _save(trainer, path, processes, iteration, settings, recipe, samples, best, describe) -> None:
    """All ranks give their random streams; rank 0 writes the checkpoint, whole or not at all."""
    states = gather(processes, random_state.capture())
    if not processes.leader:
        return
    save_checkpoint(
        trainer.model,
        path,
        training={
            "iteration": iteration,
            "iterations": settings.iterations,
            "recipe": recipe.name,
            **trainer.state(),
            "samples": samples,
            "random": states,
            "best_psnr": best,
            "settings": describe,
        },
    )


def _save_best(model, path: Path, iteration: int, iterations: int, recipe: Recipe, result) -> None:
    save_checkpoint(
        model,
        path,
        training={
            "iteration": iteration,
            "iterations": iterations,
            "recipe": recipe.name,
            "val_psnr": result.psnr,
            "val_ssim": result.ssim,
        },
    )
