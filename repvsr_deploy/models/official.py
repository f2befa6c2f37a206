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
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import ReportedError, parameter
from .base import VSRModel
from .checkpoint import FORMAT, read_weights_only
from .official_names import LAYOUTS, CheckpointKeys, OfficialWeights, Rule, prefixed
from .registry import build_model, model_class, model_names
from .spynet import SPYNET_CONSTANTS, SPYNET_RULES, SpyNet

# a SpyNet checkpoint goes into the SpyNet of a model that has one
SPYNET = OfficialWeights("spynet", ("basic_module.",), SPYNET_RULES, lambda keys: {})


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
    name, official = _architecture(weights, path)
    if official is SPYNET:
        if into is None:
            raise ReportedError(
                f"{path}: a SpyNet checkpoint; name the model whose SpyNet gets it ({parameter('into')})"
            )
        torch.manual_seed(seed)
        model = build_model(into)
        if not isinstance(getattr(model, "spynet", None), SpyNet):
            raise ReportedError(f"model '{into}' has no SpyNet for {path} to go into")
        rules, scope = prefixed("spynet.", SPYNET_RULES), "spynet."
        weights = {f"spynet.{k}": v for k, v in weights.items()}
    else:
        if into is not None:
            raise ReportedError(
                f"{path}: a whole {official.architecture} checkpoint; {parameter('into')} is for SpyNet checkpoints only"
            )
        model = build_model(name, **official.options(CheckpointKeys(weights, path, official.architecture)))
        rules, scope = official.rules, ""
    layout = _load_mapped(model, scope, weights, rules, path)
    return Imported(model.eval(), official.architecture, layout, source_key, len(weights))


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


def _architecture(weights: dict, path: Path) -> tuple[str | None, OfficialWeights]:
    """(our registry model, how it takes them) for the checkpoint's keys, by the marks each
    registered model's `OfficialWeights` gives (SpyNet's: no model of its own)."""
    known = [(name, model_class(name).official_weights) for name in model_names()]
    known = [(name, official) for name, official in known if official] + [(None, SPYNET)]
    for name, official in known:
        if any(key.startswith(official.marks) for key in weights):
            return name, official
    names = ", ".join(official.architecture for _, official in known)
    raise ReportedError(
        f"{path}: none of the official weights known here ({names}); its first key: {next(iter(weights))}"
    )


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
