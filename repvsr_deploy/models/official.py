"""Official weights in: BasicSR and MMagic checkpoints of BasicVSR, EDVR and SpyNet mapped onto
this toolkit's models, name by name.

A BasicSR checkpoint holds {"params": ..., "params_ema": ...}; an MMagic (mmcv) one {"state_dict":
...} whose generator's keys start with "generator.". A key maps only if its name and shape are the
ones our model has for it: the mapping is total both ways or nothing is imported. BasicSR's and
MMagic's networks compute the same functions as ours (BasicVSR: zero-padded feature warps; EDVR:
the centre frame of five as reference, hence `centred=True`). SpyNet alone goes into the SpyNet
of a model that has one (BasicVSR, KSNet), the rest of that model as initialised.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ReportedError, parameter
from .base import VSRModel
from .checkpoint import FORMAT, read_weights_only
from .registry import build_model
from .spynet import SpyNet

LAYOUTS = ("basicsr", "mmagic")
# Our key (a regex) -> its name in (BasicSR, MMagic), from the match's groups. MMagic wraps many
# convs in mmcv's ConvModule (".conv.") and names a few modules differently.
Rule = tuple[str, Callable[[tuple[str, ...]], tuple[str, str]]]


def _same(name: str) -> tuple[str, str]:
    return name, name


SPYNET_RULES: list[Rule] = [
    (
        r"levels\.(\d+)\.layers\.(\d+)\.(weight|bias)",  # layers 0, 2, 4, 6, 8: the convs between ReLUs
        lambda g: (
            f"basic_module.{g[0]}.basic_module.{g[1]}.{g[2]}",
            f"basic_module.{g[0]}.basic_module.{int(g[1]) // 2}.conv.{g[2]}",
        ),
    ),
]


def _prefixed(prefix: str, rules: list[Rule]) -> list[Rule]:
    return [
        (re.escape(prefix) + pattern, lambda g, name=name: tuple(prefix + n for n in name(g)))
        for pattern, name in rules
    ]


def _residual(ours: str, theirs: str) -> Rule:
    """Residual blocks `ours.N.body.{0,2}` = `theirs.N.conv{1,2}` (ResidualBlockNoBN) in both."""
    return (
        re.escape(ours) + r"\.(\d+)\.body\.([02])\.(.*)",
        lambda g: _same(f"{theirs}.{g[0]}.conv{int(g[1]) // 2 + 1}.{g[2]}"),
    )


BASICVSR_RULES: list[Rule] = [
    *_prefixed("spynet.", SPYNET_RULES),
    (
        r"(backward|forward)_propagation\.0\.(.*)",
        lambda g: (f"{g[0]}_trunk.main.0.{g[1]}", f"{g[0]}_resblocks.main.0.{g[1]}"),
    ),
    (
        r"(backward|forward)_propagation\.(\d+)\.body\.([02])\.(.*)",  # ours: conv, LReLU, blocks 2..; theirs: main.2.N
        lambda g: (
            f"{g[0]}_trunk.main.2.{int(g[1]) - 2}.conv{int(g[2]) // 2 + 1}.{g[3]}",
            f"{g[0]}_resblocks.main.2.{int(g[1]) - 2}.conv{int(g[2]) // 2 + 1}.{g[3]}",
        ),
    ),
    (r"upsample\.fusion\.(.*)", lambda g: _same(f"fusion.{g[0]}")),
    (r"upsample\.up(\d)\.(.*)", lambda g: (f"upconv{g[0]}.{g[1]}", f"upsample{g[0]}.upsample_conv.{g[1]}")),
    (r"upsample\.hr\.(.*)", lambda g: _same(f"conv_hr.{g[0]}")),
    (r"upsample\.last\.(.*)", lambda g: _same(f"conv_last.{g[0]}")),
]

EDVR_RULES: list[Rule] = [
    (r"extract\.head\.(.*)", lambda g: _same(f"conv_first.{g[0]}")),
    _residual("extract.blocks", "feature_extraction"),
    (
        r"extract\.down\.([01])\.([02])\.(.*)",  # pyramid levels 2 and 3, each a stride-2 conv then a conv
        lambda g: (
            f"conv_l{int(g[0]) + 2}_{int(g[1]) // 2 + 1}.{g[2]}",
            f"feat_l{int(g[0]) + 2}_conv{int(g[1]) // 2 + 1}.conv.{g[2]}",
        ),
    ),
    (
        r"align\.levels\.(\d)\.offset(\d)\.(.*)",
        lambda g: (
            f"pcd_align.offset_conv{g[1]}.l{int(g[0]) + 1}.{g[2]}",
            f"pcd_alignment.offset_conv{g[1]}.l{int(g[0]) + 1}.conv.{g[2]}",
        ),
    ),
    (
        r"align\.levels\.(\d)\.merge\.(.*)",
        lambda g: (
            f"pcd_align.feat_conv.l{int(g[0]) + 1}.{g[1]}",
            f"pcd_alignment.feat_conv.l{int(g[0]) + 1}.conv.{g[1]}",
        ),
    ),
    (
        r"align\.levels\.(\d)\.dcn\.dcn\.(.*)",
        lambda g: (f"pcd_align.dcn_pack.l{int(g[0]) + 1}.{g[1]}", f"pcd_alignment.dcn_pack.l{int(g[0]) + 1}.{g[1]}"),
    ),
    (
        r"align\.levels\.(\d)\.dcn\.offset_mask\.(.*)",
        lambda g: (
            f"pcd_align.dcn_pack.l{int(g[0]) + 1}.conv_offset.{g[1]}",
            f"pcd_alignment.dcn_pack.l{int(g[0]) + 1}.conv_offset.{g[1]}",
        ),
    ),
    (
        r"align\.cascade_offset(\d)\.(.*)",
        lambda g: (f"pcd_align.cas_offset_conv{g[0]}.{g[1]}", f"pcd_alignment.cas_offset_conv{g[0]}.conv.{g[1]}"),
    ),
    (
        r"align\.cascade_dcn\.dcn\.(.*)",
        lambda g: (f"pcd_align.cas_dcnpack.{g[0]}", f"pcd_alignment.cas_dcnpack.{g[0]}"),
    ),
    (
        r"align\.cascade_dcn\.offset_mask\.(.*)",
        lambda g: (f"pcd_align.cas_dcnpack.conv_offset.{g[0]}", f"pcd_alignment.cas_dcnpack.conv_offset.{g[0]}"),
    ),
    (r"fuse_frames\.embed_reference\.(.*)", lambda g: _same(f"fusion.temporal_attn1.{g[0]}")),
    (r"fuse_frames\.embed\.(.*)", lambda g: _same(f"fusion.temporal_attn2.{g[0]}")),
    (r"fuse_frames\.fusion\.(.*)", lambda g: (f"fusion.feat_fusion.{g[0]}", f"fusion.feat_fusion.conv.{g[0]}")),
    (r"fuse_frames\.attn5\.(.*)", lambda g: _same(f"fusion.spatial_attn5.{g[0]}")),  # no activation: a plain conv
    (
        r"fuse_frames\.attn(\d)\.(.*)",
        lambda g: (f"fusion.spatial_attn{g[0]}.{g[1]}", f"fusion.spatial_attn{g[0]}.conv.{g[1]}"),
    ),
    (
        r"fuse_frames\.level(\d)\.(.*)",
        lambda g: (f"fusion.spatial_attn_l{g[0]}.{g[1]}", f"fusion.spatial_attn_l{g[0]}.conv.{g[1]}"),
    ),
    (
        r"fuse_frames\.add1\.(.*)",
        lambda g: (f"fusion.spatial_attn_add1.{g[0]}", f"fusion.spatial_attn_add1.conv.{g[0]}"),
    ),
    (r"fuse_frames\.add2\.(.*)", lambda g: _same(f"fusion.spatial_attn_add2.{g[0]}")),
    _residual("reconstruction", "reconstruction"),
    (r"up(\d)\.(.*)", lambda g: (f"upconv{g[0]}.{g[1]}", f"upsample{g[0]}.upsample_conv.{g[1]}")),
    (r"hr\.(.*)", lambda g: _same(f"conv_hr.{g[0]}")),
    (r"last\.(.*)", lambda g: _same(f"conv_last.{g[0]}")),
]

# SpyNet's input normalisation, a buffer in the public code (saved in its checkpoints), a constant in ours
SPYNET_CONSTANTS = {"spynet.mean": (0.485, 0.456, 0.406), "spynet.std": (0.229, 0.224, 0.225)}


@dataclass(frozen=True)
class Imported:
    model: VSRModel
    architecture: str  # basicvsr, edvr or spynet
    layout: str  # basicsr or mmagic
    source_key: str  # where in the file the weights were: params, params_ema, state_dict, or "" (bare)
    tensors: int


def import_official(path, into: str | None = None, key: str | None = None, seed: int = 0) -> Imported:
    """The model the official checkpoint at `path` holds. `into`: for a SpyNet checkpoint, the
    registry model whose SpyNet gets it (its other weights initialised from `seed`). `key`: the
    BasicSR entry to read (default params_ema where there is one, else params)."""
    path = Path(path)
    weights, source_key = _weights_of(read_weights_only(path, "checkpoint"), path, key)
    architecture = _architecture(weights, path)
    if architecture == "spynet":
        if into is None:
            raise ReportedError(
                f"{path}: a SpyNet checkpoint; name the model whose SpyNet gets it ({parameter('into')})"
            )
        torch.manual_seed(seed)
        model = build_model(into)
        if not isinstance(getattr(model, "spynet", None), SpyNet):
            raise ReportedError(f"model '{into}' has no SpyNet for {path} to go into")
        rules, scope = _prefixed("spynet.", SPYNET_RULES), "spynet."
        weights = {f"spynet.{k}": v for k, v in weights.items()}
    else:
        if into is not None:
            raise ReportedError(
                f"{path}: a whole {architecture} checkpoint; {parameter('into')} is for SpyNet checkpoints only"
            )
        name, config = _model_and_config(architecture, weights, path)
        model = build_model(name, **config)
        rules, scope = (BASICVSR_RULES if architecture == "basicvsr" else EDVR_RULES), ""
    layout = _load_mapped(model, scope, weights, rules, path)
    return Imported(model.eval(), architecture, layout, source_key, len(weights))


def _weights_of(payload, path: Path, key: str | None) -> tuple[dict, str]:
    """The network's tensors in a BasicSR, MMagic or bare state dict, and the entry they came from."""
    if not isinstance(payload, dict):
        raise ReportedError(f"{path}: not a BasicSR or MMagic checkpoint (it holds a {type(payload).__name__})")
    if payload.get("format") == FORMAT:
        raise ReportedError(f"{path}: already a repvsr-deploy checkpoint; use it as it is")
    if key is not None and key not in payload:
        raise ReportedError(f"{path}: has no '{key}' entry (it has: {', '.join(map(str, payload)) or 'none'})")
    found = key or next((k for k in ("params_ema", "params", "state_dict") if k in payload), "")
    weights = payload[found] if found else payload
    if not isinstance(weights, dict) or not weights or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ReportedError(f"{path}: no state dict of tensors under '{found or 'the top level'}'")
    if found == "state_dict" and any(k.startswith("generator.") for k in weights):  # MMagic: the editor's generator
        weights = {k[len("generator.") :]: v for k, v in weights.items() if k.startswith("generator.")}
    return weights, found


