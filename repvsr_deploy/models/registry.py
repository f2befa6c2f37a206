"""Models created by name; a model's defaults are its constructor's, next to its class (as in timm).

Options come from checkpoints, which are user files: `build_model` checks each against the type of
its default and sane bounds, and counts the parameters on the meta device (no memory) before it
allocates any, so that a 1 KB checkpoint cannot ask for 80 GB.
"""

import inspect
from collections.abc import Callable

import torch

from ..errors import ReportedError, first_sentence
from .base import VSRModel
from .official_names import OfficialWeights
from .papers import PaperRows

_FACTORIES: dict[str, Callable[..., VSRModel]] = {}

MAX_OPTION = 1024  # any width, count of blocks, frames or groups
MAX_PARAMETERS = 100_000_000  # 400 MB in float32; the largest model here, EDVR-L, has 20.7 M


def register_model(name: str, paper: PaperRows | None = None, official: OfficialWeights | None = None):
    """Decorator on a VSRModel class (or factory): `build_model(name, **overrides)` calls it.
    `paper`: its rows in the papers' efficiency tables (`papers`), as published; `official`: how it
    takes the public code's checkpoints (`official_names`), where it does."""

    def register(factory):
        if name in _FACTORIES:  # two models under one name: checkpoints would load the wrong one
            raise ValueError(f"model name '{name}' is already registered, by {_FACTORIES[name].__qualname__}")
        _FACTORIES[name] = factory
        factory.registered_name = name
        factory.paper_rows = paper or {}
        factory.official_weights = official
        return factory

    return register


def model_class(name: str):
    """The class (or factory) registered under `name`."""
    if name not in _FACTORIES:
        raise ReportedError(f"unknown model '{name}' (known: {', '.join(model_names())})")
    return _FACTORIES[name]


def model_names() -> list[str]:
    return sorted(_FACTORIES)


def build_model(name: str, **overrides) -> VSRModel:
    """The named model with its preset, in training form (multi-branch blocks).

    Args:
        name: A registry name (`model_names()`): repvsr, ksnet-uni, ksnet-bi, frvsr, ...
        overrides: Its constructor's options to change (a checkpoint records them), each checked
            against the type of its default and sane bounds.

    Returns:
        The model, its weights freshly initialised.

    Raises:
        ReportedError: An unknown name or option, or a model too large to allocate."""
    factory = _FACTORIES.get(name) if isinstance(name, str) else None
    if factory is None:
        raise ReportedError(f"unknown model '{name}' (known: {', '.join(model_names())})")
    _check_options(name, factory, overrides)
    _check_size(name, factory, overrides)
    model = factory(**overrides)
    model.name = name
    model.config = {key: list(v) if isinstance(v, tuple) else v for key, v in overrides.items()}
    return model


def _check_options(name: str, factory, overrides: dict) -> None:
    """Each option one the model has, of its default's type, within bounds."""
    parameters = inspect.signature(factory).parameters
    for key, value in overrides.items():
        if key not in parameters:
            options = ", ".join(parameters) or "none"
            raise ReportedError(f"model '{name}' has no option '{key}' (its options: {options})")
        expected = _option_rule(key, parameters[key].default)
        if not _fits(value, parameters[key].default, 0 if key.endswith("blocks") else 1):
            raise ReportedError(f"model '{name}' option {key}={_shown(value)}: expected {expected}")


def _fits(value, default, low: int) -> bool:
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_OPTION
    if isinstance(default, tuple):
        return (
            isinstance(value, (list, tuple))
            and len(value) == len(default)
            and all(_fits(v, d, low) for v, d in zip(value, default))
        )
    return False  # an option without a plain default is not set from a file


def _option_rule(key: str, default) -> str:
    low = 0 if key.endswith("blocks") else 1
    if isinstance(default, bool):
        return "true or false"
    if isinstance(default, int):
        return f"an integer in {low}..{MAX_OPTION}"
    if isinstance(default, tuple):
        return f"{len(default)} integers in {low}..{MAX_OPTION}"
    return "not settable"


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_size(name: str, factory, overrides: dict) -> None:
    """Refuse options the model cannot be built with, or that make it too big, before allocating."""
    try:
        with torch.device("meta"):
            probe = factory(**overrides)
    except (ValueError, RuntimeError, TypeError, ZeroDivisionError, AssertionError) as exc:
        raise ReportedError(f"model '{name}' cannot be built with {overrides} ({first_sentence(exc)})") from None
    count = sum(t.numel() for t in (*probe.parameters(), *probe.buffers()))
    if count > MAX_PARAMETERS:
        raise ReportedError(
            f"model '{name}' with {overrides} would have {count:,} parameters ({count * 4 / 2**30:.1f} GiB); "
            f"at most {MAX_PARAMETERS:,} are built"
        )
