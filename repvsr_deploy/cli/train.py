"""repvsr-train: a registry model trained with its paper's recipe on folders of sequences."""

import contextlib
from pathlib import Path

import click

from ..atomic import exclusive, require_space, writable_directory
from ..errors import ReportedError
from .errors import debug_option, run_command
from .options import FiniteRange


def _load(roots: tuple[Path, ...], max_frames: int | None) -> list:
    from ..data.sequences import list_sequences, read_sequence

    return [read_sequence(path, max_frames) for root in roots for path in list_sequences(root)]


def _validation(root: Path | None, degradation: str, max_frames: int | None) -> list:
    from ..evaluate import file_sequences

    return [] if root is None else file_sequences(root, degradation, max_frames)


@click.command("repvsr-train")
@click.argument("data", nargs=-1, type=click.Path(path_type=Path))
@click.option("--model", "model_name", default="repvsr", show_default=True, help="Registry model.")
@click.option(
    "--demo-data",
    is_flag=True,
    help="Train on clips made from scikit-image's photographs (no DATA); validate on held-out ones.",
)
@click.option(
    "-o",
    "--out",
    "checkpoint",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Checkpoint to write (and to resume from with --resume).",
)
@click.option("--resume", is_flag=True, help="Continue from --out's iteration, optimizer and weights.")
@click.option(
    "--init",
    "init",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from this checkpoint's weights at iteration 0 (e.g. official ones, see repvsr-import).",
)
@click.option("--iterations", type=click.IntRange(1), help="[default: the recipe's, e.g. 400k for RepVSR]")
@click.option("--batch", type=click.IntRange(1), help="Clips per iteration and GPU [default: the recipe's, 4].")
@click.option("--clip-frames", default=5, show_default=True, type=click.IntRange(2), help="Frames per clip.")
@click.option("--patch", default=64, show_default=True, type=click.IntRange(8), help="LR patch side.")
@click.option("--degradation", type=click.Choice(["bd", "bi"]), default="bd", show_default=True)
@click.option("--lr", "base_lr", type=FiniteRange(min=0, min_open=True), help="[default: the recipe's]")
@click.option("--val", "val_root", type=click.Path(path_type=Path), help="Vid4-style folder for validation PSNR.")
@click.option("--val-every", default=1000, show_default=True, type=click.IntRange(0))
@click.option("--save-every", default=1000, show_default=True, type=click.IntRange(1))
@click.option("--max-frames", type=click.IntRange(2), help="Read at most this many frames of a sequence.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)
@click.option("--seed", default=0, show_default=True, type=int)
@debug_option
def train_command(
    data,
    model_name,
    demo_data,
    checkpoint,
    resume,
    init,
    iterations,
    batch,
    clip_frames,
    patch,
    degradation,
    base_lr,
    val_root,
    val_every,
    save_every,
    max_frames,
    device,
    seed,
):
    """Train MODEL on the sequences under DATA (folders of frame folders or videos), LR made on the
    fly by --degradation, with the paper's loss, optimizer and schedule (RepVSR's for repvsr, frvsr,
    tecogan; KSNet's otherwise). Several GPUs: torchrun --nproc_per_node N $(which repvsr-train) ..."""
    import torch
    from tqdm import tqdm

    from ..data.synthetic import TRAIN_PHOTOS, photo_clips
    from ..models import build_model, load_checkpoint
    from ..models.checkpoint import load_training_state
    from ..train.loop import distributed, train
    from ..train.recipes import recipe_for, replace_lr
    from ..train.sampler import ClipSampler

    if bool(data) == demo_data:
        raise click.UsageError("give DATA folders or --demo-data")
    if resume and init:
        raise click.UsageError("--resume continues --out; --init starts from another checkpoint: give one")
    writable_directory(checkpoint.parent)  # before any training, not at the first save
    rank, world = distributed()
    device = ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device
    if device == "cuda" and world > 1:
        device = f"cuda:{rank}"
        torch.cuda.set_device(rank)
    torch.manual_seed(seed)
    state = {}
    if resume:
        if not checkpoint.is_file():
            raise ReportedError(f"--resume: {checkpoint} does not exist yet")
        model, state = load_checkpoint(checkpoint, expect_model=model_name).train(), load_training_state(checkpoint)
        if not state:
            raise ReportedError(f"--resume: {checkpoint} holds weights but no training state")
    elif init:
        model = load_checkpoint(init, expect_model=model_name).train()
        if model.fused:
            raise ReportedError(f"--init: {init} holds a fused (deploy-form) model, which does not train")
    else:
        model = build_model(model_name)
    # one writer of --out, and room for its checkpoints (weights and Adam's two moments), before training
    with exclusive(checkpoint) if rank == 0 else contextlib.nullcontext():
        if rank == 0:
            require_space(checkpoint, 2 * 3 * 4 * sum(p.numel() for p in model.parameters()))
        recipe = recipe_for(model_name)
        recipe = replace_lr(recipe, base_lr) if base_lr else recipe
        iterations = iterations or state.get("iterations") or recipe.iterations
        sequences = (
            photo_clips(TRAIN_PHOTOS, 8, 12, (4 * patch + 64, 4 * patch + 64), seed)
            if demo_data
            else _load(data, max_frames)
        )
        sampler = ClipSampler(sequences, clip_frames, patch, degradation, model.scale, seed + rank)
        val = _validation(val_root, degradation, max_frames)
        if demo_data and not val:  # the demo's held-out photographs
            from ..evaluate import demo_sequences

            val = demo_sequences(degradation)
        start = state.get("iteration", 0)
        with tqdm(total=iterations, initial=start, unit="it", disable=rank != 0, dynamic_ncols=True) as bar:

            def report(progress):
                bar.update()
                bar.set_postfix(loss=f"{progress.loss:.4g}", lr=f"{progress.lr:.2g}")
                if progress.val_psnr is not None:
                    bar.write(f"iteration {progress.iteration}: validation PSNR {progress.val_psnr:.3f} dB")

            train(
                model,
                sampler,
                recipe,
                iterations,
                batch or recipe.batch,
                device,
                checkpoint,
                state.get("optimizer"),
                start,
                val,
                val_every,
                save_every,
                report,
            )
    if world > 1:
        torch.distributed.destroy_process_group()
    if rank == 0:
        click.echo(f"{checkpoint}: {model_name} after {iterations} iterations")


def main():
    run_command(train_command)
