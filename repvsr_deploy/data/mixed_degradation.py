"""The mix of degradations footage really arrives with (`--degradation mix`), for a model that should
beat bicubic whatever shrank its input, not only the papers' BD.

Per clip, the same for all of its frames (as a video is degraded):
1. one ×4 downscale: BD (Gaussian blur σ = 1.5, the papers'; probability 0.4), bicubic (antialiased,
   MATLAB's imresize, and ffmpeg's default scaler; 0.3), area (a 4×4 box mean; 0.15) or bilinear
   (antialiased; 0.15);
2. with probability 0.2, Gaussian noise of σ drawn in [1, 4] levels (a sensor); then 8-bit
   quantization;
3. with probability 0.15 each: JPEG at quality 60–95 (frames saved as images), or H.264 (libx264,
   crf 20–32, 4:2:0; odd sides padded by their edge pixels and cropped back) over the clip (a video
   file); else none.
So about a fifth of the clips are the papers' clean BD.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import torch
import torch.nn.functional as F

from .degrade import degrade

DOWNSCALES = ("bd", "bi", "area", "bilinear")
DOWNSCALE_CHANCES = (0.4, 0.3, 0.15, 0.15)
NOISE_CHANCE, NOISE_SIGMA = 0.2, (1.0, 4.0)
JPEG_CHANCE, JPEG_QUALITY = 0.15, (60, 95)
H264_CHANCE, H264_CRF = 0.15, (20, 32)


def downscale(hr: torch.Tensor, kind: str, scale: int = 4) -> torch.Tensor:
    """Float frames [N, 3, H, W] -> [N, 3, H/s, W/s] by one of DOWNSCALES."""
    if kind in ("bd", "bi"):
        return degrade(hr, kind, scale)
    if kind == "area":
        return F.avg_pool2d(hr, scale)
    return F.interpolate(hr, scale_factor=1 / scale, mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)


def degrade_mixed(hr: torch.Tensor, rng: np.random.Generator, scale: int = 4) -> np.ndarray:
    """A clip's HR frames [T, 3, H, W] in [0, 1] -> its LR frames, uint8 [T, H/s, W/s, 3]."""
    lr = downscale(hr, DOWNSCALES[rng.choice(len(DOWNSCALES), p=DOWNSCALE_CHANCES)], scale)
    levels = lr.permute(0, 2, 3, 1).numpy() * 255
    if rng.random() < NOISE_CHANCE:
        levels = levels + rng.normal(0, rng.uniform(*NOISE_SIGMA), levels.shape)
    frames = np.clip(np.round(levels), 0, 255).astype(np.uint8)
    compression = rng.random()
    if compression < JPEG_CHANCE:
        return jpeg(frames, int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1)))
    if compression < JPEG_CHANCE + H264_CHANCE:
        return h264(frames, int(rng.integers(H264_CRF[0], H264_CRF[1] + 1)))
    return frames


def jpeg(frames: np.ndarray, quality: int) -> np.ndarray:
    """Each frame through a JPEG file of `quality` (Pillow's libjpeg, 4:2:0)."""
    import io

    from PIL import Image

    out = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        with Image.open(buffer) as image:
            out.append(np.asarray(image.convert("RGB")))
    return np.stack(out)


def h264(frames: np.ndarray, crf: int) -> np.ndarray:
    """The clip through libx264 at `crf` (4:2:0, one thread, no macroblock tree: x264's AVX-512 code
    for it reads memory it never wrote at small widths, and a clip must come out the same each time)."""
    import av

    height, width = frames.shape[1:3]
    frames = np.pad(frames, ((0, 0), (0, height % 2), (0, width % 2), (0, 0)), mode="edge")  # 4:2:0: even sides
    encoder = av.CodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    encoder.time_base = Fraction(1, 25)
    encoder.options = {"crf": str(crf), "preset": "veryfast", "x264-params": "threads=1:mbtree=0"}
    decoder = av.CodecContext.create("h264", "r")
    out = []
    packets = [p for i, frame in enumerate(frames) for p in encoder.encode(_frame(av, frame, i))]
    packets += encoder.encode(None)
    for packet in packets:
        out += [f.to_ndarray(format="rgb24") for f in decoder.decode(packet)]
    out += [f.to_ndarray(format="rgb24") for f in decoder.decode(None)]
    return np.stack(out)[:, :height, :width]


def _frame(av, rgb: np.ndarray, index: int):
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
    frame.pts = index
    return frame