def _architecture(weights: dict, path: Path) -> str:
    keys = list(weights)
    if any(k.startswith(("pcd_align.", "pcd_alignment.")) for k in keys):
        return "edvr"
    if any(k.startswith(("backward_trunk.", "backward_resblocks.")) for k in keys):
        return "basicvsr"
    if any(k.startswith("basic_module.") for k in keys):
        return "spynet"
    raise ReportedError(f"{path}: neither BasicVSR, EDVR nor SpyNet weights (first key: {keys[0]})")


def _model_and_config(architecture: str, weights: dict, path: Path) -> tuple[str, dict]:
    """Our registry model and its options, read off the checkpoint's shapes."""

    def shape(*names):
        for name in names:
            if name in weights:
                return weights[name].shape
        raise ReportedError(f"{path}: {architecture} checkpoint without {names[0]}")

    def count(pattern):
        return len({m.group(1) for k in weights if (m := re.fullmatch(pattern, k))})

    if architecture == "basicvsr":
        channels = shape("backward_trunk.main.0.weight", "backward_resblocks.main.0.weight")[0]
        return "basicvsr", {"channels": channels, "blocks": count(r"backward_\w+\.main\.2\.(\d+)\.conv1\.weight")}
    channels, frames_x_channels = (
        shape("conv_first.weight")[0],
        shape("fusion.feat_fusion.weight", "fusion.feat_fusion.conv.weight")[1],
    )
    taps_x_groups = shape("pcd_align.cas_dcnpack.conv_offset.weight", "pcd_alignment.cas_dcnpack.conv_offset.weight")[0]
    return "edvr-m", {
        "channels": channels,
        "frames": frames_x_channels // channels,
        "groups": taps_x_groups // 27,
        "extract_blocks": count(r"feature_extraction\.(\d+)\.conv1\.weight"),
        "reconstruct_blocks": count(r"reconstruction\.(\d+)\.conv1\.weight"),
        "centred": True,
    }


