"""PSNR and SSIM of frames quantized to 8 bits, in either convention the papers' tables use:
on RGB, or on the Y channel of BT.601 YCbCr (the BasicVSR line's Vid4 and Vimeo-90K-T columns, which
KSNet Table 1 follows), optionally with `crop_border` pixels left out on every side.
scikit-image's implementations: SSIM with an 11x11 Gaussian window, sigma 1.5, Wang et al.'s constants.
"""

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

SSIM_WINDOW = 11  # the side of scikit-image's Gaussian window at sigma 1.5: frames must be at least this


def y_channel(frame: np.ndarray) -> np.ndarray:
    """BT.601 luma of uint8 RGB [H, W, 3] in [16, 235], float64 and unrounded (BasicSR's to_y_channel)."""
    return 16.0 + frame.astype(np.float64) @ np.array([65.481, 128.553, 24.966]) / 255.0


def _prepared(frame: np.ndarray, channel: str, crop_border: int) -> np.ndarray:
    if crop_border:
        frame = frame[crop_border:-crop_border, crop_border:-crop_border]
    return y_channel(frame) if channel == "y" else frame


def psnr(output: np.ndarray, target: np.ndarray, channel: str = "rgb", crop_border: int = 0) -> float:
    """dB between uint8 RGB frames [H, W, 3]; infinite where they are equal (said by the value, not
    by numpy's warning)."""
    with np.errstate(divide="ignore"):
        return float(
            peak_signal_noise_ratio(
                _prepared(target, channel, crop_border), _prepared(output, channel, crop_border), data_range=255
            )
        )


def ssim(output: np.ndarray, target: np.ndarray, channel: str = "rgb", crop_border: int = 0) -> float:
    target, output = _prepared(target, channel, crop_border), _prepared(output, channel, crop_border)
    return float(
        structural_similarity(
            target,
            output,
            channel_axis=-1 if channel == "rgb" else None,
            data_range=255,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )
