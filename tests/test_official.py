"""`repvsr-import`: official BasicSR / MMagic checkpoints of BasicVSR, EDVR and SpyNet.

The source checkpoints are built here from the public architectures' key names and shapes (BasicSR's
basicvsr_arch / edvr_arch / spynet_arch, MMagic's basicvsr_net / edvr_net), with random values:
no download. BasicVSR's and SpyNet's public forward passes are restated here on those names, so the
import is checked as a function, not only as a renaming."""

import pytest
import torch
import torch.nn.functional as F
from helpers import run_cli
from official_weights import basicvsr_shapes, edvr_shapes, random_weights, spynet_shapes

from repvsr_deploy.errors import ReportedError
from repvsr_deploy.models import load_checkpoint
from repvsr_deploy.models.official import import_official

MEAN, STD = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

# MMagic's names for BasicSR's, from basicvsr_net.py / edvr_net.py: mmcv ConvModule wraps its conv
# (".conv"), and a few modules are renamed.
MMAGIC_RENAMED = [
    ("backward_trunk.", "backward_resblocks."),
    ("forward_trunk.", "forward_resblocks."),
    ("pcd_align.", "pcd_alignment."),
    ("upconv1.", "upsample1.upsample_conv."),
    ("upconv2.", "upsample2.upsample_conv."),
    ("conv_l2_1.", "feat_l2_conv1.conv."),
    ("conv_l2_2.", "feat_l2_conv2.conv."),
    ("conv_l3_1.", "feat_l3_conv1.conv."),
    ("conv_l3_2.", "feat_l3_conv2.conv."),
]
MMAGIC_CONV_MODULES = (
    "offset_conv1.",
    "offset_conv2.",
    "offset_conv3.",
    "feat_conv.",
    "cas_offset_conv1.",
    "cas_offset_conv2.",
    "feat_fusion.",
    "spatial_attn1.",
    "spatial_attn2.",
    "spatial_attn3.",
    "spatial_attn4.",
    "spatial_attn_l1.",
    "spatial_attn_l2.",
    "spatial_attn_l3.",
    "spatial_attn_add1.",
)


