"""The check of a quantized graph, as an export is checked: a held-out clip through the quantized
graph (on the backend it is for) and through the fp32 graph, frame by frame over the recurrence, PSNR
of each against the clip's own frames and of the quantized against the fp32 output.

A quantized graph fails if it loses more than the limit, or if its loss grows along the clip (the
error builds up in the recurrent state): its loss over the last tenth of the clip exceeds its loss
over the first tenth by more than the limit.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from ..metrics import psnr
from ..runtime.session import session_over
from ..video.upscale import upscale_frames

# PSNR of identical 8-bit frames is infinite; a frame pair this close or closer counts as this
PSNR_CAP = 100.0


@dataclass(frozen=True)
class Check:
    clip: str
    frames: int
    checked_on: str  # the backend that ran the quantized graph
    psnr_fp32: float  # dB against the clip's frames, mean over frames
    psnr_quantized: float
    psnr_vs_fp32: float  # dB of the quantized graph's frames against the fp32 graph's
    loss_first_tenth: float  # dB: fp32 minus quantized, over the first tenth of the frames
    loss_last_tenth: float

    @property
    def loss(self) -> float:
        return self.psnr_fp32 - self.psnr_quantized

    @property
    def drift(self) -> float:
        return self.loss_last_tenth - self.loss_first_tenth

    def problem(self, max_loss: float) -> str | None:
        """Why the quantized graph is refused at this limit (dB), or None."""
        if self.loss > max_loss:
            return f"it loses {self.loss:.3f} dB on {self.clip} (limit {max_loss:g} dB)"
        if self.drift > max_loss:
            return (
                f"its loss grows along {self.clip}, from {self.loss_first_tenth:.3f} dB over the first tenth of "
                f"the frames to {self.loss_last_tenth:.3f} dB over the last (limit {max_loss:g} dB)"
            )
        return None

    def describe(self) -> str:
        return (
            f"{self.clip}, {self.frames} frames on {self.checked_on}: fp32 {self.psnr_fp32:.3f} dB, quantized "
            f"{self.psnr_quantized:.3f} dB (loss {self.loss:+.3f} dB; first tenth {self.loss_first_tenth:+.3f}, "
            f"last tenth {self.loss_last_tenth:+.3f}), {self.psnr_vs_fp32:.2f} dB against fp32"
        )

    def to_metadata(self) -> dict:
        return asdict(self)


def check(fp32_graphs: dict, quantized_graphs: dict, clip, checked_on: str) -> Check:
    """Run `clip` (a Sequence of (GT, LR) pairs) through both sets of graphs ({GraphKind: GraphRunner})."""
    gt_frames: deque = deque()  # of the LR frames given, whose HR frames are still to come

    def lr_frames():
        for gt, lr in clip.pairs():
            gt_frames.append(gt)
            yield lr

    for_fp32, for_quantized = itertools.tee(lr_frames())  # the clip read once, for both
    # the sessions are not closed: the graphs stay the caller's
    hr_pairs = zip(
        upscale_frames(session_over(fp32_graphs), for_fp32),
        upscale_frames(session_over(quantized_graphs), for_quantized),
    )
    to_gt, to_fp32, losses = [], [], []
    for fp32_hr, quantized_hr in hr_pairs:
        gt = gt_frames.popleft()
        fp32_psnr, quantized_psnr = _capped(psnr(fp32_hr, gt)), _capped(psnr(quantized_hr, gt))
        to_gt.append((fp32_psnr, quantized_psnr))
        to_fp32.append(_capped(psnr(quantized_hr, fp32_hr)))
        losses.append(fp32_psnr - quantized_psnr)
    tenth = max(1, len(losses) // 10)
    fp32_psnrs, quantized_psnrs = zip(*to_gt)
    return Check(
        clip.name,
        len(losses),
        checked_on,
        _mean(fp32_psnrs),
        _mean(quantized_psnrs),
        _mean(to_fp32),
        _mean(losses[:tenth]),
        _mean(losses[-tenth:]),
    )


def _mean(dbs) -> float:
    """Mean in dB, rounded once here so the report and the metadata say the same numbers."""
    return round(float(np.mean(dbs)), 4)


def _capped(db: float) -> float:
    return PSNR_CAP if math.isinf(db) else min(db, PSNR_CAP)
