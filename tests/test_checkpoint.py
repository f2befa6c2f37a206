"""Self-describing checkpoints, loadable with weights_only=True, and the registry's errors."""

import re
import textwrap

import pytest
import torch
from helpers import make_nontrivial

from repvsr_deploy import count_params, fuse
from repvsr_deploy.errors import ReportedError
from repvsr_deploy.models import build_model, load_checkpoint, model_names, save_checkpoint

pytestmark = pytest.mark.fast  # the tier `make check` runs


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
    with pytest.raises(ReportedError, match="model 'repvsr' has no option 'width'"):
        build_model("repvsr", width=3)


def test_a_model_built_directly_has_its_registry_name():
    from repvsr_deploy.models.ksnet import KSNetUni

    assert KSNetUni().name == "ksnet-uni"


def test_a_name_is_registered_once():
    from repvsr_deploy.models.registry import register_model

    with pytest.raises(ValueError, match="'repvsr' is already registered"):
        register_model("repvsr")(type("Another", (), {}))


def _hostile_checkpoint(path, config: dict, model="repvsr"):
    """A checkpoint of a few hundred bytes whose config asks for a huge (or broken) model."""
    torch.save(
        {
            "format": "repvsr-deploy/checkpoint-v1",
            "model": model,
            "config": config,
            "fused": False,
            "version": "0",
            "state_dict": {},
        },
        path,
    )
    return path


@pytest.mark.parametrize(
    "config, named",
    [
        ({"sr_blocks": 200000}, "sr_blocks=200000: expected an integer in 0..1024"),
        ({"sr_width": 24000}, "sr_width=24000: expected an integer in 1..1024"),
        ({"sr_width": 1024, "sr_blocks": 64}, "would have 16,463,101,011 parameters"),
        ({"sr_blocks": "3"}, "sr_blocks='3'"),
        ({"flow_widths": {"a": [1]}}, "flow_widths={'a': [1]}: expected 4 integers"),
        ({"flow_widths": [8, 16, True, 64]}, "expected 4 integers"),
    ],
)
def test_a_checkpoint_config_is_bounded_before_anything_is_allocated(tmp_path, config, named):
    ckpt = _hostile_checkpoint(tmp_path / "huge.pth", config)
    assert ckpt.stat().st_size < 2000
    with pytest.raises(ReportedError, match=re.escape(named)):
        load_checkpoint(ckpt)


def test_options_the_model_cannot_be_built_with_are_refused_in_one_line(tmp_path):
    for model, config, named in [
        ("edvr-m", {"groups": 7}, "7 offset groups do not divide 64 channels"),
        ("edvr-m", {"frames": 4, "centred": True}, "an odd number"),
        ("ksnet-uni", {"offset_groups": 5}, "5 offset groups"),
        ("edvr-m", {"centred": 1}, "centred=1: expected true or false"),
    ]:
        with pytest.raises(ReportedError, match=re.escape(named)):
            load_checkpoint(_hostile_checkpoint(tmp_path / "bad.pth", config, model))


def test_every_checkpoint_reader_refuses_a_huge_config_within_little_memory(tmp_path):
    """Each command that reads a checkpoint, run under a 4 GiB address-space limit: the old
    readers built the model first (past 9.7 GiB); now one line, exit 1, nothing written."""
    ckpt = _hostile_checkpoint(tmp_path / "huge.pth", {"sr_blocks": 200000})
    out = tmp_path / "out"
    commands = [
        ("repvsr-export", ckpt, "--onnx", "-o", out / "x.onnx"),
        ("repvsr-upscale", tmp_path / "in", out / "frames", "--ckpt", ckpt),
        ("repvsr-eval", ckpt, "--demo-data"),
        ("repvsr-train", "-o", ckpt, "--resume", "--demo-data", "--iterations", "1"),
        ("repvsr-train", "-o", out / "r.pth", "--init", ckpt, "--demo-data", "--iterations", "1"),
    ]
    (tmp_path / "in").mkdir()
    from PIL import Image

    Image.new("RGB", (40, 40)).save(tmp_path / "in" / "0.png")
    for command, (code, stderr) in zip(commands, _limited(commands)):
        assert code == 1, (command, stderr)
        assert "sr_blocks=200000" in stderr and "internal error" not in stderr, stderr
        assert len(stderr.strip().splitlines()) == 1, stderr
    assert not out.exists() or not any(out.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.pth", "in"] + (["out"] if out.exists() else [])


# Runs each command's main() as `run_cli` does, in one process whose address space is limited to 4 GiB
# (one interpreter importing torch, not one a command)
LIMITED_RUNS = textwrap.dedent("""
    import contextlib, io, json, resource, sys
    from importlib.metadata import entry_points

    resource.setrlimit(resource.RLIMIT_AS, (4 * 2**30, 4 * 2**30))
    results = []
    for argv in json.loads(sys.argv[1]):
        (entry,) = entry_points(group="console_scripts", name=argv[0])
        sys.argv, stderr = argv, io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(stderr):
            try:
                entry.load()()
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
        results.append((code, stderr.getvalue()))
    print(json.dumps(results))
""")


def _limited(commands) -> list[tuple[int, str]]:
    """(exit status, stderr) of each command, run under a 4 GiB address-space limit."""
    import json
    import subprocess
    import sys

    argvs = json.dumps([[str(part) for part in command] for command in commands])
    result = subprocess.run([sys.executable, "-c", LIMITED_RUNS, argvs], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])