def mmagic_name(name):
    for old, new in MMAGIC_RENAMED:
        name = name.replace(old, new)
    parts = name.split(".")
    if "basic_module" in parts:  # SPyNetBasicModule: ConvModules 0..4 where BasicSR has convs 0, 2, .., 8
        return ".".join([*parts[:-2], str(int(parts[-2]) // 2), "conv", parts[-1]])
    if any(f"{part}." in MMAGIC_CONV_MODULES for part in parts):
        parts.insert(-1, "conv")
    return ".".join(parts)


def save(path, payload):
    torch.save(payload, path)
    return path


def test_mmagic_names_follow_the_public_code():
    assert mmagic_name("pcd_align.offset_conv2.l3.weight") == "pcd_alignment.offset_conv2.l3.conv.weight"
    assert mmagic_name("pcd_align.dcn_pack.l1.conv_offset.bias") == "pcd_alignment.dcn_pack.l1.conv_offset.bias"
    assert mmagic_name("fusion.spatial_attn5.weight") == "fusion.spatial_attn5.weight"
    assert mmagic_name("fusion.spatial_attn_add1.bias") == "fusion.spatial_attn_add1.conv.bias"
    assert (
        mmagic_name("spynet.basic_module.3.basic_module.8.weight") == "spynet.basic_module.3.basic_module.4.conv.weight"
    )
    assert mmagic_name("conv_l3_2.bias") == "feat_l3_conv2.conv.bias"


def placed_by_value(model, weights):
    """Each source tensor found, exactly, as exactly one of the model's tensors (random values are unique)."""
    ours = list(model.state_dict().values())
    for name, value in weights.items():
        hits = [t for t in ours if t.shape == value.shape and torch.equal(t, value)]
        assert len(hits) == 1, name
    return True


@pytest.mark.parametrize("layout", ["basicsr", "mmagic"])
@pytest.mark.parametrize("architecture", ["basicvsr", "edvr"])
def test_every_public_key_maps_once_and_exactly(tmp_path, layout, architecture):
    shapes = basicvsr_shapes(blocks=3) if architecture == "basicvsr" else edvr_shapes(extract=2, reconstruct=3)
    weights = random_weights(shapes)
    if layout == "mmagic":
        payload = {"meta": {}, "state_dict": {f"generator.{mmagic_name(k)}": v for k, v in weights.items()}}
    else:
        payload = {"params": weights}
    imported = import_official(save(tmp_path / "official.pth", payload))
    assert (imported.layout, imported.architecture, imported.tensors) == (layout, architecture, len(weights))
    model = imported.model
    assert sum(t.numel() for t in model.state_dict().values()) == sum(t.numel() for t in weights.values())
    assert placed_by_value(model, weights)
    if architecture == "edvr":
        assert (
            model.config
            == {"channels": 64, "frames": 5, "groups": 8, "extract_blocks": 2, "reconstruct_blocks": 3, "centred": True}
            and model.delay == 2
        )
    else:
        assert model.config == {"channels": 64, "blocks": 3}


def test_full_size_models_keep_the_public_parameter_counts(tmp_path):
    for shapes, expected in ((basicvsr_shapes(), 6_291_311), (edvr_shapes(), 3_300_131)):
        weights = random_weights(shapes)
        model = import_official(save(tmp_path / "w.pth", {"params": weights})).model
        assert sum(p.numel() for p in model.parameters()) == expected == sum(v.numel() for v in weights.values())


# The public BasicVSR and SpyNet forward passes (BasicSR), restated on the checkpoint's names.


def public_flow_warp(x, flow, padding="zeros"):
    _, _, h, w = x.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=x.dtype), torch.arange(w, dtype=x.dtype), indexing="ij")
    vx = 2.0 * (gx + flow[:, 0]) / max(w - 1, 1) - 1.0
    vy = 2.0 * (gy + flow[:, 1]) / max(h - 1, 1) - 1.0
    return F.grid_sample(x, torch.stack((vx, vy), dim=3), "bilinear", padding, align_corners=True)


def public_spynet(p, ref, supp):
    def basic(level, x):
        for i in range(5):
            x = F.conv2d(
                x,
                p[f"basic_module.{level}.basic_module.{2 * i}.weight"],
                p[f"basic_module.{level}.basic_module.{2 * i}.bias"],
                padding=3,
            )
            x = F.relu(x) if i < 4 else x
        return x

    h, w = ref.shape[-2:]
    hf, wf = -(-h // 32) * 32, -(-w // 32) * 32
    ref, supp = (F.interpolate(t, size=(hf, wf), mode="bilinear", align_corners=False) for t in (ref, supp))
    refs, supps = [(ref - MEAN.double()) / STD.double()], [(supp - MEAN.double()) / STD.double()]
    for _ in range(5):
        refs.insert(0, F.avg_pool2d(refs[0], 2, 2))
        supps.insert(0, F.avg_pool2d(supps[0], 2, 2))
    flow = refs[0].new_zeros(1, 2, refs[0].shape[2] // 2, refs[0].shape[3] // 2)
    for level in range(6):
        up = F.interpolate(flow, scale_factor=2, mode="bilinear", align_corners=True) * 2.0
        warped = public_flow_warp(supps[level], up, "border")
        flow = basic(level, torch.cat([refs[level], warped, up], 1)) + up
    flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    return torch.cat([flow[:, :1] * (w / wf), flow[:, 1:] * (h / hf)], 1)


def public_basicvsr(p, x, blocks):
    def trunk(branch, t):
        t = F.leaky_relu(
            F.conv2d(t, p[f"{branch}_trunk.main.0.weight"], p[f"{branch}_trunk.main.0.bias"], padding=1), 0.1
        )
        for i in range(blocks):
            name = f"{branch}_trunk.main.2.{i}"
            r = F.relu(F.conv2d(t, p[f"{name}.conv1.weight"], p[f"{name}.conv1.bias"], padding=1))
            t = t + F.conv2d(r, p[f"{name}.conv2.weight"], p[f"{name}.conv2.bias"], padding=1)
        return t

    def c(name, t, pad=1):
        return F.conv2d(t, p[f"{name}.weight"], p[f"{name}.bias"], padding=pad)

    spynet = {k[len("spynet.") :]: v for k, v in p.items() if k.startswith("spynet.")}
    n = x.shape[1]
    lrelu = lambda t: F.leaky_relu(t, 0.1)  # noqa: E731
    backward, feat = [None] * n, x.new_zeros(1, 64, *x.shape[-2:])
    for i in reversed(range(n)):
        if i < n - 1:
            feat = public_flow_warp(feat, public_spynet(spynet, x[:, i], x[:, i + 1]))
        feat = backward[i] = trunk("backward", torch.cat([x[:, i], feat], 1))
    out, feat = [], torch.zeros_like(feat)
    for i in range(n):
        if i > 0:
            feat = public_flow_warp(feat, public_spynet(spynet, x[:, i], x[:, i - 1]))
        feat = trunk("forward", torch.cat([x[:, i], feat], 1))
        y = lrelu(c("fusion", torch.cat([backward[i], feat], 1), 0))
        y = lrelu(F.pixel_shuffle(c("upconv1", y), 2))
        y = lrelu(F.pixel_shuffle(c("upconv2", y), 2))
        y = c("conv_last", lrelu(c("conv_hr", y)))
        out.append(y + F.interpolate(x[:, i], scale_factor=4, mode="bilinear", align_corners=False))
    return torch.stack(out, 1)


@torch.no_grad()
def test_imported_basicvsr_computes_the_public_function(tmp_path):
    weights = random_weights(basicvsr_shapes(blocks=2), seed=3)
    model = import_official(save(tmp_path / "b.pth", {"params": weights})).model.double()
    weights = {name: value.double() for name, value in weights.items()}
    # a moving texture, so that SpyNet's flows and the zero-padded warps both matter
    from repvsr_deploy.clips import moving_clip

    x = torch.from_numpy(moving_clip(4, 40, 36, velocity=(2.5, -1.5))).double()[None]
    expected = public_basicvsr(weights, x, blocks=2)
    assert (model(x) - expected).abs().max() <= 1e-10
    assert (
        public_spynet({k[7:]: v for k, v in weights.items() if k.startswith("spynet.")}, x[:, 1], x[:, 0])
        - model.spynet(x[:, 1], x[:, 0])
    ).abs().max() <= 1e-10


@torch.no_grad()
def test_spynet_alone_goes_into_a_models_spynet(tmp_path):
    weights = random_weights(spynet_shapes())
    source = save(tmp_path / "spynet.pth", {"params": {**weights, "mean": MEAN, "std": STD}})
    imported = import_official(source, into="ksnet-uni", seed=1)
    assert imported.architecture == "spynet"
    assert placed_by_value(imported.model.spynet, weights)
    mmagic = save(tmp_path / "spynet-mm.pth", {"state_dict": {mmagic_name(k): v for k, v in weights.items()}})
    again = import_official(mmagic, into="ksnet-uni", seed=1).model
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), imported.model.state_dict().values()))
    with pytest.raises(ReportedError, match="name the model whose SpyNet gets it"):
        import_official(source)
    with pytest.raises(ReportedError, match="model 'repvsr' has no SpyNet"):
        import_official(source, into="repvsr")
    other = save(tmp_path / "other-mean.pth", {"params": {**weights, "mean": MEAN * 2, "std": STD}})
    with pytest.raises(ReportedError, match="not the ImageNet"):
        import_official(other, into="ksnet-uni")


