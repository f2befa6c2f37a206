"""Self-describing checkpoints: a plain dict that `torch.load(..., weights_only=True)` reads.

{"format", "model", "config", "fused", "version", "state_dict"}: enough to rebuild the model
by name, in training or deploy form, with no code from the file itself.
"""

import errno
import pickle
import shutil
import warnings
from pathlib import Path

import torch

from .. import __version__
from ..atomic import atomic_path
from ..errors import ReportedError, first_sentence
from .base import VSRModel
from .fuse import fuse
from .registry import build_model

FORMAT = "repvsr-deploy/checkpoint-v1"


def save_checkpoint(model: VSRModel, path, training: dict | None = None) -> None:
    """Save a model as a self-describing checkpoint (loads with `torch.load(..., weights_only=True)`).

    Args:
        model: A registry model, fused or not.
        path: The file, written whole or not at all.
        training: What resuming needs (iteration, optimizer state, ...); loading the model ignores it."""
    payload = {
        "format": FORMAT,
        "model": model.name,
        "config": model.config,
        "fused": model.fused,
        "version": __version__,
        "state_dict": model.state_dict(),
        **({"training": training} if training else {}),
    }
    with atomic_path(path) as tmp:
        try:
            torch.save(payload, tmp)
        except RuntimeError:  # torch's zip writer says "unexpected pos" where the disk is full
            if shutil.disk_usage(tmp.parent).free < 2**20:
                raise OSError(errno.ENOSPC, "No space left on device", str(path)) from None
            raise


def load_checkpoint(path, expect_model: str | None = None) -> VSRModel:
    """The model a checkpoint describes.

    Args:
        path: A checkpoint `save_checkpoint` or `repvsr-train` wrote.
        expect_model: The registry name it must hold (a guard against the wrong file).

    Returns:
        The model, in eval mode.

    Raises:
        ReportedError: A file that is no checkpoint of ours, or of another model."""
    path = Path(path)
    payload = read_weights_only(path, "checkpoint")
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ReportedError(f"{path}: not a repvsr-deploy checkpoint (no '{FORMAT}' format tag)")
    _check_fields(payload, path)
    if expect_model is not None and payload["model"] != expect_model:
        raise ReportedError(f"{path}: holds a '{payload['model']}' checkpoint, not '{expect_model}'")
    try:
        model = build_model(payload["model"], **payload["config"])
    except ReportedError as exc:
        raise ReportedError(f"{path}: {exc}") from None
    if payload["fused"]:
        model = fuse(model)
    mismatch = _state_dict_mismatch(model.state_dict(), payload["state_dict"])
    if mismatch:
        raise ReportedError(f"{path}: weights do not fit model '{payload['model']}' ({mismatch})")
    model.load_state_dict(payload["state_dict"])
    return model.eval()


def _check_fields(payload: dict, path: Path) -> None:
    """Each field of the kind `save_checkpoint` writes: the file is the user's, not ours."""
    kinds = {"model": str, "config": dict, "fused": bool, "state_dict": dict}
    for key, kind in kinds.items():
        if not isinstance(payload.get(key), kind):
            raise ReportedError(f"{path}: its '{key}' is {type(payload.get(key)).__name__}, not {kind.__name__}")
    if not all(isinstance(key, str) for key in payload["config"]):
        raise ReportedError(f"{path}: its 'config' has keys that are not option names")


def read_weights_only(path: Path, what: str):
    """The object in a torch file, loaded with weights_only=True (no code from the file runs);
    ReportedError naming `path` as a `what` if it is missing or unreadable."""
    if not path.is_file():
        raise ReportedError(f"{path}: no such {what} file")
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols on the way to failing
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise ReportedError(
            f"{path}: not a readable {what} (it does not load with weights_only=True: "
            "corrupt, or it holds code rather than weights)"
        ) from None
    except Exception as exc:  # a corrupt file also fails in zipfile or torch, each its own way
        # some of those errors say only a number (a KeyError of the pickle stream): name the kind then
        reason = first_sentence(exc) if not isinstance(exc, (KeyError, IndexError)) else "corrupt or not a torch file"
        raise ReportedError(f"{path}: not a readable {what} ({reason})") from None


def _state_dict_mismatch(expected: dict, given: dict) -> str:
    """'' if `given` fits `expected`, else what differs, with one example."""
    missing = sorted(expected.keys() - given.keys())
    unexpected = sorted(given.keys() - expected.keys())
    reshaped = sorted(k for k in expected.keys() & given.keys() if expected[k].shape != given[k].shape)
    problems = [
        f"{len(keys)} {what}, e.g. {keys[0]}"
        for keys, what in ((missing, "missing"), (unexpected, "unexpected"), (reshaped, "of another shape"))
        if keys
    ]
    return "; ".join(problems)


# what `repvsr-train` stores as its training state, and of which kind
TRAINING_FIELDS = {
    "iteration": int,
    "iterations": int,
    "recipe": str,
    "optimizer": dict,
    "scaler": dict,
    "samples": int,
    "random": list,
    "settings": dict,
}


def load_training_state(path) -> dict:
    """What `save_checkpoint(..., training=...)` stored beside the weights, for resuming; {} if none.
    Each field of its kind (the file is the user's), the optimizer's options numbers."""
    path = Path(path)
    state = read_weights_only(path, "checkpoint").get("training") or {}
    if not isinstance(state, dict):
        raise ReportedError(f"{path}: its training state is {type(state).__name__}, not dict")
    for key, kind in TRAINING_FIELDS.items():
        value = state.get(key)
        if key in state and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ReportedError(f"{path}: its training state's '{key}' is {type(value).__name__}, not {kind.__name__}")
    if not isinstance(state.get("best_psnr"), (float, int, type(None))):
        raise ReportedError(f"{path}: its training state's 'best_psnr' is not a number")
    if state.get("iteration", 0) < 0 or state.get("iterations", 1) < 1 or state.get("samples", 0) < 0:
        raise ReportedError(
            f"{path}: its training state counts {state.get('iteration')} of {state.get('iterations')} iterations"
        )
    optimizer = state.get("optimizer", {})
    for group in optimizer.get("param_groups", []):
        options = {k: v for k, v in group.items() if k != "params"} if isinstance(group, dict) else {"group": group}
        if not all(_is_number_like(v) for v in options.values()):
            raise ReportedError(f"{path}: its optimizer state has options that are not numbers ({options})")
    moments = optimizer.get("state", {})
    if not isinstance(moments, dict) or not all(
        isinstance(m, dict) and all(isinstance(t, torch.Tensor) for t in m.values()) for m in moments.values()
    ):
        raise ReportedError(f"{path}: its optimizer state holds values that are not tensors")
    return state


def _is_number_like(value) -> bool:
    """A number, flag, None, or a tuple or list of numbers (Adam's betas)."""
    if isinstance(value, (tuple, list)):
        return all(isinstance(v, (int, float)) for v in value)
    return value is None or isinstance(value, (int, float, bool))
