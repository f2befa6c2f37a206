"""Models created by name; a model's defaults are its constructor's, next to its class (as in timm)."""

import inspect
from typing import Callable

from ..errors import ReportedError
from .base import VSRModel

_FACTORIES: dict[str, Callable[..., VSRModel]] = {}


def register_model(name: str):
    """Decorator on a VSRModel class (or factory): `build_model(name, **overrides)` calls it."""

    def register(factory):
        if name in _FACTORIES:  # two models under one name: checkpoints would load the wrong one
            raise ValueError(f"model name '{name}' is already registered, by {_FACTORIES[name].__qualname__}")
        _FACTORIES[name] = factory
        factory.registered_name = name
        return factory

    return register


def model_names() -> list[str]:
    return sorted(_FACTORIES)


def build_model(name: str, **overrides) -> VSRModel:
    """The named model with its preset, changed by `overrides` (which a checkpoint records)."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ReportedError(f"unknown model '{name}' (known: {', '.join(model_names())})")
    try:
        inspect.signature(factory).bind(**overrides)
    except TypeError:
        options = ", ".join(inspect.signature(factory).parameters) or "none"
        raise ReportedError(
            f"model '{name}' has no option {sorted(overrides)} (its options: {options})"
        ) from None
    model = factory(**overrides)
    model.name = name
    model.config = {key: list(v) if isinstance(v, tuple) else v for key, v in overrides.items()}
    return model
