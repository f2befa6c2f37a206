"""repvsr_deploy.fuse: the deploy-form model equals the training-form one, with no multi-branch block left."""

import pytest
import torch
from conftest import SHALLOW
from helpers import make_nontrivial

import repvsr_deploy
from repvsr_deploy.models import build_model, model_names
from repvsr_deploy.models.blocks import RepBlock


def clip(dtype, size_multiple=1, frames=4, height=21, width=30, seed=0):
    """21x30 (not a multiple of 8: FNet's flow gets padded), rounded up to the model's size multiple."""
    height, width = (-(-size // size_multiple) * size_multiple for size in (height, width))
    gen = torch.Generator().manual_seed(seed)
    return torch.rand(1, frames, 3, height, width, generator=gen, dtype=dtype)


@pytest.mark.parametrize("name", model_names())
def test_fused_model_has_no_multi_branch_block_and_leaves_the_original(name):
    model = build_model(name)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fused = repvsr_deploy.fuse(model)
    assert fused.fused and not model.fused
    assert not any(isinstance(m, RepBlock) for m in fused.modules())
    assert model.state_dict().keys() == before.keys()
    assert all(torch.equal(model.state_dict()[k], v) for k, v in before.items())


def test_repvsr_training_form_is_multi_branch():
    model = build_model("repvsr")
    assert sum(isinstance(m, RepBlock) for m in model.flownet.modules()) == 14  # 6 levels x 2 + head 2
    assert sum(isinstance(m, RepBlock) for m in model.srnet.modules()) == 5  # head, 3 units, tail


@pytest.mark.parametrize("name", model_names())
def test_fused_model_equals_unfused_in_float64(name):
    """On the models with fewer of their repeated blocks (SHALLOW): every kind of block is there."""
    model = make_nontrivial(build_model(name, **SHALLOW.get(name, {}))).double().eval()
    fused = repvsr_deploy.fuse(model)
    lr = clip(torch.float64, model.size_multiple)
    with torch.no_grad():
        reference, result = model(lr), fused(lr)
    assert reference.shape == (1, 4, 3, 4 * lr.shape[-2], 4 * lr.shape[-1])
    assert (reference - result).abs().max() <= 1e-10


@pytest.mark.parametrize("name", model_names())
def test_fused_model_equals_unfused_in_float32(name):
    model = make_nontrivial(build_model(name, **SHALLOW.get(name, {}))).eval()
    fused = repvsr_deploy.fuse(model)
    lr = clip(torch.float32, model.size_multiple)
    with torch.no_grad():
        reference, result = model(lr), fused(lr)
    assert (reference - result).abs().max() <= 1e-5 * reference.abs().max()


def test_fuse_is_idempotent():
    fused = repvsr_deploy.fuse(make_nontrivial(build_model("repvsr")).eval())
    twice = repvsr_deploy.fuse(fused)
    assert twice.state_dict().keys() == fused.state_dict().keys()
    lr = clip(torch.float32, frames=2)
    with torch.no_grad():
        assert torch.equal(fused(lr), twice(lr))
