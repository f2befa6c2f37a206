"""The algebra of structural re-parameterization (RepVSR §3.2), as pure functions on (weight, bias).

Every function returns the kernel and bias of ONE convolution that computes exactly what its
inputs compute in sequence or in parallel. "Exactly" includes the 1-pixel image border: a 1x1
conv followed by a zero-padded 3x3 only fuses if the 1x1 output is padded with its bias, which is
what `pad_with_bias` does on the training side.
"""

import torch
import torch.nn.functional as F
from torch import Tensor


def pad_with_bias(y: Tensor, bias: Tensor, pad: int = 1) -> Tensor:
    """Pad a 1x1 conv's output with its bias instead of zeros, so a following kxk conv fuses exactly."""
    b = bias.view(1, -1, 1, 1)
    return F.pad(y - b, (pad, pad, pad, pad)) + b


def fuse_1x1_kxk(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> tuple[Tensor, Tensor]:
    """1x1 conv (w1: [M,C,1,1]) then kxk conv (w2: [D,M,k,k]) -> one kxk conv. RepVSR Eq. 4."""
    weight = F.conv2d(w2, w1.permute(1, 0, 2, 3))  # perm(W1) * W2
    bias = w2.sum(dim=(2, 3)) @ b1 + b2  # W2 * rep(B1) + B2
    return weight, bias


def fuse_kxk_1x1(w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor) -> tuple[Tensor, Tensor]:
    """kxk conv (w1: [M,C,k,k]) then 1x1 conv (w2: [D,M,1,1]) -> one kxk conv. RepVSR Eq. 4, mirrored."""
    w2 = w2[:, :, 0, 0]
    return torch.einsum("dm,mckl->dckl", w2, w1), w2 @ b1 + b2


def depthwise_to_dense(w: Tensor) -> Tensor:
    """Depthwise kernel [C,1,k,k] -> the equal dense kernel [C,C,k,k], zero off the diagonal. RepVSR Eq. 5."""
    channels = w.shape[0]
    eye = torch.eye(channels, dtype=w.dtype, device=w.device)
    return eye[:, :, None, None] * w[:, 0][:, None]
