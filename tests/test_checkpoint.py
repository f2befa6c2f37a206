"""Self-describing checkpoints, loadable with weights_only=True, and the registry's errors."""

import re

import pytest
import torch
from helpers import make_nontrivial

from repvsr_deploy import count_params, fuse
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.models import build_model, load_checkpoint, model_names, save_checkpoint


def outputs(model, seed=0):
    lr = torch.rand(1, 2, 3, 20, 24, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return model.eval()(lr)


def test_training_checkpoint_round_trip(tmp_path):
    model = make_nontrivial(build_model("repvsr", sr_blocks=2))
    save_checkpoint(model, tmp_path / "ckpt.pth")
    payload = torch.load(tmp_path / "ckpt.pth", weights_only=True)
    assert payload["format"] == "repvsr-deploy/checkpoint-v1"
    assert (payload["model"], payload["config"], payload["fused"]) == ("repvsr", {"sr_blocks": 2}, False)
    loaded = load_checkpoint(tmp_path / "ckpt.pth")
    assert count_params(loaded) == count_params(model)
    assert torch.equal(outputs(loaded), outputs(model))


def test_fused_checkpoint_round_trip(tmp_path):
    fused = fuse(make_nontrivial(build_model("repvsr")))
    save_checkpoint(fused, tmp_path / "fused.pth")
    loaded = load_checkpoint(tmp_path / "fused.pth")
    assert loaded.fused and count_params(loaded) == 273_117
    assert torch.equal(outputs(loaded), outputs(fused))


def test_missing_file(tmp_path):
    with pytest.raises(ReportedError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "absent.pth")


def test_corrupt_file(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"PK\x03\x04 definitely not a zip archive")
    with pytest.raises(ReportedError, match="bad.pth: not a readable checkpoint"):
        load_checkpoint(tmp_path / "bad.pth")


def test_foreign_checkpoint(tmp_path):
    torch.save(build_model("frvsr").state_dict(), tmp_path / "raw.pth")
    with pytest.raises(ReportedError, match="not a repvsr-deploy checkpoint"):
        load_checkpoint(tmp_path / "raw.pth")


def test_checkpoint_of_another_model(tmp_path):
    save_checkpoint(build_model("repvsr"), tmp_path / "repvsr.pth")
    with pytest.raises(ReportedError, match="holds a 'repvsr' checkpoint, not 'frvsr'"):
        load_checkpoint(tmp_path / "repvsr.pth", expect_model="frvsr")


def test_weights_that_do_not_fit(tmp_path):
    model = build_model("repvsr")
    save_checkpoint(model, tmp_path / "ckpt.pth")
    payload = torch.load(tmp_path / "ckpt.pth", weights_only=True)
    payload["config"] = {"sr_width": 16}
    torch.save(payload, tmp_path / "ckpt.pth")
    with pytest.raises(ReportedError, match="weights do not fit model 'repvsr'"):
        load_checkpoint(tmp_path / "ckpt.pth")


def test_unknown_model_and_option():
    with pytest.raises(ReportedError, match=re.escape(f"unknown model 'vsrnet' (known: {', '.join(model_names())})")):
        build_model("vsrnet")
    with pytest.raises(ReportedError, match="model 'repvsr' has no option \\['width'\\]"):
        build_model("repvsr", width=3)


def test_a_model_built_directly_has_its_registry_name():
    from repvsr_deploy.models.ksnet import KSNetUni

    assert KSNetUni().name == "ksnet-uni"


def test_a_name_is_registered_once():
    from repvsr_deploy.models.registry import register_model

    with pytest.raises(ValueError, match="'repvsr' is already registered"):
        register_model("repvsr")(type("Another", (), {}))
