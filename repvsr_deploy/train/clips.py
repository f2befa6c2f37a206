"""Training clips, made in loader workers: a window of frames, a random crop, flips and temporal
reversal, then the LR frames (read where given, else made by the degradation), 8-bit as stored video.

What a clip is follows from (seed, sample number) alone: sample n draws from its own random
stream, `numpy.random.default_rng([seed, n])`. Iteration k on rank r of a run whose global batch
is G takes samples first + k·G + r·B to first + k·G + r·B + B − 1 (B the batch of one process). So the clips do not
depend on which worker makes them or how many workers there are, and a resumed run draws the clips
the uninterrupted run would have drawn.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..data.degrade import degrade
from ..errors import ReportedError, parameter


class ClipDataset(Dataset):
    """Sample number -> (LR uint8 [T, 3, p, p], HR uint8 [T, 3, sp, sp])."""

    def __init__(self, sequences: list, clip_frames: int, patch: int, degradation: str, scale: int = 4, seed: int = 0):
        hr_patch = patch * scale
        usable = [s for s in sequences if len(s) >= clip_frames and min(s.height, s.width) >= hr_patch]
        if not usable:
            longest = max(sequences, key=len)
            raise ReportedError(
                f"no training sequence has {clip_frames} frames of at least {hr_patch}x{hr_patch} pixels "
                f"({parameter('clip_frames')}, {parameter('patch')}); the longest, {longest.name}, has {len(longest)} of "
                f"{longest.width}x{longest.height}"
            )
        self.sequences, self.clip_frames, self.patch, self.scale = usable, clip_frames, patch, scale
        self.degradation, self.seed = degradation, seed
        # every (sequence, first frame) window is equally likely
        self.window_ends = np.cumsum([len(s) - clip_frames + 1 for s in usable])

    def __len__(self) -> int:
        return int(self.window_ends[-1])

    def __getitem__(self, sample: int) -> tuple[torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, sample])
        window = int(rng.integers(self.window_ends[-1]))
        index = int(np.searchsorted(self.window_ends, window, side="right"))
        sequence = self.sequences[index]
        start = window - (int(self.window_ends[index - 1]) if index else 0)
        y = int(rng.integers(sequence.height // self.scale - self.patch + 1))
        x = int(rng.integers(sequence.width // self.scale - self.patch + 1))
        flips = rng.random(3) < 0.5  # horizontal, vertical, in time
        s, p = self.scale, self.patch
        hr = sequence.read(start, self.clip_frames)[:, s * y : s * (y + p), s * x : s * (x + p)]
        hr = np.ascontiguousarray(_flipped(hr, flips))
        if sequence.lr_store is not None:
            lr = _flipped(sequence.read_lr(start, self.clip_frames)[:, y : y + p, x : x + p], flips)
        else:
            lr = self._degraded(hr, rng)
        return _channels_first(lr), _channels_first(hr)

    def _degraded(self, hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        frames = torch.from_numpy(hr).permute(0, 3, 1, 2).float() / 255
        if self.degradation == "mix":
            from ..data.mixed_degradation import degrade_mixed

            return degrade_mixed(frames, rng, self.scale)
        lr = degrade(frames, self.degradation, self.scale)
        return (lr * 255).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()


def _flipped(clip: np.ndarray, flips: np.ndarray) -> np.ndarray:
    horizontal, vertical, in_time = flips
    if horizontal:
        clip = clip[:, :, ::-1]
    if vertical:
        clip = clip[:, ::-1]
    if in_time:
        clip = clip[::-1]
    return clip


def _channels_first(clip: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(clip)).permute(0, 3, 1, 2).contiguous()


class SampleNumbers(Sampler):
    """This rank's sample numbers, batch after batch, without end, from iteration `start`."""

    def __init__(self, first: int, batch: int, rank: int, world: int):
        self.first, self.batch, self.rank, self.world = first, batch, rank, world

    def __iter__(self) -> Iterator[int]:
        iteration = 0
        while True:
            base = self.first + (iteration * self.world + self.rank) * self.batch
            yield from range(base, base + self.batch)
            iteration += 1


def _start_worker(worker_id: int) -> None:
    """Any library randomness in a worker seeded from the loader's own seed (the clips use none);
    Ctrl-C and a closed terminal, which reach every process of the terminal's group, left to the
    main process, which decides how training stops (and ends its workers); so is SIGTERM, which
    schedulers send to every process of a job."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    for name in ("SIGINT", "SIGHUP", "SIGTERM"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_IGN)


def clip_loader(
    dataset: ClipDataset, first_sample: int, batch: int, rank: int, world: int, workers: int, pin_memory: bool
) -> DataLoader:
    """Batches of this rank's clips, made by `workers` processes (0: in this one), prefetched."""
    return DataLoader(
        dataset,
        batch_size=batch,
        sampler=SampleNumbers(first_sample, batch, rank, world),
        num_workers=workers,
        pin_memory=pin_memory,
        prefetch_factor=2 if workers else None,
        persistent_workers=False,
        worker_init_fn=_start_worker,
        generator=torch.Generator().manual_seed(dataset.seed * 1000 + rank),  # not the global stream
    )


def worker_error(exc: BaseException) -> str | None:
    """The one line of a ReportedError a loader worker raised: the loader re-raises it in this
    process with the worker's traceback as its message."""
    text = str(exc)
    if not text.startswith("Caught ") or "Original Traceback" not in text:
        return None
    last = text.rstrip().splitlines()[-1]
    return last.split(": ", 1)[1] if ": " in last else last