def _load_mapped(model: VSRModel, scope: str, weights: dict, rules: list[Rule], path: Path) -> str:
    """Load `weights` into the weights of `model` whose names start with `scope`, by the layout
    whose names they use; that layout's name."""
    weights = _checked_spynet_constants(weights, path)
    ours = {key: value for key, value in model.state_dict().items() if key.startswith(scope)}
    unruled = [key for key in ours if _names(key, rules) is None]
    if unruled:  # a model changed without its mapping
        raise RuntimeError(f"no rule maps {model.name}'s '{unruled[0]}' to the public names")
    layout = max(LAYOUTS, key=lambda lay: sum(_names(k, rules)[LAYOUTS.index(lay)] in weights for k in ours))
    theirs = {_names(key, rules)[LAYOUTS.index(layout)]: key for key in ours}
    unmapped = [k for k in weights if k not in theirs]
    if unmapped:
        raise ReportedError(
            f"{path}: key '{unmapped[0]}' has no place in model '{model.name}' "
            f"({len(unmapped)} unmapped in all); nothing written"
        )
    missing = [name for name in theirs if name not in weights]
    if missing:
        raise ReportedError(f"{path}: lacks '{missing[0]}' ({len(missing)} weights of model '{model.name}' missing)")
    for name, key in theirs.items():
        if weights[name].shape != ours[key].shape:
            raise ReportedError(
                f"{path}: '{name}' is {list(weights[name].shape)}, model '{model.name}' "
                f"needs {list(ours[key].shape)} for it"
            )
    model.load_state_dict({key: weights[name] for name, key in theirs.items()}, strict=False)
    return layout


def _names(key: str, rules: list[Rule]) -> tuple[str, str] | None:
    for pattern, name in rules:
        if match := re.fullmatch(pattern, key):
            return name(match.groups())
    return None


def _checked_spynet_constants(weights: dict, path: Path) -> dict:
    """`weights` without SpyNet's saved mean and std, once they are the ImageNet ones ours uses."""
    kept = {}
    for name, value in weights.items():
        constant = SPYNET_CONSTANTS.get(name)
        if constant is None:
            kept[name] = value
        elif value.numel() != 3 or not torch.allclose(
            value.flatten().double(), torch.tensor(constant).double(), atol=1e-6
        ):
            raise ReportedError(
                f"{path}: '{name}' is {value.flatten().tolist()}, not the ImageNet {list(constant)} "
                "SpyNet normalises with"
            )
    return kept
