"""repvsr-train: a registry model trained with its paper's recipe on REDS, Vimeo-90K, a BasicSR LMDB
or folders of sequences (`repvsr_deploy.train.run.train_model` does the work)."""

import sys
from pathlib import Path

import click

from ..train.choices import DATASETS, DEGRADATIONS, PRECISIONS
from .errors import debug_option, run_command
from .options import FiniteRange


@click.command("repvsr-train")
@click.argument("data", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--model", "model_name", help="Registry model [default: repvsr; with --resume or --init, the checkpoint's]."
)
@click.option(
    "--dataset",
    type=click.Choice(DATASETS),
    default="auto",
    show_default=True,
    help="DATA's layout; auto: REDS (train_sharp/), Vimeo-90K (sequences/ + sep_trainlist.txt), LMDB "
    "(data.mdb + meta_info.txt), else folders of sequences.",
)
@click.option(
    "--lr-frames",
    type=click.Path(path_type=Path),
    help="Precomputed LR frames named as DATA's HR ones (a folder, or an LMDB of the same keys), e.g. "
    "Vimeo-90K's BD LR; --degradation says what they are. REDS's train_sharp_bicubic/X4 is used by itself "
    "with --degradation bi.",
)
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
    help="Checkpoint to write (and to resume from with --resume); NAME.best.pth and NAME.logs/ beside it.",
)
@click.option(
    "--resume", is_flag=True, help="Continue --out's run exactly: its settings, weights, optimizer, random streams."
)
@click.option("--overwrite", is_flag=True, help="Start a new run where --out's earlier run (checkpoint, logs) is.")
@click.option(
    "--init",
    "init",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Start from this checkpoint's weights at iteration 0 (e.g. official ones, see repvsr-import).",
)
@click.option("--iterations", type=click.IntRange(1), help="[default: the recipe's, e.g. 400k for RepVSR]")
@click.option("--batch", type=click.IntRange(1), help="Clips per iteration and process [default: the recipe's, 4].")
@click.option(
    "--clip-frames",
    type=click.IntRange(2),
    help="Frames per clip [default: the recipe's: 10 RepVSR, 15 KSNet; 7 on Vimeo-90K].",
)
@click.option("--patch", type=click.IntRange(8), help="LR patch side [default: the recipe's, 64].")
@click.option(
    "--degradation",
    type=click.Choice(DEGRADATIONS),
    help="How LR frames are made: bd (blur σ 1.5, ×4 decimation; the papers'), bi (bicubic), mix (BD, "
    "bicubic, area or bilinear, with noise and JPEG/H.264 at random) [default: bd].",
)
@click.option("--lr", "base_lr", type=FiniteRange(min=0, min_open=True), help="[default: the recipe's]")
@click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    help="Mixed precision (torch.amp; fp16 with a loss scaler) [default: fp32].",
)
@click.option(
    "--clip-grad",
    type=FiniteRange(min=0, min_open=True),
    help="Clip the gradient norm to this [default: not clipped, as both papers].",
)
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model for training.")
@click.option(
    "--workers", type=click.IntRange(0), help="Loader worker processes per process [default: the cores left, 1-8]."
)
@click.option(
    "--val",
    "val_root",
    type=click.Path(path_type=Path),
    help="Vid4-style folder to validate on instead of the data set's own clips.",
)
@click.option("--val-every", type=click.IntRange(0), help="Iterations between validations (0: none) [default: 1000].")
@click.option(
    "--val-clips",
    type=click.IntRange(1),
    help="Validate on this many of the data set's own clips, evenly spaced [default: all; 100 of Vimeo-90K-T].",
)
@click.option("--val-frames", type=click.IntRange(2), help="Validate on at most this many frames of a clip.")
@click.option(
    "--save-every",
    default=1000,
    show_default=True,
    type=click.IntRange(1),
    help="Iterations between checkpoints (a stop or the end also saves).",
)
@click.option(
    "--log-every", default=10, show_default=True, type=click.IntRange(1), help="Iterations a logged row averages."
)
@click.option(
    "--max-frames", type=click.IntRange(2), help="Train on at most the first this many frames of each DATA sequence."
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="auto",
    show_default=True,
    help="auto: a CUDA GPU where torch sees one (under torchrun, the process's LOCAL_RANK), else the CPU.",
)
@click.option("--seed", type=click.IntRange(0), help="[default: 0]")
@debug_option
def train_command(data, model_name, demo_data, checkpoint, base_lr, val_root, compile_model, **options):
    """Train MODEL on DATA with the paper's loss, optimizer and schedule (RepVSR's for repvsr, frvsr,
    tecogan; KSNet's otherwise), clips made by loader workers. Several GPUs or machines:
    torchrun --nproc_per_node N $(which repvsr-train) ..."""
    from tqdm import tqdm

    from ..train.run import TrainOptions, train_model

    if bool(data) == demo_data:
        raise click.UsageError("give DATA folders or --demo-data")
    if options["resume"] and options["init"]:
        raise click.UsageError("--resume continues --out; --init starts from another checkpoint: give one")
    if options["resume"] and options["overwrite"]:
        raise click.UsageError("--resume continues --out's run; --overwrite starts a new one over it: give one")
    run = TrainOptions(
        out=checkpoint,
        data=data,
        model=model_name,
        demo_data=demo_data,
        lr=base_lr,
        val=val_root,
        compile=compile_model,
        **options,
    )
    bar = None

    def start(first: int, total: int) -> None:
        nonlocal bar
        if _is_leader():
            bar = tqdm(total=total, initial=first, unit="it", dynamic_ncols=True)

    def report(progress) -> None:
        if bar is None:
            return
        bar.update()
        if progress.loss is not None:
            bar.set_postfix(loss=f"{progress.loss:.4g}", lr=f"{progress.lr:.2g}")
        if progress.val_psnr is not None:
            bar.write(
                f"iteration {progress.iteration}: validation PSNR {progress.val_psnr:.3f} dB, SSIM {progress.val_ssim:.4f}",
                file=sys.stderr,
            )

    try:
        result = train_model(run, say=lambda line: click.echo(line, err=True), report=report, start=start)
    finally:
        if bar is not None:
            bar.close()
    if _is_leader():
        best = f"; best validation {result.best}" if result.best else ""
        click.echo(
            f"{result.checkpoint}: {result.settings['model']} after {result.iteration} iterations{best}; logs in {result.logs}"
        )


def _is_leader() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


train_command.spellings = {"data": "DATA folders"}


def main():
    run_command(train_command)
