"""The torch CUDA backend (channels-last, fp16, CUDA graph replay) against eager torch on the GPU.

Skipped, with the reason, where torch has no CUDA device.
"""

import numpy as np
import pytest
import torch
from helpers import randomize_every_parameter, shape_of

from repvsr_deploy.clips import moving_clip
from repvsr_deploy.models import build_model, fuse, model_names
from repvsr_deploy.models.base import BidirectionalVSRModel
from repvsr_deploy.runtime.session import Session
from repvsr_deploy.runtime.torch_backend import TorchBackend

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs torch with CUDA")]


def _frames(backend, clip):
    return np.concatenate(list(Session(backend).run(clip)))


@pytest.mark.parametrize("name", [n for n in model_names() if not isinstance(shape_of(n), BidirectionalVSRModel)])
def test_cuda_graph_replay_equals_eager(name):
    """Every slot reaches the output (see test_state), so a replay that clobbers one is seen."""
    torch.manual_seed(0)
    model = fuse(randomize_every_parameter(build_model(name))).eval()
    clip = moving_clip(6, 64, 96)
    eager = _frames(TorchBackend(model, "cuda", cuda_graphs=False), clip)
    graphed_backend = TorchBackend(model, "cuda")
    graphed = _frames(graphed_backend, clip)
    assert graphed_backend.cuda_graphs and graphed_backend._captured
    np.testing.assert_allclose(graphed, eager, atol=1e-4)


def test_a_new_clip_after_reset_starts_from_zero_state():
    model = fuse(build_model("repvsr")).eval()
    clip = moving_clip(4, 64, 96)
    session = Session(TorchBackend(model, "cuda"))
    first = np.concatenate(list(session.run(clip)))
    session.reset()
    again = np.concatenate(list(session.run(clip)))
    np.testing.assert_allclose(again, first, atol=1e-5)


def test_fp16_is_close_to_fp32():
    model = fuse(build_model("frvsr")).eval()
    clip = moving_clip(4, 64, 96)
    fp32 = _frames(TorchBackend(model, "cuda"), clip)
    fp16 = _frames(TorchBackend(model, "cuda", precision="fp16"), clip)
    assert np.abs(fp16 - fp32).max() < 2e-2


def test_resident_frames_stay_on_the_gpu():
    session = Session(TorchBackend(fuse(build_model("repvsr")).eval(), "cuda"))
    clip = moving_clip(3, 64, 96)
    out = list(session.run([session.upload(f) for f in clip], download=False))
    assert out[-1].is_cuda and out[-1].is_contiguous(memory_format=torch.channels_last)
