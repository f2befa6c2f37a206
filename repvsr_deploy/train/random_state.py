"""Every random stream of a training process, as plain values a checkpoint keeps (weights_only
loads them): torch's (CPU and each GPU), NumPy's global one and Python's. The clips draw from
streams of their own, a function of the sample number (`clips`), so none of these decides them;
they are kept so that nothing a resumed run draws differs from the run it continues."""

from __future__ import annotations

import random

import numpy as np
import torch


def capture() -> dict:
    numpy_state = np.random.get_state(legacy=False)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": numpy_state["state"]["pos"],
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        },
        "python": _as_lists(random.getstate()),
    }


def restore(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": numpy_state["key"].numpy().astype(np.uint32), "pos": numpy_state["pos"]},
            "has_gauss": numpy_state["has_gauss"],
            "gauss": numpy_state["gauss"],
        }
    )
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def _as_lists(value):
    return [_as_lists(v) for v in value] if isinstance(value, tuple) else value
