"""KSNet: kernel-split selection, counts against Table 2, and the bidirectional clip session."""

import numpy as np
import pytest
import torch
from helpers import make_nontrivial

from repvsr_deploy import count_flops, count_params, fuse
from repvsr_deploy.clips import moving_clip
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.modelinfo import GraphKind
from repvsr_deploy.models import build_model
from repvsr_deploy.models.ksnet import MSU, gather_channels, gradient_magnitude, rank_channels
from repvsr_deploy.models.spynet import SpyNet
from repvsr_deploy.runtime import ClipSession, open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.torch_backend import TorchBackend

pytestmark = pytest.mark.fast  # the tier `make check` runs

LR_720P = (180, 320)


def test_ranking_is_ascending_euclidean_distance_of_eq2():
    gen = torch.Generator().manual_seed(0)
    f = torch.randn(2, 16, 9, 11, generator=gen, dtype=torch.float64)
    f_o = torch.rand(2, 1, 9, 11, generator=gen, dtype=torch.float64) * 3
    lam = torch.tensor(0.3, dtype=torch.float64)
    grad = gradient_magnitude(f)
    distance = torch.linalg.vector_norm(lam * grad + (1 - lam) * grad * f - f_o, dim=(2, 3))
    assert torch.equal(rank_channels(f, f_o, lam), torch.argsort(distance, dim=1))


def test_gather_channels_per_sample():
    f = torch.arange(2 * 4 * 3, dtype=torch.float32).reshape(2, 4, 3, 1)
    order = torch.tensor([[3, 1, 0, 2], [0, 2, 1, 3]])
    expected = torch.stack([f[0, [3, 1, 0, 2]], f[1, [0, 2, 1, 3]]])
    assert torch.equal(gather_channels(f, order), expected)


def test_msu_splits_a_quarter_off_at_each_of_three_levels():
    msu = MSU(192, 64)
    assert [(level.low, level.rcb[0].conv3x3.in_channels) for level in msu.levels] == [(16, 48), (12, 36), (9, 27)]


def test_table2_params_and_flops_within_5_percent():
    """KSNet Table 2: 3.4 M / 320.9 GFLOPs before fusion, 3.0 M / 296.9 after, LR 180x320."""
    model = build_model("ksnet-uni")
    deployed = fuse(model)
    for measured, paper in [
        (count_params(model) / 1e6, 3.4),
        (count_params(deployed) / 1e6, 3.0),
        (count_flops(model, LR_720P) / 1e9, 320.9),
        (count_flops(deployed, LR_720P) / 1e9, 296.9),
    ]:
        assert abs(measured / paper - 1) <= 0.05, (measured, paper)


def test_bidirectional_costs_one_more_flow_than_unidirectional():
    """Same weights; per frame the bidirectional model also estimates the backward flow."""
    uni, bi = fuse(build_model("ksnet-uni")), fuse(build_model("ksnet-bi"))
    assert count_params(uni) == count_params(bi)
    spynet = count_flops_of_spynet(LR_720P)
    assert count_flops(bi, LR_720P) == count_flops(uni, LR_720P) + spynet


def count_flops_of_spynet(lr_hw) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    frame = torch.empty(1, 3, *lr_hw, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        SpyNet().to("meta")(frame, frame)
    return counter.get_total_flops()


@pytest.fixture(scope="module")
def ksnet_bi():
    torch.manual_seed(0)
    return make_nontrivial(build_model("ksnet-bi")).eval()


def test_clip_session_in_one_window_equals_the_models_forward(ksnet_bi):
    clip = moving_clip(5, 40, 48)
    session = open_session(ksnet_bi, Backend.Torch("cpu"), window=5)
    with torch.no_grad():
        expected = ksnet_bi(torch.from_numpy(clip)[None])[0].numpy()
    got = np.concatenate(list(session.run(clip)))
    assert np.abs(got - expected).max() <= 1e-5


def test_clip_session_windows_cover_every_frame_and_carry_the_forward_state(ksnet_bi):
    clip = moving_clip(7, 40, 48)
    windowed = list(open_session(ksnet_bi, Backend.Torch("cpu"), window=3).run(clip))  # windows of 3 and 4
    whole = list(open_session(ksnet_bi, Backend.Torch("cpu"), window=7).run(clip))
    assert len(windowed) == 7
    assert np.abs(windowed[0] - whole[0]).max() > 1e-6  # the backward sweep saw less of the clip


def test_clip_shorter_than_two_frames(ksnet_bi):
    session = open_session(ksnet_bi, Backend.Torch("cpu"))
    with pytest.raises(
        ReportedError, match="a clip of 1 frame\\(s\\): bidirectional model 'ksnet-bi' needs at least 2"
    ):
        list(session.run(moving_clip(1, 40, 48)))


def test_window_shorter_than_two_frames(ksnet_bi):
    backend = TorchBackend(ksnet_bi, "cpu", GraphKind.BACKWARD)
    with pytest.raises(ReportedError, match="window of 1 frames"):
        ClipSession(backend, TorchBackend(ksnet_bi, "cpu", GraphKind.FORWARD), window=1)


def test_frame_smaller_than_ksnet_accepts(ksnet_bi):
    with pytest.raises(
        ReportedError, match="frame of 48x32 is smaller than model 'ksnet-bi' accepts \\(33x33 at least\\)"
    ):
        list(open_session(ksnet_bi, Backend.Torch("cpu")).run(moving_clip(2, 32, 48)))


@pytest.mark.parametrize("scale", [2, 4, 8])
def test_the_reconstruction_upsamples_by_its_scale(scale):
    from repvsr_deploy.models.ksnet import Reconstruction

    features = torch.rand(1, 8, 5, 7)
    assert Reconstruction(8, 1, scale)(features, features).shape == (1, 3, 5 * scale, 7 * scale)
    with pytest.raises(ValueError, match="powers of two"):
        Reconstruction(8, 1, 3)
