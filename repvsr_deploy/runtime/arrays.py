"""Arrays crossing a backend's boundary: what goes in, in the graph's types, and what comes out, on
the host. Frames of an integer-io graph (`ModelInfo.io`) are levels both ways; the rest is float."""

from __future__ import annotations

import numpy as np


def backend_input(array: np.ndarray, float_dtype) -> np.ndarray:
    """Integer levels (a frame for a graph that takes them) as they are; float in the graph's precision."""
    return array if array.dtype.kind in "ui" else array.astype(float_dtype, copy=False)


def host_array(array: np.ndarray) -> np.ndarray:
    """An output on the host: float as float32 (an fp16 graph's too), integer levels as they are."""
    return array if array.dtype.kind in "ui" else array.astype(np.float32, copy=False)