def test_anything_that_does_not_map_is_refused_naming_the_first_key(tmp_path):
    weights = random_weights(basicvsr_shapes(blocks=2))
    extra = save(tmp_path / "extra.pth", {"params": {**weights, "step_counter": torch.zeros(1)}})
    with pytest.raises(ReportedError, match="key 'step_counter' has no place in model 'basicvsr'"):
        import_official(extra)
    short = dict(weights)
    del short["upconv2.bias"]
    with pytest.raises(ReportedError, match="lacks 'upconv2.bias'"):
        import_official(save(tmp_path / "short.pth", {"params": short}))
    reshaped = {**weights, "conv_last.weight": torch.zeros(3, 64, 5, 5)}
    with pytest.raises(ReportedError, match=r"'conv_last.weight' is \[3, 64, 5, 5\]"):
        import_official(save(tmp_path / "reshaped.pth", {"params": reshaped}))
    with pytest.raises(ReportedError, match="has no 'params_ema' entry"):
        import_official(save(tmp_path / "p.pth", {"params": weights}), key="params_ema")
    with pytest.raises(ReportedError, match=r"none of the official weights known here \(basicvsr, edvr, spynet\)"):
        import_official(save(tmp_path / "x.pth", {"params": {"conv.weight": torch.zeros(1)}}))


def test_params_ema_is_preferred_and_key_chooses(tmp_path):
    plain, ema = random_weights(spynet_shapes(), 1), random_weights(spynet_shapes(), 2)
    source = save(tmp_path / "s.pth", {"params": plain, "params_ema": ema})
    assert import_official(source, into="basicvsr").source_key == "params_ema"
    chosen = import_official(source, into="basicvsr", key="params")
    assert chosen.source_key == "params" and placed_by_value(chosen.model.spynet, plain)


def test_import_command_writes_a_checkpoint_with_every_weight_placed(tmp_path):
    """The user's path: repvsr-import writes a checkpoint of the model with every weight placed (its
    export and sessions: tests/test_centred.py, which exports such a checkpoint); a checkpoint of
    ours is not an official one."""
    weights = random_weights(edvr_shapes(c=16, groups=2, extract=1, reconstruct=1))
    save(tmp_path / "EDVR_M.pth", {"params": weights})
    result = run_cli("repvsr-import", tmp_path / "EDVR_M.pth", "-o", tmp_path / "edvr.pth")
    assert result.returncode == 0, result.stderr
    assert "edvr-m" in result.stdout and "centred" in result.stdout
    model = load_checkpoint(tmp_path / "edvr.pth")
    assert model.delay == 2 and placed_by_value(model, weights)

    refused = run_cli("repvsr-import", tmp_path / "edvr.pth", "-o", tmp_path / "again.pth")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and not (tmp_path / "again.pth").exists()
