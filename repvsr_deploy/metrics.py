"""PSNR and SSIM on RGB frames quantized to 8 bits, as both papers report them (scikit-image's
implementations: SSIM with an 11x11 Gaussian window, sigma 1.5, Wang et al.'s constants)."""

import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity


def psnr(output: np.ndarray, target: np.ndarray) -> float:
    """dB between uint8 RGB frames [H, W, 3]."""
    return float(peak_signal_noise_ratio(target, output, data_range=255))


def ssim(output: np.ndarray, target: np.ndarray) -> float:
    return float(structural_similarity(target, output, channel_axis=-1, data_range=255, gaussian_weights=True,
                                       sigma=1.5, use_sample_covariance=False))

