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
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import ReportedError, Stopped, parameter
from ..models.base import VSRModel
from ..models.checkpoint import save_checkpoint
from . import random_state
from .clips import ClipDataset, clip_loader, worker_error
from .distributed import Processes, any_rank, gather
from .logbook import Logbook
from .recipes import FLOW_MODULES, Recipe, compute_loss
from .stopping import StopRequests
from .validation import ValidationSet, validate

TERMS = ("sr_loss", "flow_loss")  # RepVSR's Eq. 8 and Eq. 9, logged beside their sum
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
        """One iteration on a batch of uint8 clips; the loss and its terms, detached, on the device
        (one tensor: the loss first)."""
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
            loss, terms = compute_loss(self.recipe, self.net, lr, gt, self.model.delay)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        if iteration < self.recipe.flow_frozen_iterations:
            # frozen as BasicVSR freezes its SPyNet (requires_grad off): no gradient, so Adam neither
            # moves these weights nor gathers moments for them
            for parameter in self.optimizer.param_groups[1]["params"]:
                parameter.grad = None
        if self.settings.clip_grad:
            self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.model.parameters(), self.settings.clip_grad)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return torch.stack([loss.detach(), *terms.values()]).float()

    def state(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
        }


@dataclass
class Run:
    """What one training run is made of."""

    model: VSRModel
    dataset: ClipDataset
    recipe: Recipe
    settings: LoopSettings
    device: str
    files: RunFiles
    processes: Processes
    resumed: dict  # the training state it continues ({} for a new run)
    validation: ValidationSet | None
    recorded: dict  # its settings, as its checkpoints record them
    header: list[str] = field(default_factory=list)  # its description, for its log


def train(run: Run, report: Callable[[Progress], None] = lambda p: None) -> int:
    """Train from the resumed iteration (0 for a new run) to run.settings.iterations; the iteration
    reached. Stopped by a signal: saves, then raises Stopped saying where. A new run that fails
    before its first checkpoint leaves no log behind."""
    trainer = Trainer(run.model, run.recipe, run.settings, run.device, run.processes)
    start = run.resumed.get("iteration", 0)
    if run.resumed:
        trainer.load(run.resumed, run.files.checkpoint)
        _restore_random(run.resumed.get("random") or [], run.processes, run.files.checkpoint)
    logbook = Logbook(run.files.logs, start, run.header) if run.processes.leader else None
    loop = _Loop(run, trainer, logbook, start)
    try:
        with StopRequests(repeats_end=run.processes.world == 1) as stops:
            return loop.iterate(stops, report)
    except BaseException:  # a failure, or a second signal before the first checkpoint
        if logbook and not loop.saved and start == 0:
            logbook.close()
            logbook = None
            shutil.rmtree(run.files.logs, ignore_errors=True)
            run.files.best.unlink(missing_ok=True)
        raise
    finally:
        if logbook:
            logbook.close()


class _Loop:
    """The iterations of one process, and what it counts along the way."""

    def __init__(self, run: Run, trainer: Trainer, logbook: Logbook | None, start: int):
        self.run, self.trainer, self.logbook, self.start = run, trainer, logbook, start
        self.global_batch = run.settings.batch * run.processes.world
        self.samples = run.resumed.get("samples", start * self.global_batch)
        self.best = run.resumed.get("best_psnr")
        self.window, self.busy, self.waited = [], 0.0, 0.0  # losses, seconds, seconds waiting for clips
        self.began = time.perf_counter()
        self.saved = False

    def iterate(self, stops: StopRequests, report: Callable[[Progress], None]) -> int:
        run, settings = self.run, self.run.settings
        loader = clip_loader(
            run.dataset, self.samples, settings.batch, run.processes.rank, run.processes.world, settings.workers,
            run.device.startswith("cuda"),
        )  # fmt: skip
        batches = iter(loader)
        try:
            return self._iterations(batches, stops, report)
        finally:
            # the loader's workers end now, not when a traceback that holds the iterator is collected
            # (what the iterator's own finalizer calls)
            shutdown = getattr(batches, "_shutdown_workers", None)
            if shutdown is not None:
                shutdown()

    def _iterations(self, batches, stops: StopRequests, report: Callable[[Progress], None]) -> int:
        run, settings, done = self.run, self.run.settings, self.start
        for iteration in range(self.start, settings.iterations):
            progress = self._step(iteration, batches)
            done = iteration + 1
            stop = any_rank(run.processes, stops.asked)
            last = done == settings.iterations
            if done % settings.log_every == 0 or done % settings.save_every == 0 or last or stop:
                self._log(progress, iteration)
            if (
                run.validation
                and run.processes.leader
                and settings.val_every
                and (done % settings.val_every == 0 or last)
            ):
                self._validate(progress)
            if done % settings.save_every == 0 or last or stop:
                with stops.saving():
                    _save(self.trainer, run, done, self.samples, self.best)
                self.saved = True
            report(progress)
            if stop:
                saved = f"saved {run.files.checkpoint}" if run.processes.leader else "rank 0 saved the checkpoint"
                raise Stopped(
                    stops.signum,
                    f" at iteration {done} of {settings.iterations}: {saved} ({parameter('resume')} continues it)",
                )
        return done

    def _step(self, iteration: int, batches) -> Progress:
        asked = time.perf_counter()
        lr, gt = _next_batch(batches)
        given = time.perf_counter()
        self.window.append(self.trainer.step(iteration, lr, gt))
        progress = Progress(iteration + 1, time.perf_counter() - asked, given - asked)
        progress.lr = self.trainer.learning_rates(iteration)[0]
        self.busy, self.waited = self.busy + progress.seconds, self.waited + progress.data_wait
        self.samples += self.global_batch
        return progress

    def _log(self, progress: Progress, iteration: int) -> None:
        """The window's mean loss (finite, or the run ends) and its terms, and their row in the log."""
        means = _means_finite(self.window, progress.iteration, self.run.files.checkpoint)
        progress.loss = means[0]
        if self.logbook:
            rate = len(self.window) / self.busy
            terms = dict(zip(TERMS, means[1:])) if self.run.recipe.loss == "sr_l2+flow" else {}
            self.logbook.training(
                progress.iteration, progress.loss, terms, *self.trainer.learning_rates(iteration), rate,
                rate * self.global_batch, self.waited / self.busy, time.perf_counter() - self.began,
            )  # fmt: skip
        self.window, self.busy, self.waited = [], 0.0, 0.0

    def _validate(self, progress: Progress) -> None:
        run = self.run
        result = validate(run.model, run.validation, run.device)
        progress.val_psnr, progress.val_ssim = result.psnr, result.ssim
        self.logbook.validation(
            progress.iteration, result.psnr, result.ssim, result.crops, time.perf_counter() - self.began
        )
        if self.best is None or result.psnr > self.best:
            self.best = result.psnr
            _save_best(run, progress.iteration, result)


def _next_batch(batches):
    """The next batch of clips; what failed in a loader worker (re-raised here with the worker's
    traceback as its message) as its last line."""
    try:
        return next(batches)
    except ReportedError as exc:
        raise ReportedError(worker_error(exc) or str(exc)) from None
    except Exception as exc:
        if (line := worker_error(exc)) is None:
            raise
        raise RuntimeError(f"in a loader worker: {line}") from exc


def _means_finite(losses: list, iteration: int, checkpoint: Path) -> list[float]:
    """The window's mean loss (and terms); a loss that is not a number means the weights are lost:
    stop before they overwrite the last checkpoint."""
    means = torch.stack(losses).mean(dim=0).tolist()
    mean = means[0]
    if not math.isfinite(mean):
        raise ReportedError(
            f"the loss is {mean} by iteration {iteration}: training diverged ({checkpoint} keeps the last "
            f"good state; resume it with a lower {parameter('lr')}, or {parameter('precision')} fp32)"
        )
    return means


def _restore_random(states: list, processes: Processes, where: Path) -> None:
    """This rank's random streams, where the run saved one for it (the same number of processes)."""
    if processes.rank >= len(states):
        return
    try:
        random_state.restore(states[processes.rank])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise ReportedError(f"{where}: its random streams cannot be restored ({exc})") from None


def _save(trainer: Trainer, run: Run, iteration: int, samples: int, best: float | None) -> None:
    """All ranks give their random streams; rank 0 writes the checkpoint, whole or not at all."""
    states = gather(run.processes, random_state.capture())
    if not run.processes.leader:
        return
    save_checkpoint(
        trainer.model,
        run.files.checkpoint,
        training={
            "iteration": iteration,
            "iterations": run.settings.iterations,
            "recipe": run.recipe.name,
            **trainer.state(),
            "samples": samples,
            "random": states,
            "best_psnr": best,
            "settings": run.recorded,
        },
    )


def _save_best(run: Run, iteration: int, result) -> None:
    save_checkpoint(
        run.model,
        run.files.best,
        training={
            "iteration": iteration,
            "iterations": run.settings.iterations,
            "recipe": run.recipe.name,
            "val_psnr": result.psnr,
            "val_ssim": result.ssim,
        },
    )
