"""The two degradations of the VSR literature, on float RGB frames [..., 3, H, W] (H, W multiples of 4):

- BD: Gaussian blur, sigma 1.5 (13x13 kernel, reflected borders), then every 4th pixel: both
  papers' training and test data (RepVSR §4, KSNet §4.1). The pixel kept is 4i+2, half a pixel from
  the centre of its 4x4 block, where bilinear and bicubic upsampling put LR pixel i (4i+1.5);
  keeping 4i shifts the LR frame 1.5 HR pixels: bicubic loses 2.7 dB by it on the demo's held-out
  clips, and a network must learn the shift before anything else.
- BI: bicubic downscaling with antialiasing (MATLAB's imresize).
"""

import torch
import torch.nn.functional as F
from torch import Tensor

DEGRADATIONS = ("bd", "bi")
SIGMA = 1.5
KERNEL = 13


def gaussian_taps(sigma: float = SIGMA, size: int = KERNEL) -> Tensor:
    """The 1-D Gaussian, normalised; the 2-D blur is its outer product with itself."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    return g / g.sum()


def degrade(hr: Tensor, kind: str = "bd", scale: int = 4) -> Tensor:
    """LR frames in the dtype of `hr` (float32 is within a rounding of float64 at 8 bits)."""
    shape = hr.shape
    frames = hr.reshape(-1, 3, *shape[-2:])
    if kind == "bd":
        # the separable blur, computed at the kept pixels only: rows 4i+2, then columns 4j+2
        taps = gaussian_taps().to(frames)
        padded = F.pad(frames, [KERNEL // 2] * 4, mode="reflect")[..., scale // 2 :, scale // 2 :]
        rows = F.conv2d(padded, taps.view(1, 1, KERNEL, 1).expand(3, 1, KERNEL, 1), stride=(scale, 1), groups=3)
        lr = F.conv2d(rows, taps.view(1, 1, 1, KERNEL).expand(3, 1, 1, KERNEL), stride=(1, scale), groups=3)
    elif kind == "bi":
        lr = F.interpolate(frames, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    else:
        raise ValueError(f"unknown degradation '{kind}' (known: {', '.join(DEGRADATIONS)})")
    return lr.clamp(0, 1).reshape(*shape[:-2], *lr.shape[-2:])
