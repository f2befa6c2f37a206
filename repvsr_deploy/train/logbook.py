"""What a training run leaves to look at (rank 0 writes it), in its log folder:

- TensorBoard event files (`tensorboard --logdir FOLDER`): loss, learning rates, speed, validation
  PSNR/SSIM, and the validation crops as images;
- `metrics.csv`: one row per `log_every` iterations and at each save (mean loss, and for RepVSR's recipe its SR and
  flow terms; learning rates, iterations/s, clips/s, the share of the time spent waiting for clips) and one per validation (PSNR, SSIM),
  blank where a row has no such value;
- `val/ITERATION/SEQUENCE.png` at each validation: LR bicubic | output | GT of the same crop;
- `curves.png` when the run ends: loss, learning rate and validation PSNR over the iterations;
- `runs.txt`: what the run is (data, clips, global batch, learning rate, precision), a paragraph
  each time it starts or resumes (also TensorBoard's text).

A resumed run drops what the stopped one logged past its checkpoint (rows and events), so that the
log is the one run's.
"""

from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path

import numpy as np

from ..atomic import atomic_path
from ..errors import MissingDependency, ReportedError
from ..headless_plot import pyplot

COLUMNS = (
    "iteration",
    "loss",
    "sr_loss",
    "flow_loss",
    "lr",
    "flow_lr",
    "iterations_per_s",
    "clips_per_s",
    "data_wait",
    "val_psnr",
    "val_ssim",
    "seconds",
)


def summary_writer():
    """TensorBoard's writer class, or which extra brings it (every process asks before training,
    so that a missing package stops them all, not rank 0 alone)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise MissingDependency("tensorboard", "train", "writing training logs") from None
    return SummaryWriter


class Logbook:
    def __init__(self, folder: Path, start_iteration: int, header: list[str] = ()):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.csv_path = self.folder / "metrics.csv"
        self._keep_until(start_iteration)
        purge = start_iteration + 1 if start_iteration else None  # events a stopped run wrote past it
        self.events = summary_writer()(str(self.folder), purge_step=purge)
        self._csv_file = open(self.csv_path, "a", newline="")
        self._csv = csv.DictWriter(self._csv_file, COLUMNS)
        if self.csv_path.stat().st_size == 0:
            self._csv.writeheader()
        if header:  # what the run is (data, batch, learning rate, ...), as it starts or resumes
            text = "\n".join(header)
            self.events.add_text("run", text.replace("\n", "  \n"), start_iteration)
            with open(self.folder / "runs.txt", "a") as file:
                file.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')}, from iteration {start_iteration}:\n{text}\n\n")

    def _keep_until(self, iteration: int) -> None:
        """What a stopped run logged up to `iteration`, where a resumed run goes on: its rows and
        validation crops past it dropped."""
        for folder in (self.folder / "val").glob("*"):
            if folder.name.isdigit() and int(folder.name) > iteration:
                shutil.rmtree(folder)
        if not self.csv_path.is_file():
            return
        try:
            with open(self.csv_path, newline="") as file:
                rows = [row for row in csv.DictReader(file) if int(row["iteration"]) <= iteration]
        except (KeyError, ValueError, TypeError, csv.Error, UnicodeDecodeError) as exc:
            raise ReportedError(f"{self.csv_path}: not this toolkit's training log ({exc}); move it away") from None
        with atomic_path(self.csv_path) as tmp, open(tmp, "w", newline="") as file:
            writer = csv.DictWriter(file, COLUMNS)
            writer.writeheader()
            writer.writerows(rows)

    def _row(self, **values) -> None:
        self._csv.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in values.items()})
        self._csv_file.flush()

    def training(
        self, iteration: int, loss: float, terms: dict, lr: float, flow_lr: float, rate: float, clips: float,
        wait: float, seconds: float,
    ):  # fmt: skip
        values = dict(
            loss=loss, **terms, lr=lr, flow_lr=flow_lr, iterations_per_s=rate, clips_per_s=clips, data_wait=wait
        )
        self._row(iteration=iteration, **values, seconds=seconds)
        for name, value in values.items():
            self.events.add_scalar(f"train/{name}", value, iteration)

    def validation(self, iteration: int, psnr: float, ssim: float, crops: dict[str, np.ndarray], seconds: float):
        self._row(iteration=iteration, val_psnr=psnr, val_ssim=ssim, seconds=seconds)
        self.events.add_scalar("val/psnr", psnr, iteration)
        self.events.add_scalar("val/ssim", ssim, iteration)
        folder = self.folder / "val" / f"{iteration:08d}"
        folder.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        for name, image in crops.items():
            safe = name.replace("/", "_")
            with atomic_path(folder / f"{safe}.png") as tmp:
                Image.fromarray(image).save(tmp, format="PNG")
            self.events.add_image(f"val/{safe}", image, iteration, dataformats="HWC")
        self.events.flush()

    def close(self) -> Path | None:
        """Flush everything; the curves' plot, where matplotlib is installed (a plot that fails is
        left out: it must not hide why the run ended)."""
        self.events.close()
        self._csv_file.close()
        try:
            return plot_curves(self.csv_path, self.folder / "curves.png")
        except Exception:  # the log is written; the picture is a convenience
            return None


def plot_curves(csv_path: Path, out: Path) -> Path | None:
    """Loss, learning rate and validation PSNR against the iteration, from metrics.csv."""
    try:
        plt = pyplot("the training curves' plot")
    except MissingDependency:
        return None
    with open(csv_path, newline="") as file:
        rows = list(csv.DictReader(file))

    def series(column: str) -> tuple[list[int], list[float]]:
        points = [(int(r["iteration"]), float(r[column])) for r in rows if r[column]]
        return [p[0] for p in points], [p[1] for p in points]

    figure, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for axis, (column, title) in zip(
        axes, (("loss", "training loss"), ("lr", "learning rate"), ("val_psnr", "validation PSNR (dB)"))
    ):
        x, y = series(column)
        axis.plot(x, y, marker="o" if column == "val_psnr" else None, markersize=3)
        axis.set_title(title)
        axis.set_xlabel("iteration")
        if column == "loss" and y and min(y) > 0:
            axis.set_yscale("log")
        axis.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(out) as tmp:
        figure.savefig(tmp, format="png", dpi=100)
    plt.close(figure)
    return out
