"""EDVR-M's centred mode (reference = centre of five, two frames of delay, reflection-circle ends),
as the public EDVR code and its official weights: the model, its export and the sessions."""

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from helpers import randomize_every_parameter, run_cli
from official_weights import edvr_shapes, random_weights

from repvsr_deploy.centred import centred_window
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.models import build_model, load_checkpoint
from repvsr_deploy.runtime import open_session
from repvsr_deploy.runtime.choice import Backend
from repvsr_deploy.runtime.session import CentredSession

SMALL = dict(channels=16, groups=2, extract_blocks=1, reconstruct_blocks=1)  # the same structure, quick


def test_windows_follow_the_public_reflection_circle_rule():
    # BasicSR's generate_frame_indices(crt_idx, max_frame_num, 5, "reflection_circle"), worked by hand
    assert centred_window(0, 10, 2) == [4, 3, 0, 1, 2]  # its docstring's example
    assert centred_window(1, 10, 2) == [4, 0, 1, 2, 3]
    assert centred_window(5, 10, 2) == [3, 4, 5, 6, 7]
    assert centred_window(8, 10, 2) == [6, 7, 8, 9, 5]
    assert centred_window(9, 10, 2) == [7, 8, 9, 6, 5]
    assert centred_window(0, 3, 2) == [2, 2, 0, 1, 2]  # shorter than the window: clamped into the clip


def centred_edvr(**config):
    torch.manual_seed(0)
    return randomize_every_parameter(build_model("edvr-m", centred=True, **{**SMALL, **config})).eval()


def clip(frames, height=32, width=36, seed=0):
    return torch.from_numpy(np.random.default_rng(seed).random((1, frames, 3, height, width), dtype=np.float32))


@torch.no_grad()
def test_the_centre_frame_is_the_reference_and_the_base():
    model = centred_edvr()
    assert model.delay == 2 and model.info().delay == 2
    lr = clip(7)
    # with the residual head at zero the output is the bilinear x4 of the window's centre frame
    model.last.weight.zero_(), model.last.bias.zero_()
    hr = model(lr)
    for c in range(7):  # computed at LR in sub-pixel form (models.subpixel): within float32's rounding
        expected = F.interpolate(lr[:, c], scale_factor=4, mode="bilinear", align_corners=False)
        assert (hr[:, c] - expected).abs().max() <= 1e-6


@torch.no_grad()
def test_clip_ends_read_the_reflection_circle_frames():
    model, lr = centred_edvr(), clip(7)
    first = model(lr)[:, 0]
    changed = lr.clone()
    changed[:, 4] += 0.5  # in frame 0's window [4, 3, 0, 1, 2]
    assert (model(changed)[:, 0] - first).abs().max() > 1e-5
    changed = lr.clone()
    changed[:, 5] += 0.5  # not in it
    assert torch.equal(model(changed)[:, 0], first)
    # the window's positions matter: frame 0 with neighbours [4, 3 | 1, 2] is not frame 0 with [3, 4 | 1, 2]
    swapped = model.step(lr[:, 2], lr[:, 3], lr[:, 4], lr[:, 0], lr[:, 1])[0]
    assert torch.equal(model.step(lr[:, 2], lr[:, 4], lr[:, 3], lr[:, 0], lr[:, 1])[0], first)
    assert (swapped - first).abs().max() > 1e-5


def test_streaming_stays_the_default():
    model = build_model("edvr-m")
    assert model.delay == 0 and model.info().delay == 0 and model.reference == 4


@pytest.fixture(scope="module")
def exported_centred(tmp_path_factory):
    """The user's path with official weights: an official EDVR-M checkpoint (SMALL's shapes, random
    values) through repvsr-import, and the checkpoint it writes through repvsr-export, its deformable
    convs lowered to operators every runtime has (--dcn portable)."""
    folder = tmp_path_factory.mktemp("centred")
    weights = random_weights(edvr_shapes(c=16, groups=2, extract=1, reconstruct=1))
    torch.save({"params": weights}, folder / "EDVR_M.pth")
    imported = run_cli("repvsr-import", folder / "EDVR_M.pth", "-o", folder / "edvr.pth")
    assert imported.returncode == 0, imported.stderr
    args = ("--onnx", "--dcn", "portable", "-o", folder / "edvr.onnx", "--verify-size", "36x32", "--verify-frames", "3")
    exported = run_cli("repvsr-export", folder / "edvr.pth", *args)
    assert exported.returncode == 0, exported.stderr
    assert "deformable convs portable" in exported.stdout and "3 frames of 36x32" in exported.stdout
    assert not [n for n in onnx.load(folder / "edvr.onnx").graph.node if n.op_type == "DeformConv"]
    assert sorted(p.name for p in folder.iterdir()) == ["EDVR_M.pth", "edvr.onnx", "edvr.pth"]
    return load_checkpoint(folder / "edvr.pth"), folder / "edvr.onnx"


@pytest.mark.parametrize("frames", [7, 5, 3])
@torch.no_grad()
def test_sessions_give_the_models_centred_output(exported_centred, frames):
    """The exported graph in an onnxruntime session, and the torch session, frame for frame the
    model's own clip output: two frames late, the ends padded, clips shorter than the window too."""
    model, path = exported_centred
    lr = clip(frames, seed=1)
    expected = model(lr)[0].numpy()
    for session in (open_session(path), open_session(model, Backend.Torch("cpu"))):
        assert isinstance(session, CentredSession) and session.info.delay == 2
        hr = np.concatenate(list(session.run(f.numpy() for f in lr[0])))
        assert hr.shape == expected.shape
        assert np.abs(hr - expected).max() <= 1e-4


def test_a_centred_session_takes_host_frames_only(tmp_path):
    session = open_session(centred_edvr(), Backend.Torch("cpu"))
    with pytest.raises(ReportedError, match="reconstructs the centre of its window"):
        session.upload(np.zeros((3, 32, 36), np.float32))
