"""How our models' weights are named in the public code (BasicSR, MMagic): each model that takes
official checkpoints registers an `OfficialWeights` (`@register_model(name, official=...)`), its
rules written beside it; `official.import_official` reads a checkpoint by them.

A rule maps our key (a regex) to its name in (BasicSR, MMagic), from the match's groups. MMagic
wraps many convs in mmcv's ConvModule (".conv.") and names a few modules differently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReportedError

LAYOUTS = ("basicsr", "mmagic")
Rule = tuple[str, Callable[[tuple[str, ...]], tuple[str, str]]]


def same(name: str) -> tuple[str, str]:
    """One name in both layouts."""
    return name, name


def prefixed(prefix: str, rules: list[Rule]) -> list[Rule]:
    """`rules` for a module that sits under `prefix` in ours and theirs alike."""
    return [
        (re.escape(prefix) + pattern, lambda g, name=name: tuple(prefix + n for n in name(g)))
        for pattern, name in rules
    ]


def residual(ours: str, theirs: str) -> Rule:
    """Residual blocks `ours.N.body.{0,2}` = `theirs.N.conv{1,2}` (ResidualBlockNoBN) in both."""
    return (
        re.escape(ours) + r"\.(\d+)\.body\.([02])\.(.*)",
        lambda g: same(f"{theirs}.{g[0]}.conv{int(g[1]) // 2 + 1}.{g[2]}"),
    )


class CheckpointKeys:
    """A checkpoint's tensors, asked for the shapes that give a model's options."""

    def __init__(self, weights: dict, path: Path, architecture: str):
        self.weights, self.path, self.architecture = weights, path, architecture

    def shape(self, *names: str) -> tuple[int, ...]:
        """The shape of the first of `names` the checkpoint has (the layouts name some apart)."""
        for name in names:
            if name in self.weights:
                return tuple(self.weights[name].shape)
        raise ReportedError(f"{self.path}: {self.architecture} checkpoint without {names[0]}")

    def count(self, pattern: str) -> int:
        """How many distinct values the regex's group takes over the keys (blocks, levels)."""
        return len({m.group(1) for key in self.weights if (m := re.fullmatch(pattern, key))})


@dataclass(frozen=True)
class OfficialWeights:
    """How a model takes the public code's checkpoints of `architecture`: the key prefixes only they
    have, the rules that name each of our weights in theirs, and our model's options read off the
    checkpoint's shapes."""

    architecture: str
    marks: tuple[str, ...]
    rules: list[Rule]
    options: Callable[[CheckpointKeys], dict]
